import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { sql } from 'kysely';
import request from 'supertest';
import { apiKeysProjection, auditProjection, PROJECTIONS, tenantsProjection } from '../../projections';
import { runCrossTenantChecks } from '../../src/ops/checks/cross-tenant';
import { compareWithReplay, replayMatches } from '../../src/ops/checks/projection-replay';
import { PostgresEventStore } from '../../src/platform/event-store/postgres-event-store';
import { rebuildProjections } from '../../src/platform/projections/rebuild';
import { replayParked } from '../../src/platform/projections/replay-parked';
import { runCliSync as cli } from '../support/cli';
import { counterProjection } from '../support/counter-projection';
import { startTestService, type TestService } from '../support/service';
import { pgOnly } from '../support/skips';

const ROOT = join(__dirname, '../..');
const json = { 'Content-Type': 'application/json' };
const actor = { type: 'operator' as const, id: 'test-rebuild' };
const pgIt = pgOnly.it;

async function createTenants(t: TestService, prefix: string, n: number, concurrency = 6): Promise<void> {
  const api = request(t.url);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const id = `${prefix}-${i}`;
      await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: id, tier: 'starter' }).expect(201);
      await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: id }).expect(201);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

async function waitUntil(what: string, fn: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every projection's live checkpoint has reached the head of the log. */
async function caughtUp(t: TestService): Promise<boolean> {
  const r = await sql<{ behind: number }>`
    SELECT count(*)::int AS behind FROM proj_checkpoints c
    WHERE EXISTS (SELECT 1 FROM es_events e WHERE (e.transaction_id, e.global_position) > (c.last_transaction_id, c.last_global_position))`.execute(t.tdb.database.db);
  return r.rows[0]?.behind === 0;
}


describe('blue/green projection rebuilds', () => {
  let t: TestService;
  let store: PostgresEventStore;

  beforeAll(async () => {
    t = await startTestService({ projections: [...PROJECTIONS, counterProjection] });
    store = new PostgresEventStore(t.tdb.database);
    await createTenants(t, 'seed', 40);
    await waitUntil('projector', () => caughtUp(t));
  }, 60_000);
  afterAll(async () => {
    await t.stop();
  });

  it('a rebuild under concurrent writes swaps in a read model equal to a fresh replay, with no difference at the diff position', async () => {
    let writing = true;
    const writer = (async () => {
      let i = 0;
      while (writing) {
        await createTenants(t, `busy${i++}`, 3, 3);
      }
      return i;
    })();
    const progress: string[] = [];
    const results = await rebuildProjections(t.tdb.database, store, [tenantsProjection, apiKeysProjection, auditProjection], {
      actor,
      batchSize: 25,
      onProgress: (p) => progress.push(p.phase),
    });
    // Keep writing a moment after the swap: the live projector must carry on from the swapped-in checkpoint.
    await new Promise((r) => setTimeout(r, 300));
    writing = false;
    expect(await writer).toBeGreaterThan(0);
    expect(results.map((r) => [r.projection, r.swapped])).toEqual([
      ['tenants', true],
      ['api_keys', true],
      ['audit', true],
    ]);
    for (const r of results) {
      expect(r.diff).not.toBeNull();
      expect({ projection: r.projection, changed: r.diff?.changed, only_live: r.diff?.only_live, only_shadow: r.diff?.only_shadow }).toEqual({ projection: r.projection, changed: 0, only_live: 0, only_shadow: 0 });
    }
    expect(progress).toEqual(expect.arrayContaining(['build', 'diff', 'done']));
    await waitUntil('projector after the swap', () => caughtUp(t));
    const comparisons = await compareWithReplay(t.tdb.database, [tenantsProjection, apiKeysProjection, auditProjection]);
    expect(comparisons.filter((c) => !replayMatches(c))).toEqual([]);
    // The live projector serves writes made after the swap.
    await request(t.url).post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'after-swap' }).expect(201);
    await request(t.url).get('/v1/admin/control/tenants/after-swap').set(t.auth).expect(200);
    // Started and swapped were recorded as events, one pair per projection.
    const ops = await sql<{ type: string }>`SELECT type FROM es_events WHERE stream_id LIKE 'projection-ops-%' ORDER BY global_position`.execute(t.tdb.database.db);
    expect(ops.rows.filter((r) => r.type === 'ProjectionRebuildSwapped')).toHaveLength(3);
  }, 90_000);

  it('a corrupted live row fails projection_equals_replay and a diff-only run; a rebuild repairs it', async () => {
    await sql`UPDATE rm_tenants SET display_name = 'tampered' WHERE tenant_id = 'seed-3'`.execute(t.tdb.database.db);
    const failing = (await runCrossTenantChecks(t.tdb.database)).filter((c) => !c.pass);
    expect(failing.map((c) => c.name)).toEqual(['projection_equals_replay']);
    expect(JSON.stringify(failing[0]?.sample)).toContain('"tenant":"seed-3"');
    // The detail names the projection that differs, and only that one.
    expect(failing[0]?.detail).toMatch(/^tenants@\d+:\d+ differs from a replay/);
    for (const other of ['audit', 'api_keys', 'operators', 'projects', 'quotas']) expect(failing[0]?.detail).not.toContain(`${other}@`);

    const [cmp] = await rebuildProjections(t.tdb.database, store, [tenantsProjection], { actor, swap: false });
    expect(cmp?.swapped).toBe(false);
    expect(cmp?.diff?.changed).toBe(1);
    expect(cmp?.diff?.sample).toEqual([{ key: 'seed-3', difference: 'changed' }]);
    expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM rm_tenants WHERE display_name = 'tampered'`.execute(t.tdb.database.db)).rows[0]?.n).toBe(1);
    expect(await sql`SELECT to_regclass('rm_tenants__rb')::text AS t`.execute(t.tdb.database.db)).toMatchObject({ rows: [{ t: null }] });

    const [fixed] = await rebuildProjections(t.tdb.database, store, [tenantsProjection], { actor });
    expect(fixed?.swapped).toBe(true);
    expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM rm_tenants WHERE display_name = 'tampered'`.execute(t.tdb.database.db)).rows[0]?.n).toBe(0);
    expect((await runCrossTenantChecks(t.tdb.database)).filter((c) => !c.pass)).toEqual([]);
  }, 60_000);

  it('parked events move to the swapped-in read model, and replay-parked releases them once the code accepts them', async () => {
    // A poison event parks its stream in the live projector.
    await store.append('counter-x', [{ type: 'Counted', data: { poison: true } }, { type: 'Counted', data: {} }], {
      expectedRevision: 'any',
      tenantId: null,
      metadata: { actor, occurred_at: new Date().toISOString(), correlation_id: 'c', causation_id: null, request_id: null, command_id: null },
    });
    await waitUntil('projector', () => caughtUp(t));
    const parked = async (projection: string) =>
      (await sql<{ category: string }>`SELECT category FROM proj_dead_letters WHERE projection = ${projection} AND status = 'parked' ORDER BY global_position`.execute(t.tdb.database.db)).rows.map((r) => r.category);
    expect(await parked('test_counter')).toEqual(['evolve_failed', 'parked_behind']);
    const [r] = await rebuildProjections(t.tdb.database, store, [counterProjection], { actor });
    expect(r?.dead_letters).toBe(2);
    expect(await parked('test_counter')).toEqual(['evolve_failed', 'parked_behind']);
    expect(await parked('test_counter#rebuild')).toEqual([]);

    // Same code: still failing, stays parked, nothing written.
    const still = await replayParked(t.tdb.database, store, counterProjection, { actor, reason: 'try again' });
    expect(still.streams).toEqual([expect.objectContaining({ stream_id: 'counter-x', outcome: 'still_failing' })]);
    expect(await parked('test_counter')).toEqual(['evolve_failed', 'parked_behind']);

    // "Fixed" code: a projection of the same name whose evolve accepts the event.
    const fixed = { ...counterProjection, evolve: (row: { applied_count: number } | null, e: { eventId: string; streamId: string }) => ({ event_id: e.eventId, stream_id: e.streamId, applied_count: (row?.applied_count ?? 0) + 1 }) };
    const dry = await replayParked(t.tdb.database, store, fixed as typeof counterProjection, { actor, reason: 'fixed in 1.2.3', dryRun: true });
    expect(dry.replayed_events).toBe(2);
    expect(await parked('test_counter')).toEqual(['evolve_failed', 'parked_behind']);
    const done = await replayParked(t.tdb.database, store, fixed as typeof counterProjection, { actor, reason: 'fixed in 1.2.3' });
    expect(done).toMatchObject({ replayed_events: 2, still_failing_streams: 0 });
    expect(await parked('test_counter')).toEqual([]);
    const rows = await sql<{ applied_count: number }>`SELECT applied_count FROM rm_test_counter WHERE stream_id = 'counter-x'`.execute(t.tdb.database.db);
    expect(rows.rows.map((x) => x.applied_count)).toEqual([1, 1]);
    // The live projector goes on with the released stream.
    await store.append('counter-x', [{ type: 'Counted', data: {} }], {
      expectedRevision: 'any',
      tenantId: null,
      metadata: { actor, occurred_at: new Date().toISOString(), correlation_id: 'c', causation_id: null, request_id: null, command_id: null },
    });
    await waitUntil('counter row', async () => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM rm_test_counter WHERE stream_id = 'counter-x'`.execute(t.tdb.database.db)).rows[0]?.n === 3);
    expect(await parked('test_counter')).toEqual([]);
    const recorded = await sql<{ type: string; command_id: string | null }>`
      SELECT type, metadata->>'command_id' AS command_id FROM es_events WHERE stream_id = 'projection-ops-test_counter' ORDER BY global_position`.execute(t.tdb.database.db);
    expect(recorded.rows.map((x) => x.type)).toEqual(['ProjectionRebuildStarted', 'ProjectionRebuildSwapped', 'ProjectionDeadLettersReplayed']);
    // Recorded through the one command path: each append has a command id of its own.
    expect(recorded.rows.every((x) => /^cmd:[0-9a-f-]{36}$/.test(x.command_id ?? ''))).toBe(true);
    expect(new Set(recorded.rows.map((x) => x.command_id)).size).toBe(3);
  }, 60_000);

  it('a rebuild writes nothing but its shadow and two audit events: no outbox jobs, no memory rows', async () => {
    const before = await sql<{ events: number; outbox: number }>`SELECT (SELECT count(*) FROM es_events)::int AS events, (SELECT count(*) FROM memory_outbox)::int AS outbox`.execute(t.tdb.database.db);
    const outboxNotifications: string[] = [];
    const unlisten = await t.tdb.database.listen('aionis_outbox', (p) => outboxNotifications.push(p));
    await rebuildProjections(t.tdb.database, store, [auditProjection], { actor });
    await new Promise((r) => setTimeout(r, 200));
    await unlisten();
    const after = await sql<{ events: number; outbox: number }>`SELECT (SELECT count(*) FROM es_events)::int AS events, (SELECT count(*) FROM memory_outbox)::int AS outbox`.execute(t.tdb.database.db);
    expect(after.rows[0]?.events).toBe((before.rows[0]?.events ?? 0) + 2);
    expect(after.rows[0]?.outbox).toBe(before.rows[0]?.outbox);
    expect(outboxNotifications).toEqual([]);
  }, 60_000);

  pgIt('a stopped rebuild (--stop-after-batches, the drill\'s kill) resumes where it stopped; a second concurrent rebuild is refused', async () => {
    const env = { DATABASE_URL: t.tdb.url ?? '' };
    await createTenants(t, 'kill', 30);
    await waitUntil('projector', () => caughtUp(t));
    const total = (await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_events`.execute(t.tdb.database.db)).rows[0]?.n ?? 0;
    expect(total).toBeGreaterThan(120);
    const readProgress = async () =>
      (await sql<{ events_read: number; status: string }>`SELECT events_read::int, status FROM proj_rebuilds WHERE projection = 'audit' ORDER BY started_at DESC LIMIT 1`.execute(t.tdb.database.db)).rows[0];

    // Deterministic: exactly 40 batches of one event, then it stops as a kill would (exit 1, still running, resumable).
    const stopped = cli('projections-rebuild.ts', ['--projection', 'audit', '--batch-size', '1', '--stop-after-batches', '40', '--json'], env);
    expect(stopped.status).toBe(1);
    expect(stopped.stdout).toBe('');
    expect(stopped.stderr).toContain('stopped after 40 batch(es) (--stop-after-batches)');
    expect(await readProgress()).toEqual({ events_read: 40, status: 'running' });
    const tables = await sql<{ tablename: string }>`SELECT tablename FROM pg_tables WHERE tablename LIKE 'rm_audit%' ORDER BY 1`.execute(t.tdb.database.db);
    expect(tables.rows.map((x) => x.tablename)).toEqual(['rm_audit_events', 'rm_audit_events__rb']);
    // Progress counts events against the exact number of events in the log (not positions).
    const lines = stopped.stderr.split('\n').filter((l) => l.startsWith('{"progress":"projections:rebuild"')).map((l) => JSON.parse(l) as { done: number; total: number });
    for (const l of lines) expect(l.total).toBeGreaterThanOrEqual(total);
    for (const l of lines) expect(l.total).toBeLessThanOrEqual(total + 5); // a few operational events of this run may follow the count

    // Resume slowly in the background; while it runs, a second rebuild (of any projection) is refused with exit 1.
    const child: ChildProcess = spawn(
      process.execPath,
      ['-r', join(ROOT, 'test/support/swc-register.cjs'), join(ROOT, 'src/ops/cli/projections-rebuild.ts'), '--projection', 'audit', '--batch-size', '1', '--pause-ms', '40', '--json'],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await waitUntil('the resumed rebuild to be under way', async () => ((await readProgress())?.events_read ?? 0) > 45, 30_000);
    const second = cli('projections-rebuild.ts', ['--projection', 'tenants', '--json'], env);
    expect(second.status).toBe(1);
    expect(second.stderr).toContain('another projection rebuild is running');

    expect(await exited).toBe(0);
    const out = JSON.parse(stdout) as { rebuilds: { resumed: boolean; swapped: boolean; events_read: number; position: string; diff: { changed: number; only_live: number; only_shadow: number } }[] };
    const r = out.rebuilds[0]!;
    expect(r).toMatchObject({ resumed: true, swapped: true, diff: { changed: 0, only_live: 0, only_shadow: 0 } });
    // Every event up to the swap position was read exactly once across the two runs.
    const [tx, gp] = r.position.split(':');
    const upTo = (await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_events WHERE (transaction_id, global_position) <= (${tx}::xid8, ${Number(gp)}::bigint)`.execute(t.tdb.database.db)).rows[0]?.n;
    expect(r.events_read).toBe(upTo);
    // JSON progress lines on stderr (not a TTY); the last one is exact: every event read, of exactly that many.
    const progress = stderr.split('\n').filter((l) => l.startsWith('{"progress":"projections:rebuild"')).map((l) => JSON.parse(l) as { label: string; done: number; total: number });
    expect(progress.at(-1)).toMatchObject({ label: 'audit/done', done: upTo, total: upTo });
    await waitUntil('projector', () => caughtUp(t));
    expect((await compareWithReplay(t.tdb.database, [auditProjection])).every(replayMatches)).toBe(true);
  }, 90_000);

  pgIt('the CLI: usage errors exit 1, --diff-only exits 0 on a clean read model and names the rows that differ otherwise', async () => {
    const env = { DATABASE_URL: t.tdb.url ?? '' };
    expect(cli('projections-rebuild.ts', [], env).status).toBe(1);
    expect(cli('projections-rebuild.ts', ['--projection', 'nope'], env).status).toBe(1);
    expect(cli('projections-rebuild.ts', ['--all', '--projection', 'tenants'], env).status).toBe(1);
    const diff = cli('projections-rebuild.ts', ['--projection', 'projects', '--diff-only', '--json'], env);
    expect(diff.status).toBe(0);
    expect(JSON.parse(diff.stdout)).toMatchObject({ ok: true, mode: 'diff_only' });
    // The human output of a diff-only run names the rows that differ.
    const before = (await sql<{ display_name: string | null }>`SELECT display_name FROM rm_tenants WHERE tenant_id = 'seed-4'`.execute(t.tdb.database.db)).rows[0]!.display_name;
    await sql`UPDATE rm_tenants SET display_name = 'tampered' WHERE tenant_id = 'seed-4'`.execute(t.tdb.database.db);
    try {
      const named = cli('projections-rebuild.ts', ['--projection', 'tenants', '--diff-only'], env);
      expect(named.status).toBe(2);
      expect(named.stdout).toMatch(/tenants: compared .* 1 changed, 0 only live, 0 only rebuilt/);
      expect(named.stdout).toMatch(/^ {2}changed {5}seed-4$/m);
    } finally {
      await sql`UPDATE rm_tenants SET display_name = ${before} WHERE tenant_id = 'seed-4'`.execute(t.tdb.database.db);
    }
    const replay = cli('projections-replay-parked.ts', ['--projection', 'tenants', '--json'], env);
    expect(replay.status).toBe(1);
    expect(replay.stderr).toContain('--reason is required');
    const none = cli('projections-replay-parked.ts', ['--projection', 'tenants', '--reason', 'drill', '--json'], env);
    expect(none.status).toBe(0);
    expect(JSON.parse(none.stdout)).toMatchObject({ ok: true, streams: [] });
  }, 60_000);
});
