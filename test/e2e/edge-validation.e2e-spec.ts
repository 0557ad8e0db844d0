import fc from 'fast-check';
import request from 'supertest';
import { authOf, fillPath, label, type OpenApiDocument, type Operation, operationsOf, percentEncode } from '../support/openapi';
import { startTestService, type TestService } from '../support/service';

/**
 * No client mistake is a 500: every GET endpoint of the OpenAPI document (so a new one is covered
 * without touching this file) gets random and crafted query values, path values and cursors as an
 * authorised caller; every admin write route refuses a malformed If-Match or Idempotency-Key;
 * a JSON body that is not UTF-8 is a 400 and stores nothing.
 */
const json = { 'Content-Type': 'application/json' };
const RUNS = Number(process.env.FUZZ_RUNS ?? 30);

let t: TestService;
let doc: OpenApiDocument;
let apiKey: string;

const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v), 'utf8').toString('base64url');

/** Cursors as a client could craft them: well-formed base64url of the wrong JSON, NUL bytes, non-numeric or huge positions. */
const CRAFTED_CURSORS = [
  b64({ after: 'a\u0000b' }),
  b64({ after: '' }),
  b64({ after: 'x'.repeat(300) }),
  b64({ after: 42 }),
  b64({ after: 'acme', extra: 1 }),
  b64({ after: '\ud800' }),
  b64({ tx: 'abc', gp: 'x' }),
  b64({ tx: '1', gp: '-1' }),
  b64({ tx: '99999999999999999999', gp: '1' }),
  b64({ tx: '1e3', gp: '1' }),
  b64({ tx: '1\u0000', gp: '2' }),
  b64({ seq: 'NaN' }),
  b64({ seq: '-5' }),
  b64({ seq: '18446744073709551616' }),
  b64({ seq: '1\u0000' }),
  b64([]),
  b64('null'),
  b64('{"after":"a"'),
  Buffer.from([0xc3, 0x28, 0x00, 0xff]).toString('base64url'),
  'not base64!',
  '%00',
  '',
];

/** One query or path value, already percent-encoded for the URL. */
const value = (): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ maxLength: 40 }).map((s) => percentEncode(s)),
    fc.string({ unit: 'binary', maxLength: 20 }).map((s) => percentEncode(s)),
    fc.uint8Array({ maxLength: 24 }).map((b) => percentEncode(b)),
    fc.constantFrom('%00', 'a%00b', '%C3%28', '%FF%FE', '%ED%A0%80', '-1', '0', '1e999', 'NaN', '9'.repeat(40), '%5B%5D', 'true', percentEncode('x'.repeat(3000))),
    fc.constantFrom(...CRAFTED_CURSORS).map((c) => percentEncode(c)),
    fc.oneof(fc.json(), fc.record({ after: fc.string() }), fc.record({ tx: fc.string(), gp: fc.string() }), fc.record({ seq: fc.oneof(fc.string(), fc.integer()) })).map((v) => percentEncode(b64(v))),
  );

interface FuzzRequest {
  readonly path: Record<string, string | null>;
  readonly query: readonly [string, string][];
  readonly accept: string;
}

function requestsFor(op: Operation): fc.Arbitrary<FuzzRequest> {
  const pathParams = op.parameters.filter((p) => p.in === 'path');
  const queryNames = op.parameters.filter((p) => p.in === 'query').map((p) => p.name);
  return fc.record({
    // null: the documented example (a real resource), so the handler runs past the lookup.
    path: fc.record(Object.fromEntries(pathParams.map((p) => [p.name, fc.option(value(), { nil: null, freq: 2 })]))),
    query: fc.array(fc.tuple(fc.oneof(fc.constantFrom(...(queryNames.length > 0 ? queryNames : ['x'])), fc.constantFrom('cursor', 'limit', 'x%00', 'a%5Bb%5D')), value()), { maxLength: 4 }),
    accept: fc.constantFrom('application/json', 'application/x-ndjson', '*/*', 'text/html'),
  });
}

function send(op: Operation, r: FuzzRequest): request.Test {
  const raw = op.path.replace(/\{([^}]+)\}/g, (_m, name: string) => r.path[name] ?? encodeURIComponent(op.parameters.find((p) => p.name === name)?.example ?? 'x'));
  const url = r.query.length > 0 ? `${raw}?${r.query.map(([k, v]) => `${k}=${v}`).join('&')}` : raw;
  let req = request(t.url).get(url).set('Accept', r.accept);
  if (authOf(op) === 'operator') req = req.set(t.auth);
  if (authOf(op) === 'api_key') req = req.set('x-api-key', apiKey);
  return req;
}

