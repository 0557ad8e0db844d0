import { sql } from 'kysely';
import { API_KEY_USAGE_TABLES, ApiKeyUsageRepository } from '../../control-plane/api-keys/api-key-usage.repository';
import { TENANT_DATA_TABLES, TenantDataRepository } from '../../data-plane/memory/tenant-data.repository';
import { PERF_MARKER } from '../../control-plane/tenants/tenant.domain';
import { tenantStreamId } from '../../control-plane/shared/ids';
import type { Database } from '../../platform/db/database';
import type { CheckResult } from '../checks/check-result';
import { http, type HttpResult, urlOf } from '../preflight/http';
import { assertPerfTarget, newPerfScope, newPerfTenantId, PerfGuardError, type PerfTenantView, type TenantCreation } from './perf-guard';
import { latencyStats, type LatencyStats } from './stats';

/**
 * The core gate's short load run, on an isolated perf tenant and scope it creates and removes
 * itself: create the tenant (`perf-<random>`, metadata {"purpose":"perf"}, enterprise tier so the
 * run is not throttled by a small tier), check it with the perf guard, mint a key, send writes and
 * then recalls (`/v1/memory/recall` with a query vector: the memory path itself, not the
 * embedding provider), revoke the key, tear the tenant down and verify nothing is left.
 */
export interface LoadRunOptions {
  readonly baseUrl: string;
  readonly adminToken: string;
  /** The deployment's database: the guard reads the tenant's creation event, the teardown check counts leftovers. */
  readonly database: Database;
  readonly requests: number;
  readonly concurrency: number;
  readonly timeoutMs: number;
  readonly maxWriteP95Ms: number;
  readonly maxRecallP95Ms: number;
  readonly maxErrorRate: number;
  readonly runId: string;
}

export interface LoadRunReport {
  readonly tenant_id: string;
  readonly scope: string;
  readonly requests_per_kind: number;
  readonly concurrency: number;
  readonly write: LatencyStats | null;
  readonly recall: LatencyStats | null;
  readonly thresholds: { readonly max_write_p95_ms: number; readonly max_recall_p95_ms: number; readonly max_error_rate: number };
  readonly teardown: { readonly attempts: number; readonly removed: unknown[]; readonly leftover_rows: Record<string, number> | null; readonly event_recorded: boolean };
}

const PERF_CHECKS = ['perf_isolation_guard', 'perf_write_p95', 'perf_recall_p95', 'perf_error_rate', 'perf_teardown'] as const;

function fail(name: string, detail: string, sample: unknown[] = []): CheckResult {
  return { name, severity: 'error', pass: false, count: 1, sample: sample.slice(0, 5), detail };
}

function pass(name: string, detail: string): CheckResult {
  return { name, severity: 'error', pass: true, count: 0, sample: [], detail };
}

function problemOf(r: HttpResult): string {
  if (r.error) return r.error;
  const code = (r.body as { code?: unknown } | null)?.code;
  return `HTTP ${r.status}${typeof code === 'string' ? ` ${code}` : ''}`;
}

/** A unit vector of `dim` components that differs per seed (deterministic). */
function vector(seed: number, dim: number): number[] {
  const v: number[] = [];
  let x = (seed * 2654435761) % 4294967296;
  for (let i = 0; i < dim; i++) {
    x = (x * 1664525 + 1013904223) % 4294967296;
    v.push(x / 4294967296 - 0.5);
  }
  const norm = Math.sqrt(v.reduce((a, b) => a + b * b, 0)) || 1;
  return v.map((c) => Math.round((c / norm) * 1e6) / 1e6);
}

/** Run `count` requests with at most `concurrency` in flight; latency and success of each. */
async function load(count: number, concurrency: number, send: (i: number) => Promise<HttpResult>): Promise<{ ms: number; ok: boolean; problem: string | null }[]> {
  const results: { ms: number; ok: boolean; problem: string | null }[] = [];
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const r = await send(i);
      const ok = r.status !== null && r.status >= 200 && r.status < 300;
      results.push({ ms: r.ms, ok, problem: ok ? null : problemOf(r) });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, worker));
  return results;
}

/** The tables the teardown clears (the data plane's and key usage). */
export const PERF_TEARDOWN_TABLES: readonly string[] = [...TENANT_DATA_TABLES, ...API_KEY_USAGE_TABLES];

/** Rows of the tenant still in the tables the teardown clears. */
export async function leftoverRows(database: Database, tenantId: string): Promise<Record<string, number>> {
  return { ...(await new TenantDataRepository(database).count(tenantId)), ...(await new ApiKeyUsageRepository(database).count(tenantId)) };
}

async function creationEvent(database: Database, tenantId: string): Promise<TenantCreation | undefined> {
  const r = await sql<{ type: string; data: TenantCreation['data'] }>`
    SELECT type, data FROM es_events WHERE stream_id = ${tenantStreamId(tenantId)} AND stream_position = 1`.execute(database.db);
  return r.rows[0];
}

