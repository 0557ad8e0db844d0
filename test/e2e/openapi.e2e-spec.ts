import request from 'supertest';
import { AlertEvaluator } from '../../src/alerting/alert-evaluator';
import { emptyRollup } from '../../src/data-plane/telemetry/telemetry';
import { TelemetryRepository } from '../../src/data-plane/telemetry/telemetry.repository';
import { authOf, fillPath, label, type OpenApiDocument, operationsOf, responseChecker, successStatus, unresolvedRefs, validateDocument } from '../support/openapi';
import { startTestService, type TestService } from '../support/service';
import { createPgDatabase, usingPostgres } from '../support/test-db';

/**
 * The OpenAPI document at /docs-json: valid for a real OpenAPI validator, complete (every path
 * parameter, security schemes, response and error schemas), and its examples are requests the API
 * accepts: each is sent, in document order, and must get the documented success status.
 */
const json = { 'Content-Type': 'application/json' };
/** Example ids in the document that stand for resources the server names itself (key ids, node ids...). */
const PLACEHOLDERS = {
  key: 'key_0123456789abcdef',
  revokedKey: 'key_fedcba9876543210',
  rule: '00000000-0000-4000-8000-00000000001a',
  decision: '00000000-0000-4000-8000-00000000d001',
  report: 'a'.repeat(64),
  /** The SLO statement examples' month: this month (a fixed one would leave the telemetry retention). */
  month: '2026-11',
  alert: '00000000-0000-4000-8000-0000000a1e27',
} as const;
/** Operations whose example cannot be written out in the document (the reason is in the test name). */
const WITHOUT_EXAMPLE = new Set(['POST /v1/memory/recall']);
/**
 * Dedicated shards need PostgreSQL: on PostgreSQL the examples' shard `dedicated-1` is a real second
 * database (SHARD_URLS); on the embedded database these operations answer 422 shards_not_supported
 * (or 404 for a shard never registered), which shards.e2e-spec.ts tests.
 */
const POSTGRES_ONLY = new Set(['POST /v1/admin/control/shards', 'POST /v1/admin/control/shards/{shard_id}/drain', 'POST /v1/admin/control/shards/{shard_id}/retire']);

let t: TestService;
let doc: OpenApiDocument;
let shardDb: { url: string; drop: () => Promise<void> } | undefined;

beforeAll(async () => {
  shardDb = usingPostgres() ? await createPgDatabase('shard') : undefined;
  t = await startTestService({ env: { EMBEDDING_PROVIDER: 'fake', OUTBOX_POLL_INTERVAL_MS: '50', ...(shardDb ? { SHARD_URLS: `dedicated-1=${shardDb.url}` } : {}) } });
  doc = (await request(t.url).get('/docs-json').expect(200)).body as OpenApiDocument;
}, 120_000);
afterAll(async () => {
  await t?.stop();
  await shardDb?.drop();
});

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.0 for @seriousme/openapi-schema-validator, and every $ref resolves', () => {
    expect(doc.openapi).toBe('3.0.3');
    const r = validateDocument(doc);
    expect(r.errors).toEqual([]);
    expect(r.valid).toBe(true);
    expect(unresolvedRefs(doc)).toEqual([]);
    expect(JSON.stringify(doc)).not.toMatch(/"\$defs"|"definitions"|"\$schema"/);
  });

  it('the response checker refuses a body that contradicts its schema (the test can fail)', () => {
    const check = responseChecker(doc);
    expect(check({ $ref: '#/components/schemas/Tenant' }, { tenant_id: 'acme' }).length).toBeGreaterThan(0);
    expect(check({ $ref: '#/components/schemas/Problem' }, { type: 'x', title: 't', status: 400, detail: 'd', instance: '/', code: 'validation_failed', request_id: 'r' })).toEqual([]);
  });

  it('the validator refuses a document with the old defects (the test can fail)', () => {
    const broken = JSON.parse(JSON.stringify(doc)) as OpenApiDocument;
    const op = broken.paths['/v1/admin/control/tenants']!.post!;
    (op.requestBody!.content['application/json']!.schema as Record<string, unknown>).$schema = 'https://json-schema.org/draft/2020-12/schema';
    expect(validateDocument(broken).valid).toBe(false);
  });

  it('declares the operator token (opaque bearer or X-Admin-Token) and the API key (x-api-key or bearer) as security schemes', () => {
    const schemes = doc.components.securitySchemes as Record<string, Record<string, string>>;
    expect(schemes.operatorToken).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'opaque' });
    expect(schemes.adminToken).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-Admin-Token' });
    expect(schemes.apiKey).toMatchObject({ type: 'apiKey', in: 'header', name: 'x-api-key' });
    expect(schemes.apiKeyBearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(JSON.stringify(doc)).not.toContain('JWT');
    for (const op of operationsOf(doc)) {
      const expected = op.path.startsWith('/v1/memory/') || op.path === '/v1/auth/whoami' ? 'api_key' : op.path.startsWith('/v1/admin/') ? 'operator' : 'none';
      expect(`${label(op)}: ${authOf(op)}`).toBe(`${label(op)}: ${expected}`);
    }
  });

  it('declares every path parameter, a success response with a schema, and the error body of its surface', () => {
    const ops = operationsOf(doc);
    expect(ops.length).toBeGreaterThanOrEqual(70);
    for (const op of ops) {
      for (const m of op.path.matchAll(/\{([^}]+)\}/g)) {
        expect(`${label(op)} ${m[1]}: ${op.parameters.some((p) => p.in === 'path' && p.name === m[1] && p.required === true)}`).toBe(`${label(op)} ${m[1]}: true`);
      }
      const ok = op.responses[String(successStatus(op))] as { content?: Record<string, { schema?: unknown }> };
      expect(`${label(op)}: ${Object.values(ok.content ?? {}).every((c) => c.schema !== undefined) && ok.content !== undefined}`).toBe(`${label(op)}: true`);
      const errorBody = op.path.startsWith('/v1/memory/') || op.path === '/health' ? '#/components/schemas/ContractError' : '#/components/schemas/Problem';
      const errorType = errorBody.endsWith('Problem') ? 'application/problem+json' : 'application/json';
      const e500 = op.responses['500'] as { content: Record<string, { schema: { $ref: string } }> };
      expect(`${label(op)}: ${e500.content[errorType]?.schema.$ref}`).toBe(`${label(op)}: ${errorBody}`);
    }
  });

  it('documents query parameters (the audit trail filters, list cursors) with their constraints', () => {
    const audit = operationsOf(doc).find((o) => label(o) === 'GET /v1/admin/control/audit-events')!;
    expect(audit.parameters.filter((p) => p.in === 'query').map((p) => p.name)).toEqual(
      expect.arrayContaining(['tenant_id', 'actor_id', 'type', 'resource_type', 'resource_id', 'from', 'to', 'request_id', 'limit', 'cursor']),
    );
    const limit = audit.parameters.find((p) => p.name === 'limit')!;
    expect(limit.schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 1000 });
    expect(audit.parameters.find((p) => p.name === 'cursor')!.schema).toMatchObject({ type: 'string', maxLength: 512 });
  });
});

