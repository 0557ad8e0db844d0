import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { PROJECTIONS } from '../../../projections';
import type { Database } from '../../platform/db/database';
import { pendingMigrations } from '../../platform/db/migrations';
import { canonicalJson } from '../../platform/event-store/canonical-json';
import { eventMetadata, newCommandId, systemCommandContext } from '../../platform/event-store/command-context';
import { GENESIS_HASH } from '../../platform/event-store/event-store';
import { PostgresEventStore } from '../../platform/event-store/postgres-event-store';
import { verifyChains } from '../../platform/event-store/verify';
import { measureLag, readCheckpoint } from '../../platform/projections/projection-store';
import { check, type CheckResult } from '../checks/check-result';
import { http, type HttpResult, urlOf } from './http';
import { deploymentId, type RuntimeFacts } from './runtime-facts';
import { OutboxRepository } from '../../data-plane/outbox/outbox.repository';

/**
 * The checks of `preflight:hosted`. Database checks read the deployment's database; runtime checks
 * ask the running server (its effective configuration, not the caller's shell). The one write
 * here is the event-store probe: one event on a stream of its own, no tenant.
 */

export const PREFLIGHT_EVENT_TYPE = 'PreflightProbeRecorded';
export const PREFLIGHT_STREAM_PREFIX = 'preflight-';

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const ok = (name: string, severity: 'error' | 'warning', detail: string): CheckResult => check(name, severity, detail, []);
const bad = (name: string, severity: 'error' | 'warning', detail: string, sample: unknown[] = [{}], count = Math.max(1, sample.length)): CheckResult =>
  check(name, severity, detail, sample, count);

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)))]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

// ---------------------------------------------------------------- database

export async function databaseReachable(database: Database, timeoutMs: number): Promise<CheckResult> {
  try {
    const r = await withTimeout(sql<{ v: string }>`SELECT current_setting('server_version') AS v`.execute(database.db), timeoutMs, 'the database query');
    return ok('database_reachable', 'error', `${database.kind} ${database.target} answers (server ${r.rows[0]?.v ?? '?'})`);
  } catch (err) {
    return bad('database_reachable', 'error', `${database.target}: ${errorText(err)}`);
  }
}

export async function migrationsCurrent(database: Database): Promise<CheckResult> {
  try {
    const pending = await pendingMigrations(database.db);
    return pending.length === 0
      ? ok('migrations_current', 'error', 'every migration this build knows is applied')
      : bad('migrations_current', 'error', `pending migrations: ${pending.join(', ')} (start the new version once: it migrates at boot)`, pending.map((m) => ({ migration: m })));
  } catch (err) {
    return bad('migrations_current', 'error', errorText(err));
  }
}

/**
 * Append one PreflightProbeRecorded event to a fresh `preflight-<uuid>` stream (tenant null), then
 * read it back by stream position and by global position (the gap-safe reader the projectors use),
 * and verify its hash chain.
 */