beforeAll(async () => {
  t = await startTestService({ env: { EMBEDDING_PROVIDER: 'fake', OUTBOX_POLL_INTERVAL_MS: '50' } });
  const api = request(t.url);
  doc = (await api.get('/docs-json').expect(200)).body as OpenApiDocument;
  await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'acme', tier: 'enterprise' }).expect(201);
  await api.post('/v1/admin/control/projects').set(t.auth).set(json).send({ tenant_id: 'acme', project_id: 'acme-web' }).expect(201);
  apiKey = (await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: 'acme' }).expect(201)).body.api_key as string;
  await api.post('/v1/admin/control/operators').set(t.auth).set(json).send({ operator_id: 'op_alice', display_name: 'Alice', role: 'operator' }).expect(201);
  await api
    .post('/v1/memory/write')
    .set({ 'x-api-key': apiKey, ...json })
    .send({ scope: 'travel-desk', input_text: 'seed', nodes: [{ client_id: 'note:a', type: 'event', text_summary: 'seed' }] })
    .expect(200);
  await api.post('/v1/memory/sessions').set({ 'x-api-key': apiKey, ...json }).send({ scope: 'travel-desk', session_id: 'trip-42', input_text: 'x' }).expect(200);
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

describe('no client mistake is a 5xx', () => {
  it('the NUL-byte and cursor cases of the issue are 400 validation_failed', async () => {
    const api = request(t.url);
    for (const url of [
      '/v1/admin/control/audit-events?actor_id=a%00b',
      '/v1/admin/control/audit-events?resource_id=a%00b',
      '/v1/admin/control/audit-events?request_id=a%00b',
      '/v1/admin/control/evidence?release=a%00b',
      `/v1/admin/control/audit-events?cursor=${b64({ tx: 'abc', gp: 'x' })}`,
      `/v1/admin/control/tenants?cursor=${b64({ after: 'a\u0000b' })}`,
    ]) {
      const res = await api.get(url).set(t.auth);
      expect(`${url} -> ${res.status} ${res.body.code}`).toBe(`${url} -> 400 validation_failed`);
    }
    const ndjson = await api.get(`/v1/admin/control/audit-events?cursor=${b64({ tx: '1\u0000', gp: '1' })}`).set(t.auth).set('Accept', 'application/x-ndjson');
    expect(ndjson.status).toBe(400);
  });

  it('a query parameter on a route that declares none is a 400 (admin), as an unknown one is where a query is declared', async () => {
    const api = request(t.url);
    const undeclared = await api.get('/v1/admin/control/tenants/acme?expand=all').set(t.auth);
    expect(undeclared.status).toBe(400);
    expect(undeclared.body.errors).toEqual([{ field: 'query', message: 'unknown field(s): expand' }]);
    const unknown = await api.get('/v1/admin/control/tenants?expand=all').set(t.auth);
    expect(unknown.body.errors).toEqual([{ field: 'query', message: 'unknown field(s): expand' }]);
    await api.get('/v1/admin/control/tenants/acme').set(t.auth).expect(200);
  });

  it('every list endpoint refuses every crafted cursor with 400 naming query.cursor', async () => {
    const lists = operationsOf(doc).filter((o) => o.method === 'get' && o.parameters.some((p) => p.in === 'query' && p.name === 'cursor'));
    expect(lists.map(label)).toEqual(expect.arrayContaining(['GET /v1/admin/control/tenants', 'GET /v1/admin/control/audit-events', 'GET /v1/memory/commits']));
    for (const op of lists) {
      for (const cursor of CRAFTED_CURSORS.filter((c) => c !== '')) {
        const res = await send(op, { path: {}, query: [['cursor', percentEncode(cursor)]], accept: 'application/json' });
        const fields = ((res.body.errors ?? res.body.issues ?? []) as { field?: string; path?: string }[]).map((e) => e.field ?? e.path);
        expect(`${label(op)} ${cursor} -> ${res.status} ${fields.some((f) => f === 'query.cursor' || f === 'cursor')}`).toBe(`${label(op)} ${cursor} -> 400 true`);
      }
    }
  }, 120_000);

  it('property: random strings, bytes and cursors on every GET endpoint of the document never answer 5xx', async () => {
    const gets = operationsOf(doc).filter((o) => o.method === 'get');
    expect(gets.length).toBeGreaterThanOrEqual(30);
    for (const op of gets) {
      await fc.assert(
        fc.asyncProperty(requestsFor(op), async (r) => {
          const res = await send(op, r);
          if (res.status >= 500) throw new Error(`${label(op)} answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)} for ${JSON.stringify(r)}`);
        }),
        { numRuns: RUNS },
      );
    }
  }, 600_000);
});