describe('the documented error bodies', () => {
  it('a 401, 400 and 404 on each surface match the documented error schema of the operation', async () => {
    const check = responseChecker(doc);
    const api = request(t.url);
    const find = (l: string) => operationsOf(doc).find((o) => label(o) === l)!;
    const errorSchema = (l: string, status: number, type: string) => (find(l).responses[String(status)] as { content: Record<string, { schema: unknown }> }).content[type]!.schema;
    const cases: [string, number, string, request.Response][] = [
      ['GET /v1/admin/control/tenants', 401, 'application/problem+json', await api.get('/v1/admin/control/tenants')],
      ['GET /v1/admin/control/tenants', 400, 'application/problem+json', await api.get('/v1/admin/control/tenants?limit=0').set(t.auth)],
      ['GET /v1/admin/control/tenants/{tenant_id}', 404, 'application/problem+json', await api.get('/v1/admin/control/tenants/nobody').set(t.auth)],
      ['POST /v1/memory/find', 401, 'application/json', await api.post('/v1/memory/find').set(json).send({})],
      ['GET /v1/memory/commits', 401, 'application/json', await api.get('/v1/memory/commits')],
    ];
    for (const [l, status, type, res] of cases) {
      expect(`${l} ${res.status} ${String(res.headers['content-type']).split(';')[0]}`).toBe(`${l} ${status} ${type}`);
      expect(`${l}: ${check(errorSchema(l, status, type), res.body).join('; ')}`).toBe(`${l}: `);
    }
  });
});