export async function eventStoreRoundTrip(database: Database, runId: string, timeoutMs: number): Promise<CheckResult> {
  const name = 'event_store_round_trip';
  const store = new PostgresEventStore(database);
  const streamId = `${PREFLIGHT_STREAM_PREFIX}${randomUUID()}`;
  try {
    const probedAt = new Date();
    const probe = { run_id: runId, host: hostname(), probed_at: probedAt.toISOString() };
    // The event occurs when the probe was taken; the run id ties it to this preflight run.
    const ctx = systemCommandContext({ actor: { type: 'system', id: 'preflight', display: 'preflight:hosted' }, correlationId: runId, now: () => probedAt });
    const appended = await store.append(streamId, [{ type: PREFLIGHT_EVENT_TYPE, data: probe }], {
      expectedRevision: 'no_stream',
      tenantId: null,
      metadata: eventMetadata(ctx, newCommandId()),
    });
    const problems: string[] = [];
    const [byStream] = await store.readStream(streamId, { fromPosition: 1, limit: 2 });
    if (!byStream || byStream.type !== PREFLIGHT_EVENT_TYPE) problems.push('not readable by stream position');
    else {
      if (byStream.globalPosition !== appended.position.globalPosition) problems.push('stream read returned another global position');
      if (byStream.prevHash !== GENESIS_HASH) problems.push('first event of the stream does not start from the genesis hash');
      const chain = verifyChains([byStream]);
      if (chain.breaks.length > 0) problems.push(`hash chain broken: ${chain.breaks.map((b) => b.reason).join(', ')}`);
      if (canonicalJson(byStream.data) !== canonicalJson(probe)) problems.push('the data read back differs from the data appended');
    }
    // By global position: wait (bounded) until no older transaction is still open.
    const deadline = Date.now() + timeoutMs;
    let global: typeof byStream;
    for (;;) {
      const page = await store.readAll({ after: { transactionId: appended.position.transactionId, globalPosition: appended.position.globalPosition - 1 }, limit: 1 });
      global = page.find((e) => e.globalPosition === appended.position.globalPosition);
      if (global || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!global) problems.push(`not readable by global position ${appended.position.transactionId}:${appended.position.globalPosition} within ${timeoutMs} ms`);
    else if (global.hash !== byStream?.hash) problems.push('the global read returned another hash');
    return problems.length === 0
      ? ok(name, 'error', `appended ${PREFLIGHT_EVENT_TYPE} to ${streamId} at ${appended.position.transactionId}:${appended.position.globalPosition}; read back by stream and global position; hash chain valid`)
      : bad(name, 'error', `${streamId}: ${problems.join('; ')}`, problems.map((p) => ({ problem: p })));
  } catch (err) {
    return bad(name, 'error', `${streamId}: ${errorText(err)}`);
  }
}

export async function projectionsCaughtUp(database: Database, staleMs: number, maxLagMs: number): Promise<CheckResult> {
  const name = 'projections_caught_up';
  try {
    const behind: Record<string, unknown>[] = [];
    for (const def of PROJECTIONS) {
      const cp = await readCheckpoint(database.db, def.name);
      const hb = await sql<{ age_ms: number | null }>`
        SELECT (extract(epoch FROM clock_timestamp() - heartbeat_at) * 1000)::int AS age_ms FROM proj_checkpoints WHERE projection = ${def.name}`.execute(database.db);
      const age = hb.rows[0]?.age_ms ?? null;
      const lag = cp ? await measureLag(database.db, cp.position) : null;
      const problems: string[] = [];
      if (!cp) problems.push('never started');
      else if (cp.version !== def.version) problems.push(`stored version ${cp.version}, code version ${def.version}`);
      if (age === null || age > staleMs) problems.push(`heartbeat ${age === null ? 'never' : `${age} ms ago`} (stale after ${staleMs} ms)`);
      if (lag && lag.ms > maxLagMs) problems.push(`lag ${lag.events} event(s), ${lag.ms} ms (max ${maxLagMs} ms)`);
      if (problems.length > 0) behind.push({ projection: def.name, heartbeat_age_ms: age, lag_events: lag?.events ?? null, lag_ms: lag?.ms ?? null, problems });
    }
    return behind.length === 0
      ? ok(name, 'error', `${PROJECTIONS.length} projections: heartbeat within ${staleMs} ms, lag within ${maxLagMs} ms`)
      : bad(name, 'error', behind.map((b) => `${String(b.projection)}: ${(b.problems as string[]).join(', ')}`).join('; '), behind);
  } catch (err) {
    return bad(name, 'error', errorText(err));
  }
}

export async function deadLetters(database: Database, max: number): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  try {
    const r = await sql<{ projection: string; n: number }>`
      SELECT projection, count(*)::int AS n FROM proj_dead_letters WHERE status = 'parked' GROUP BY projection ORDER BY projection`.execute(database.db);
    const total = r.rows.reduce((a, b) => a + b.n, 0);
    const detail = `${total} parked projection dead letter(s) (threshold ${max})`;
    out.push(total <= max ? { ...ok('projection_dead_letters', 'error', detail), sample: r.rows.slice(0, 5) } : bad('projection_dead_letters', 'error', `${detail}: see runbooks/projector.md`, r.rows, total));
  } catch (err) {
    out.push(bad('projection_dead_letters', 'error', errorText(err)));
  }
  try {
    const rows = (await new OutboxRepository(database).deadLettersByTenantAndType()).sort((a, b) => b.n - a.n);
    const total = rows.reduce((a, b) => a + b.n, 0);
    const detail = `${total} dead-lettered outbox job(s) (threshold ${max})`;
    out.push(total <= max ? { ...ok('outbox_dead_letters', 'error', detail), sample: rows.slice(0, 5) } : bad('outbox_dead_letters', 'error', `${detail}: see runbooks/dead-letter-replay.md`, rows, total));
  } catch (err) {
    out.push(bad('outbox_dead_letters', 'error', errorText(err)));
  }
  return out;
}