export async function runLoad(o: LoadRunOptions): Promise<{ checks: CheckResult[]; report: LoadRunReport }> {
  const admin = { authorization: `Bearer ${o.adminToken}` };
  const tenantId = newPerfTenantId();
  const scope = newPerfScope();
  const checks = new Map<string, CheckResult>();
  const state = { created: false, keyId: null as string | null, write: null as LatencyStats | null, recall: null as LatencyStats | null, stopped: '' };
  const teardown = { attempts: 0, removed: [] as unknown[], leftover_rows: null as Record<string, number> | null, event_recorded: false };

  const run = async (): Promise<void> => {
    // Query and node vectors must have the server's dimension (EMBEDDING_DIM).
    const facts = await http('GET', urlOf(o.baseUrl, '/v1/admin/ops/runtime'), { headers: admin, timeoutMs: o.timeoutMs });
    const dim = (facts.body as { embeddings?: { dimension?: unknown } } | null)?.embeddings?.dimension;
    if (facts.status !== 200 || typeof dim !== 'number') {
      checks.set('perf_isolation_guard', fail('perf_isolation_guard', `could not read the server's embedding dimension from /v1/admin/ops/runtime: ${problemOf(facts)}`));
      state.stopped = "the server's runtime facts could not be read";
      return;
    }
    const c = await http('POST', urlOf(o.baseUrl, '/v1/admin/control/tenants'), {
      headers: admin,
      body: { tenant_id: tenantId, display_name: `perf run ${o.runId}`, tier: 'enterprise', metadata: { ...PERF_MARKER, run_id: o.runId, created_by: 'gate:core:prod' } },
      timeoutMs: o.timeoutMs,
    });
    if (c.status !== 201) {
      checks.set('perf_isolation_guard', fail('perf_isolation_guard', `could not create the perf tenant ${tenantId}: ${problemOf(c)}`));
      state.stopped = 'the perf tenant could not be created';
      return;
    }
    state.created = true;

    // The guard: before any load, the tenant must be a perf tenant by the read model AND by its creation event.
    const g = await http('GET', urlOf(o.baseUrl, `/v1/admin/control/tenants/${tenantId}`), { headers: admin, timeoutMs: o.timeoutMs });
    const view = g.status === 200 ? (g.body as PerfTenantView) : undefined;
    try {
      assertPerfTarget({ tenantId, scope, view, creation: await creationEvent(o.database, tenantId) });
      checks.set('perf_isolation_guard', pass('perf_isolation_guard', `tenant ${tenantId} (created for perf: read model and TenantCreated event) and scope ${scope}`));
    } catch (err) {
      if (!(err instanceof PerfGuardError)) throw err;
      checks.set('perf_isolation_guard', fail('perf_isolation_guard', `refused: ${err.message}`, [{ reason: err.reason, tenant_id: tenantId, scope }]));
      state.stopped = 'the perf guard refused the target';
      return;
    }

    const k = await http('POST', urlOf(o.baseUrl, '/v1/admin/control/api-keys'), {
      headers: admin,
      body: { tenant_id: tenantId, label: `perf run ${o.runId}`, scopes: ['memory:read', 'memory:write'] },
      timeoutMs: o.timeoutMs,
    });
    const keyBody = k.body as { api_key?: string; key?: { key_id?: string } } | null;
    if (k.status !== 201 || !keyBody?.api_key || !keyBody.key?.key_id) {
      state.stopped = `no API key for ${tenantId}: ${problemOf(k)}`;
      return;
    }
    state.keyId = keyBody.key.key_id;
    const key = { 'x-api-key': keyBody.api_key };

    const writes = await load(o.requests, o.concurrency, (i) =>
      http('POST', urlOf(o.baseUrl, '/v1/memory/write'), {
        headers: key,
        body: {
          scope,
          input_text: `perf ${o.runId} write ${i}`,
          nodes: [{ client_id: `perf-${i}`, type: 'event', memory_lane: 'shared', title: `perf node ${i}`, text_summary: `load run ${o.runId}, node ${i}`, embedding: vector(i + 1, dim) }],
        },
        timeoutMs: o.timeoutMs,
      }),
    );
    const recalls = await load(o.requests, o.concurrency, (i) =>
      http('POST', urlOf(o.baseUrl, '/v1/memory/recall'), { headers: key, body: { scope, query_embedding: vector(100_000 + i, dim), limit: 10 }, timeoutMs: o.timeoutMs }),
    );
    const write = (state.write = latencyStats(writes));
    const recall = (state.recall = latencyStats(recalls));
    const p95Check = (name: string, what: string, s: LatencyStats, max: number) => {
      const line = `(p50 ${s.p50_ms} ms, p99 ${s.p99_ms} ms, max ${s.max_ms} ms; ${s.count} requests at concurrency ${o.concurrency})`;
      return s.p95_ms !== null && s.p95_ms <= max ? pass(name, `${what} p95 ${s.p95_ms} ms <= ${max} ms ${line}`) : fail(name, `${what} p95 ${s.p95_ms ?? '-'} ms exceeds ${max} ms ${line}`, [s]);
    };
    checks.set('perf_write_p95', p95Check('perf_write_p95', 'write', write, o.maxWriteP95Ms));
    checks.set('perf_recall_p95', p95Check('perf_recall_p95', 'recall', recall, o.maxRecallP95Ms));
    const total = write.count + recall.count;
    const errors = write.errors + recall.errors;
    const rate = errors / Math.max(1, total);
    const byProblem = new Map<string, number>();
    for (const r of [...writes, ...recalls]) if (r.problem) byProblem.set(r.problem, (byProblem.get(r.problem) ?? 0) + 1);
    checks.set(
      'perf_error_rate',
      rate <= o.maxErrorRate
        ? pass('perf_error_rate', `error rate ${rate.toFixed(4)} <= ${o.maxErrorRate} (${errors} of ${total} requests failed)`)
        : { ...fail('perf_error_rate', `error rate ${rate.toFixed(4)} exceeds ${o.maxErrorRate} (${errors} of ${total} requests failed)`, [...byProblem].map(([problem, n]) => ({ problem, n }))), count: errors },
    );
  };

  try {
    await run();
  } catch (err) {
    state.stopped = `the load run failed: ${err instanceof Error ? err.message : String(err)}`;
  } finally {
    // Whatever happened, a tenant this run created is torn down (the endpoint refuses anything else).
    if (state.created) {
      checks.set(
        'perf_teardown',
        await tearDown(o, admin, tenantId, state.keyId, teardown).catch((err: unknown) =>
          fail('perf_teardown', `teardown of ${tenantId} failed: ${err instanceof Error ? err.message : String(err)} (tear it down by hand: runbooks/preflight-and-release.md)`),
        ),
      );
    }
  }
  const ordered = PERF_CHECKS.map((name) => checks.get(name) ?? fail(name, `not run: ${state.stopped || 'an earlier step failed'}`));
  return {
    checks: ordered,
    report: {
      tenant_id: tenantId,
      scope,
      requests_per_kind: o.requests,
      concurrency: o.concurrency,
      write: state.write,
      recall: state.recall,
      thresholds: { max_write_p95_ms: o.maxWriteP95Ms, max_recall_p95_ms: o.maxRecallP95Ms, max_error_rate: o.maxErrorRate },
      teardown,
    },
  };
}

