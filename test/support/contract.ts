import { sql } from 'kysely';
import request from 'supertest';
import { TENANT_DATA_TABLES } from '../../src/data-plane/memory/tenant-data.repository';
import { startTestService, type TestService } from './service';

/**
 * The harness of the memory-contract suite (test/e2e/contract/*.e2e-spec.ts): a real service on a
 * database of its own (PostgreSQL with TEST_DATABASE_URL, else PGlite), two tenants, and API keys
 * of every kind the contract's identity rules distinguish. Uses the open core's deterministic
 * embedder (EMBEDDING_PROVIDER=fake) so similarities are the spec's, unless told otherwise.
 */
export const TENANT = 'contract-a';
export const OTHER_TENANT = 'contract-b';
export const json = { 'Content-Type': 'application/json' };

export type KeyName =
  /** tenant-wide, both scopes, no agent or team */
  | 'plain'
  /** bound to agent `agent-a` */
  | 'agentA'
  /** bound to agent `agent-b` */
  | 'agentB'
  /** bound to team `team-x` only */
  | 'teamX'
  /** memory:read only */
  | 'readOnly'
  /** memory:write only */
  | 'writeOnly'
  /** bound to project `contract-a-p1` of the tenant */
  | 'project'
  /** the other tenant's tenant-wide key */
  | 'other';

export interface ContractEnv {
  readonly t: TestService;
  readonly api: ReturnType<typeof request>;
  readonly keys: Readonly<Record<KeyName, string>>;
  /** Headers for a call with this key (x-api-key and JSON). */
  as(key: KeyName): Record<string, string>;
  /** Rows in every data-plane table (all tenants): a refused request must leave these unchanged. */
  counts(): Promise<Record<string, number>>;
  /** Poll find (include_meta) until every node of these client ids in the scope is `ready`. */
  waitReady(key: KeyName, scope: string, clientIds: readonly string[], timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startContractEnv(options: { env?: Record<string, string> } = {}): Promise<ContractEnv> {
  const t = await startTestService({ env: { EMBEDDING_PROVIDER: 'fake', OUTBOX_POLL_INTERVAL_MS: '50', ...options.env } });
  const api = request(t.url);
  try {
    for (const id of [TENANT, OTHER_TENANT]) await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: id, tier: 'enterprise' }).expect(201);
    await api.post('/v1/admin/control/projects').set(t.auth).set(json).send({ tenant_id: TENANT, project_id: 'contract-a-p1' }).expect(201);
    const mk = async (body: Record<string, unknown>): Promise<string> => (await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send(body).expect(201)).body.api_key as string;
    const keys: Record<KeyName, string> = {
      plain: await mk({ tenant_id: TENANT }),
      agentA: await mk({ tenant_id: TENANT, agent_id: 'agent-a' }),
      agentB: await mk({ tenant_id: TENANT, agent_id: 'agent-b' }),
      teamX: await mk({ tenant_id: TENANT, team_id: 'team-x' }),
      readOnly: await mk({ tenant_id: TENANT, scopes: ['memory:read'] }),
      writeOnly: await mk({ tenant_id: TENANT, scopes: ['memory:write'] }),
      project: await mk({ tenant_id: TENANT, project_id: 'contract-a-p1' }),
      other: await mk({ tenant_id: OTHER_TENANT }),
    };
    const as = (key: KeyName) => ({ 'x-api-key': keys[key], ...json });
    return {
      t,
      api,
      keys,
      as,
      counts: async () => {
        const out: Record<string, number> = {};
        for (const table of TENANT_DATA_TABLES.filter((x) => x !== 'rate_limit_buckets' && x !== 'quota_usage' && x !== 'telemetry_rollups')) {
          const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(table)}`.execute(t.tdb.database.db);
          out[table] = Number(r.rows[0]?.n ?? 0);
        }
        return out;
      },
      waitReady: async (key, scope, clientIds, timeoutMs = 20_000) => {
        const until = Date.now() + timeoutMs;
        for (;;) {
          const statuses = await Promise.all(
            clientIds.map(async (client_id) => {
              const r = await api.post('/v1/memory/find').set(as(key)).send({ scope, client_id, include_meta: true });
              return (r.body.nodes as { embedding_status: string }[] | undefined)?.[0]?.embedding_status;
            }),
          );
          if (statuses.every((s) => s === 'ready')) return;
          if (Date.now() > until) throw new Error(`nodes ${clientIds.join(', ')} of ${scope} not ready: ${statuses.join(', ')}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      },
      stop: () => t.stop(),
    };
  } catch (err) {
    await t.stop();
    throw err;
  }
}