// ---------------------------------------------------------------- runtime (the server)

export interface RuntimeProbe {
  readonly facts: RuntimeFacts | null;
  /** Why there are no facts (server down, bad token, unexpected answer). */
  readonly problem: string | null;
  readonly result: HttpResult;
}

export async function fetchRuntime(baseUrl: string, adminToken: string, timeoutMs: number): Promise<RuntimeProbe> {
  const result = await http('GET', urlOf(baseUrl, '/v1/admin/ops/runtime'), { headers: { authorization: `Bearer ${adminToken}` }, timeoutMs });
  if (result.error) return { facts: null, problem: result.error, result };
  if (result.status !== 200) {
    const code = (result.body as { code?: unknown } | null)?.code;
    return { facts: null, problem: `GET /v1/admin/ops/runtime answered ${result.status}${typeof code === 'string' ? ` ${code}` : ''}${result.status === 401 ? ' (is AIONIS_ADMIN_TOKEN an active operator token of this deployment?)' : ''}`, result };
  }
  const f = result.body as Partial<RuntimeFacts> | null;
  if (!f || typeof f !== 'object' || !f.pepper || !f.owners || !f.embeddings || !f.rate_limits || !f.database || typeof f.server_time !== 'string') {
    return { facts: null, problem: 'GET /v1/admin/ops/runtime answered an unexpected document (server older than this preflight?)', result };
  }
  return { facts: f as RuntimeFacts, problem: null, result };
}

/**
 * A token the server refuses (401, or 403 on a route every operator role may read) is the
 * operator's mistake, not a failed check of the deployment: a runtime error (exit 1), never a
 * failed gate (exit 2).
 */
export function assertTokenAccepted(probe: RuntimeProbe): void {
  if (probe.result.status === 401 || probe.result.status === 403) throw new Error(`the server refused AIONIS_ADMIN_TOKEN: ${probe.problem ?? probe.result.status}`);
}

export function runtimeFacts(probe: RuntimeProbe): CheckResult {
  if (!probe.facts) return bad('runtime_facts', 'error', probe.problem ?? 'no runtime facts');
  const f = probe.facts;
  return ok('runtime_facts', 'error', `version ${f.version}, roles ${f.roles.join(',')}, database ${f.database.kind}, migrations ${f.database.migrations_current ? 'current' : `pending: ${f.database.pending_migrations.join(', ')}`}`);
}

/** Every check that needs the runtime facts fails the same way when there are none. */
function needFacts(name: string, severity: 'error' | 'warning', probe: RuntimeProbe, judge: (f: RuntimeFacts) => CheckResult): CheckResult {
  return probe.facts ? judge(probe.facts) : bad(name, severity, `runtime facts unavailable: ${probe.problem ?? 'unknown'}`);
}