/** Resources the examples name but the server ids itself, created before the examples run. */
async function seed(api: ReturnType<typeof request>): Promise<{ apiKey: string; ids: Record<string, string> }> {
  const admin = (r: request.Test) => r.set(t.auth).set(json);
  await admin(api.post('/v1/admin/control/tenants')).send({ tenant_id: 'acme', display_name: 'Acme', tier: 'growth' }).expect(201);
  await admin(api.post('/v1/admin/control/tenants')).send({ tenant_id: 'perf-load-1', metadata: { purpose: 'perf' } }).expect(201);
  // The SLO statement examples' tenant: enterprise keeps 90 days of telemetry, so this month is always computable.
  await admin(api.post('/v1/admin/control/tenants')).send({ tenant_id: 'initech', display_name: 'Initech', tier: 'enterprise' }).expect(201);
  for (const project_id of ['acme-web', 'acme-legacy', 'acme-beta']) await admin(api.post('/v1/admin/control/projects')).send({ tenant_id: 'acme', project_id }).expect(201);
  for (const [operator_id, display_name] of [
    ['op_alice', 'Alice'],
    ['op_bob', 'Bob'],
  ]) {
    await admin(api.post('/v1/admin/control/operators')).send({ operator_id, display_name, role: 'operator' }).expect(201);
  }
  await admin(api.post('/v1/admin/control/alert-routes')).send({ route_id: 'oncall', kind: 'webhook', url: 'https://oncall.example/aionis-alerts' }).expect(201);
  const key = (await admin(api.post('/v1/admin/control/api-keys')).send({ tenant_id: 'acme', label: 'seed' }).expect(201)).body as { key: { key_id: string }; api_key: string };
  const other = (await admin(api.post('/v1/admin/control/api-keys')).send({ tenant_id: 'acme', label: 'to revoke' }).expect(201)).body as { key: { key_id: string } };
  const mem = (path: string, body: unknown) => api.post(path).set({ 'x-api-key': key.api_key, ...json }).send(body as object);
  const rule = await mem('/v1/memory/write', {
    scope: 'travel-desk',
    input_text: 'rule',
    memory_lane: 'shared',
    nodes: [{ client_id: 'rule:flights', type: 'rule', text_summary: 'Search flights first', slots: { if: { intent: 'book_flight' }, then: { tool: { prefer: ['search_flights'] } } } }],
  }).expect(200);
  const ruleId = (rule.body as { nodes: { id: string }[] }).nodes[0]!.id;
  const select = await mem('/v1/memory/tools/select', { scope: 'travel-desk', context: { intent: 'book_flight' }, candidates: ['search_flights', 'call_agent'] }).expect(200);
  const decisionId = (select.body as { decision?: { decision_id: string }; decision_id?: string }).decision?.decision_id ?? (select.body as { decision_id: string }).decision_id;
  const report = await admin(api.post('/v1/admin/control/governance/reports')).send({}).expect(201);
  // A real alert (acme's error budget burning), for the example that reads one alert.
  const minute = new Date(Math.floor(Date.now() / 60_000) * 60_000).toISOString();
  await t.service.app.get(TelemetryRepository).addRollup({ tenant: 'acme', project: '', key: 'k', endpoint: 'write', minute, rollup: { ...emptyRollup(), total: 100, status_2xx: 40, status_5xx: 60, latency_sum_ms: 100, buckets: [100, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] } });
  await t.service.app.get(AlertEvaluator).tick();
  let alertId = '';
  for (const end = Date.now() + 15_000; !alertId && Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
    alertId = ((await admin(api.get('/v1/admin/control/alerts')).expect(200)).body as { items: { alert_id: string }[] }).items[0]?.alert_id ?? '';
  }
  return {
    apiKey: key.api_key,
    ids: {
      [PLACEHOLDERS.key]: key.key.key_id,
      [PLACEHOLDERS.revokedKey]: other.key.key_id,
      [PLACEHOLDERS.rule]: ruleId,
      [PLACEHOLDERS.decision]: decisionId,
      [PLACEHOLDERS.report]: (report.body as { id: string }).id,
      [PLACEHOLDERS.month]: new Date().toISOString().slice(0, 7),
      [PLACEHOLDERS.alert]: alertId,
    },
  };
}

describe('the documented examples', () => {
  it('every example request gets its documented status and a body of the documented schema (recall needs an EMBEDDING_DIM vector and has none; on PGlite the shard mutations, which need PostgreSQL)', async () => {
    const check = responseChecker(doc);
    const api = request(t.url);
    const { apiKey, ids } = await seed(api);
    const live = <T>(v: T): T => JSON.parse(Object.entries(ids).reduce((s, [from, to]) => s.split(from).join(to), JSON.stringify(v))) as T;
    const outcomes: string[] = [];
    const missing: string[] = [];
    const skipped = usingPostgres() ? new Set<string>() : POSTGRES_ONLY;
    for (const op of operationsOf(doc)) {
      if (skipped.has(label(op))) continue;
      const params = live(Object.fromEntries(op.parameters.filter((p) => p.in === 'path').map((p) => [p.name, p.example ?? ''])));
      const query = live(Object.fromEntries(op.parameters.filter((p) => p.in === 'query' && p.example !== undefined).map((p) => [p.name, p.example!])));
      const media = op.requestBody?.content['application/json'];
      if ((op.requestBody?.required && media?.example === undefined) || Object.values(params).includes('')) {
        missing.push(label(op));
        continue;
      }
      let r = api[op.method](fillPath(op.path, params)).query(query);
      const auth = authOf(op);
      if (auth === 'operator') r = r.set(t.auth);
      if (auth === 'api_key') r = r.set('x-api-key', apiKey);
      const res = media?.example !== undefined ? await r.set(json).send(live(media.example) as object) : await r;
      outcomes.push(`${label(op)} -> ${res.status}${res.status === successStatus(op) ? '' : ` (documented ${successStatus(op)}): ${JSON.stringify(res.body).slice(0, 300)}`}`);
      const documented = (op.responses[String(successStatus(op))] as { content?: Record<string, { schema: unknown }> }).content?.['application/json']?.schema;
      const problems = documented && res.status === successStatus(op) ? check(documented, res.body) : [];
      if (problems.length > 0) outcomes.push(`${label(op)} body not as documented: ${problems.join('; ')}`);
    }
    expect(missing.filter((m) => !WITHOUT_EXAMPLE.has(m))).toEqual([]);
    expect(outcomes.filter((o) => o.includes('documented'))).toEqual([]);
    expect(outcomes.length).toBe(operationsOf(doc).length - WITHOUT_EXAMPLE.size - skipped.size);
  }, 180_000);
});