/** The open core's error body: `error` always, `message`, and for validation `issues` with paths; our problem members beside them. */
export function expectContractError(res: request.Response, status: number, code: string): void {
  expect({ status: res.status, error: res.body?.error, type: res.headers['content-type'] }).toEqual({ status, error: code, type: expect.stringMatching(/^application\/json/) });
  expect(res.body).toMatchObject({ code, status, request_id: expect.any(String), message: expect.any(String) });
  expect(res.headers['x-request-id']).toBe(res.body.request_id);
}

/** A body nested `depth` levels deep in `slots`. */
export function deepObject(depth: number): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  let cur = root;
  for (let i = 0; i < depth; i++) cur = (cur.x = {}) as Record<string, unknown>;
  return root;
}

/** A vector of the deployment's dimension (1536 by default) pointing mostly along axis `i`. */
export function axisVector(i: number, dim = 1536, noise = 0): number[] {
  return Array.from({ length: dim }, (_, j) => (j === i ? 1 : noise * Math.sin(j + i)));
}

/** One bad-input case: a name, how to send it, and the status and code it must be refused with. */
export type RefusalCase = readonly [name: string, send: () => PromiseLike<request.Response>, status: number, code: string];

/** Send each case in order; each must be refused with its status and code in the contract's error shape. */
export async function expectEachRefused(cases: readonly RefusalCase[]): Promise<void> {
  for (const [name, send, status, code] of cases) {
    const res = await send();
    expect({ name, status: res.status, error: (res.body as { error?: unknown } | undefined)?.error }).toEqual({ name, status, error: code });
    expectContractError(res, status, code);
  }
}

/**
 * The transport-level mistakes every JSON route refuses the same way, built from a valid body of
 * the route: malformed JSON, a non-object body, a 6 MiB body, nesting 200 levels deep, a NUL
 * character, a non-finite number and NaN (the last four carried in an extra field, which the
 * tolerant reader would otherwise ignore).
 */
export function transportRefusals(env: ContractEnv, path: string, valid: Record<string, unknown>, key: KeyName = 'plain'): RefusalCase[] {
  const send = (body: string | object) => env.api.post(`/v1/memory/${path}`).set(env.as(key)).send(body);
  const withExtra = (literal: string) => `${JSON.stringify(valid).slice(0, -1)},"zz_extra":${literal}}`;
  return [
    ['malformed JSON', () => send(JSON.stringify(valid).slice(0, -1)), 400, 'invalid_request'],
    ['a body that is an array', () => send([valid]), 400, 'invalid_request'],
    ['a 6 MiB body', () => send({ ...valid, zz_extra: 'x'.repeat(6 * 1024 * 1024) }), 413, 'payload_too_large'],
    ['JSON nested 200 levels deep', () => send({ ...valid, zz_extra: deepObject(200) }), 400, 'invalid_request'],
    ['a NUL character', () => send(withExtra('"a\\u0000b"')), 400, 'invalid_request'],
    ['an infinite number', () => send(withExtra('1e999')), 400, 'invalid_request'],
    ['NaN', () => send(withExtra('NaN')), 400, 'invalid_request'],
  ];
}