export async function serverReady(baseUrl: string, timeoutMs: number): Promise<CheckResult> {
  const r = await http('GET', urlOf(baseUrl, '/health/ready'), { timeoutMs });
  if (r.error) return bad('server_ready', 'error', r.error);
  if (r.status === 200) return ok('server_ready', 'error', `GET /health/ready: 200 in ${Math.round(r.ms)} ms`);
  const body = r.body as { checks?: { name: string; ok: boolean; detail: string | null }[] } | null;
  const failing = (body?.checks ?? []).filter((c) => !c.ok);
  return bad('server_ready', 'error', `GET /health/ready: ${r.status}${failing.length ? ` (${failing.map((c) => `${c.name}: ${c.detail ?? 'not ok'}`).join('; ')})` : ''}`, failing.length ? failing : [{ status: r.status }]);
}

/**
 * Unauthenticated requests to an admin route and to a memory route must be refused with 401:
 * a problem+json on the admin API, the open core's JSON error body (`error` and our `code`) on the
 * memory API, whose clients parse `application/json` (docs/kernel-compatibility.md §2).
 */
export async function authRequired(baseUrl: string, timeoutMs: number): Promise<CheckResult> {
  const probes: [string, 'GET' | 'POST', string, unknown][] = [
    ['admin', 'GET', '/v1/admin/control/tenants', undefined],
    ['admin (wrong token)', 'GET', '/v1/admin/ops/runtime', undefined],
    ['memory', 'POST', '/v1/memory/find', { scope: 'default' }],
  ];
  const wrong: { route: string; what: string; status: number | null; content_type: string | null; code: unknown; error: string | null }[] = [];
  for (const [what, method, path, body] of probes) {
    const headers: Record<string, string> = what.includes('wrong') ? { authorization: 'Bearer aio_admin_preflight-not-a-token' } : {};
    const r = await http(method, urlOf(baseUrl, path), { headers, body, timeoutMs });
    const b = r.body as { code?: unknown; error?: unknown } | null;
    const code = b?.code;
    const contentType = r.contentType ?? '';
    const shaped = what === 'memory' ? contentType.startsWith('application/json') && b?.error === 'unauthorized' : contentType.startsWith('application/problem+json');
    if (r.status !== 401 || !shaped || code !== 'unauthorized') wrong.push({ route: `${method} ${path}`, what, status: r.status, content_type: r.contentType, code: code ?? null, error: r.error });
  }
  return wrong.length === 0
    ? ok('auth_required', 'error', 'unauthenticated admin and memory requests (and a wrong operator token) get 401 (problem+json on the admin API, the open core\'s JSON error on the memory API)')
    : bad(
        'auth_required',
        'error',
        `${wrong.length} unauthenticated request(s) were not refused with 401 in the expected shape (${wrong.map((w) => `${w.route}: ${w.error ?? w.status}`).join('; ')})`,
        wrong,
      );
}

export function keyPepperPolicy(probe: RuntimeProbe): CheckResult {
  return needFacts('key_pepper_policy', 'error', probe, (f) =>
    f.pepper.meets_policy
      ? ok('key_pepper_policy', 'error', `KEY_PEPPER (source: ${f.pepper.source}) meets the policy: >= 32 characters, not a published default`)
      : bad('key_pepper_policy', 'error', `KEY_PEPPER (source: ${f.pepper.source}) does not meet the policy: ${f.pepper.problems.join(', ')}`, [{ source: f.pepper.source, problems: f.pepper.problems }]),
  );
}

export function ownersNotBootstrapOnly(probe: RuntimeProbe): CheckResult {
  return needFacts('owners_not_bootstrap_only', 'error', probe, (f) => {
    const ids = f.owners.active_owner_ids;
    if (ids.length === 0) return bad('owners_not_bootstrap_only', 'error', 'no active owner at all');
    return f.owners.only_bootstrap
      ? bad('owners_not_bootstrap_only', 'error', `the only active owner is the bootstrap owner (${ids.join(', ')}): create a named owner with its own token (runbooks/admin-access.md), then disable the bootstrap owner`, [{ active_owner_ids: ids }])
      : ok('owners_not_bootstrap_only', 'error', `${ids.length} active owner(s), not only the bootstrap owner: ${ids.join(', ')}`);
  });
}