/**
 * Revoke the run's key, tear the tenant down, and verify: the PerfTenantTornDown event is in its
 * stream and no row of the tenant is left. A buffered write that landed after the teardown (another
 * instance's telemetry flush) is swept by repeating the teardown, which records what it removed.
 */
async function tearDown(
  o: LoadRunOptions,
  admin: Record<string, string>,
  tenantId: string,
  keyId: string | null,
  out: { attempts: number; removed: unknown[]; leftover_rows: Record<string, number> | null; event_recorded: boolean },
): Promise<CheckResult> {
  const problems: string[] = [];
  if (keyId) {
    const r = await http('POST', urlOf(o.baseUrl, `/v1/admin/control/api-keys/${keyId}/revoke`), { headers: admin, body: { reason: `perf run ${o.runId} finished` }, timeoutMs: o.timeoutMs });
    if (r.status !== 200) problems.push(`revoking key ${keyId}: ${problemOf(r)}`);
  }
  let leftovers: Record<string, number> = {};
  for (let attempt = 1; attempt <= 3; attempt++) {
    out.attempts = attempt;
    const r = await http('POST', urlOf(o.baseUrl, `/v1/admin/control/tenants/${tenantId}/perf-teardown`), { headers: admin, body: { reason: `perf run ${o.runId} finished` }, timeoutMs: Math.max(o.timeoutMs, 30_000) });
    if (r.status !== 200) {
      problems.push(`teardown of ${tenantId}: ${problemOf(r)}`);
      break;
    }
    const body = r.body as { removed?: unknown } | null;
    if (body?.removed) out.removed.push(body.removed);
    leftovers = await leftoverRows(o.database, tenantId);
    if (Object.values(leftovers).every((n) => n === 0)) break;
    await new Promise((res) => setTimeout(res, 1000));
  }
  out.leftover_rows = leftovers;
  const events = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM es_events WHERE stream_id = ${tenantStreamId(tenantId)} AND type = 'PerfTenantTornDown'`.execute(o.database.db);
  out.event_recorded = (events.rows[0]?.n ?? 0) > 0;
  if (!out.event_recorded) problems.push(`no PerfTenantTornDown event in ${tenantStreamId(tenantId)}`);
  const left = Object.entries(leftovers).filter(([, n]) => n > 0);
  if (left.length > 0) problems.push(`rows left: ${left.map(([t, n]) => `${t}=${n}`).join(', ')}`);
  return problems.length === 0
    ? pass('perf_teardown', `key revoked, tenant ${tenantId} torn down (PerfTenantTornDown recorded, ${out.attempts} call(s)), no rows left`)
    : fail('perf_teardown', problems.join('; '), [{ tenant_id: tenantId, leftover_rows: leftovers }]);
}