describe('command headers on every admin write route', () => {
  const writes = (): Operation[] => operationsOf(doc).filter((o) => o.method !== 'get' && authOf(o) === 'operator');

  it('the document lists If-Match and Idempotency-Key on each of them', () => {
    expect(writes().length).toBeGreaterThanOrEqual(25);
    for (const op of writes()) {
      const headers = op.parameters.filter((p) => p.in === 'header').map((p) => p.name);
      expect(`${label(op)}: ${headers.join(',')}`).toBe(`${label(op)}: If-Match,Idempotency-Key`);
    }
  });

  it.each([
    ['If-Match', 'garbage', 'header.if-match'],
    ['If-Match', '"abc"', 'header.if-match'],
    ['Idempotency-Key', 'has space', 'header.idempotency-key'],
    ['Idempotency-Key', 'x'.repeat(256), 'header.idempotency-key'],
  ])('a malformed %s (%s) is 400 on every one of them, before anything is written', async (header, bad, field) => {
    for (const op of writes()) {
      const params = Object.fromEntries(op.parameters.filter((p) => p.in === 'path').map((p) => [p.name, p.example ?? 'x']));
      const body = op.requestBody?.content['application/json']?.example ?? {};
      const res = await request(t.url)[op.method](fillPath(op.path, params)).set(t.auth).set(json).set(header, bad).send(body as object);
      expect(`${label(op)} -> ${res.status} ${JSON.stringify(res.body.errors)}`).toBe(`${label(op)} -> 400 ${JSON.stringify([{ field, message: field.endsWith('if-match') ? 'not a revision ETag' : 'invalid' }])}`);
    }
  }, 120_000);
});

describe('JSON bodies are UTF-8', () => {
  /** Raw bytes as the body (supertest would serialise a Buffer as JSON). */
  const post = async (path: string, headers: Record<string, string>, body: Buffer) => {
    const res = await fetch(`${t.url}${path}`, { method: 'POST', headers, body });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const invalid = Buffer.concat([Buffer.from('{"tenant_id":"utf8-bad","display_name":"a'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);

  it('invalid UTF-8 is a 400 on the admin API and nothing is created', async () => {
    const api = request(t.url);
    const res = await post('/v1/admin/control/tenants', { ...t.auth, ...json }, invalid);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('invalid_json');
    expect(res.body.detail).toMatch(/UTF-8/);
    await api.get('/v1/admin/control/tenants/utf8-bad').set(t.auth).expect(404);
  });

  it('invalid UTF-8 is a 400 on the memory API (its error shape) and nothing is written', async () => {
    const body = Buffer.concat([Buffer.from('{"scope":"utf8","input_text":"x","nodes":[{"client_id":"n1","type":"event","text_summary":"a'), Buffer.from([0xff, 0xfe]), Buffer.from('"}]}')]);
    const res = await post('/v1/memory/write', { 'x-api-key': apiKey, ...json }, body);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
    expect(res.body.message).toMatch(/UTF-8/);
    const found = await request(t.url).post('/v1/memory/find').set({ 'x-api-key': apiKey, ...json }).send({ scope: 'utf8' }).expect(200);
    expect(found.body.nodes).toEqual([]);
  });

  it('a JSON body declared in another charset is a 415 (UTF-16 was transcoded, an unpaired surrogate silently replaced)', async () => {
    // UTF-16LE of ASCII is also valid UTF-8 (every other byte NUL), so only the charset tells them apart.
    const utf16 = Buffer.concat([Buffer.from('{"tenant_id":"latin","display_name":"a', 'utf16le'), Buffer.from([0x00, 0xd8]), Buffer.from('"}', 'utf16le')]);
    const res = await post('/v1/admin/control/tenants', { ...t.auth, 'Content-Type': 'application/json; charset=utf-16le' }, utf16);
    expect(res.status).toBe(415);
    const latin1 = await post('/v1/admin/control/tenants', { ...t.auth, 'Content-Type': 'application/json; charset=latin1' }, Buffer.from('{"tenant_id":"latin"}', 'latin1'));
    expect(latin1.status).toBe(415);
    await request(t.url).get('/v1/admin/control/tenants/latin').set(t.auth).expect(404);
  });
});