export function rateLimitsEnforced(probe: RuntimeProbe): CheckResult {
  return needFacts('rate_limits_enforced', 'error', probe, (f) =>
    f.rate_limits.enforced
      ? ok('rate_limits_enforced', 'error', `rate limits enforced (${f.rate_limits.endpoint_classes.join(', ')}; store: ${f.rate_limits.store})`)
      : bad('rate_limits_enforced', 'error', 'the server does not enforce rate limits', [f.rate_limits]),
  );
}

export function embeddingProviderReal(probe: RuntimeProbe): CheckResult {
  return needFacts('embedding_provider_real', 'warning', probe, (f) =>
    f.embeddings.placeholder
      ? bad('embedding_provider_real', 'warning', `the embedding provider is ${f.embeddings.model}, a placeholder (no semantic recall${f.embeddings.provider === 'none' ? '; recall_text is refused' : ''}): set EMBEDDING_PROVIDER=openai with EMBEDDING_BASE_URL/EMBEDDING_API_KEY`, [f.embeddings])
      : ok('embedding_provider_real', 'warning', `embedding provider ${f.embeddings.model}`),
  );
}

export function databaseMatchesServer(probe: RuntimeProbe, cliDeploymentId: string | null): CheckResult {
  return needFacts('database_matches_server', 'error', probe, (f) =>
    f.database.deployment_id !== null && f.database.deployment_id === cliDeploymentId
      ? ok('database_matches_server', 'error', `the server and --database-url are the same deployment (${cliDeploymentId})`)
      : bad('database_matches_server', 'error', `the server's database (deployment ${f.database.deployment_id ?? 'none'}) is not the one given with --database-url (deployment ${cliDeploymentId ?? 'none'})`, [
          { server: f.database.deployment_id, database_url: cliDeploymentId },
        ]),
  );
}

export async function cliDeploymentId(database: Database): Promise<string | null> {
  try {
    return await deploymentId(database.db);
  } catch {
    return null;
  }
}

/**
 * Clock skew between the server and the database, measured without trusting this machine's clock
 * (only its stopwatch): read the database clock, then the server's `server_time`, and compare
 * the server's time with the database time advanced by the elapsed interval. The bound is the
 * measured skew plus the measurement's uncertainty; it passes only when that bound is within the
 * threshold.
 */
export async function clockSkew(database: Database, baseUrl: string, adminToken: string, maxSkewMs: number, timeoutMs: number): Promise<CheckResult> {
  const name = 'clock_skew';
  try {
    // Three samples; the tightest one counts (the first may include connection set-up).
    let best: { skew: number; uncertainty: number } | null = null;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const db = await sql<{ now: Date }>`SELECT clock_timestamp() AS now`.execute(database.db);
      const t1 = performance.now();
      const probe = await fetchRuntime(baseUrl, adminToken, timeoutMs);
      const t2 = performance.now();
      if (!probe.facts) return bad(name, 'error', `server time unavailable: ${probe.problem ?? 'unknown'}`);
      const dbNow = new Date(db.rows[0]!.now).getTime();
      // The database read happened somewhere in [t0, t1], the server's in [t1, t2].
      const expected = dbNow + ((t1 + t2) / 2 - (t0 + t1) / 2);
      const skew = Date.parse(probe.facts.server_time) - expected;
      const uncertainty = (t1 - t0) / 2 + (t2 - t1) / 2 + 1; // +1: both clocks have millisecond resolution
      if (!best || Math.abs(skew) + uncertainty < Math.abs(best.skew) + best.uncertainty) best = { skew, uncertainty };
    }
    const { skew, uncertainty } = best!;
    const bound = Math.abs(skew) + uncertainty;
    const detail = `server - database = ${Math.round(skew)} ms (± ${Math.ceil(uncertainty)} ms); threshold ${maxSkewMs} ms`;
    return bound <= maxSkewMs ? ok(name, 'error', detail) : bad(name, 'error', `${detail}: fix NTP on the server or the database host`, [{ skew_ms: Math.round(skew), uncertainty_ms: Math.ceil(uncertainty), max_ms: maxSkewMs }]);
  } catch (err) {
    return bad(name, 'error', errorText(err));
  }
}
