import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { sql } from 'kysely';
import type { EventMetadata } from '../../../src/platform/event-store/event-store';
import { PostgresEventStore } from '../../../src/platform/event-store/postgres-event-store';
import { ProjectionRunner, type RunnerHooks } from '../../../src/platform/projections/projection-runner';
import { ensureReadModel, listDeadLetters, readCheckpoint } from '../../../src/platform/projections/projection-store';
import { counterProjection } from '../../support/counter-projection';
import { createTestDatabase, type TestDatabase } from '../../support/test-db';
import { pgOnly } from '../../support/skips';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const meta = (): EventMetadata => ({
  actor: { type: 'system', id: 'projector-test' },
  occurred_at: new Date().toISOString(),
  correlation_id: randomUUID(),
  causation_id: null,
  request_id: null,
  command_id: null,
});

async function waitUntil(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe(`projector engine (${process.env.TEST_DATABASE_URL ? 'PostgreSQL' : 'PGlite'})`, () => {
  let tdb: TestDatabase;
  let store: PostgresEventStore;
  const runners: ProjectionRunner[] = [];

  beforeEach(async () => {
    tdb = await createTestDatabase();
    store = new PostgresEventStore(tdb.database);
    await ensureReadModel(tdb.database.db, counterProjection);
  });
  afterEach(async () => {
    for (const r of runners.splice(0)) await r.stop();
    await store.close();
    await tdb.dispose();
  });

  function runner(hooks?: RunnerHooks, batchSize = 10): ProjectionRunner {
    const r = new ProjectionRunner(counterProjection, tdb.database, store, {
      owner: `test-${runners.length}`,
      batchSize,
      pollIntervalMs: 50,
      lockRetryMs: 50,
      heartbeatMs: 200,
      ...(hooks ? { hooks } : {}),
    });
    runners.push(r);
    return r;
  }

  async function appendCounted(stream: string, n: number, extra: Record<string, unknown> = {}): Promise<string[]> {
    const r = await store.append(
      stream,
      Array.from({ length: n }, (_, i) => ({ type: 'Counted', data: { i, ...extra } })),
      { expectedRevision: 'any', tenantId: null, metadata: meta() },
    );
    return (await store.readStream(stream, { fromPosition: r.firstStreamPosition })).map((e) => e.eventId);
  }

  async function counts(): Promise<Map<string, number>> {
    const r = await sql<{ event_id: string; applied_count: number }>`SELECT event_id, applied_count FROM rm_test_counter`.execute(tdb.database.db);
    return new Map(r.rows.map((x) => [x.event_id, x.applied_count]));
  }

  it('applies every event exactly once and keeps the checkpoint with the rows', async () => {
    const ids = [...(await appendCounted('s1', 25)), ...(await appendCounted('s2', 7))];
    const r = runner();
    r.start();
    await waitUntil('all applied', async () => (await counts()).size === ids.length);
    const c = await counts();
    expect([...c.values()].every((n) => n === 1)).toBe(true);
    const cp = await readCheckpoint(tdb.database.db, counterProjection.name);
    expect(cp?.eventsApplied).toBe(32);
    const last = (await store.readStream('s2')).at(-1)!;
    expect(cp?.position.globalPosition).toBe(last.globalPosition);
    expect(r.state).toBe('active');
    expect(r.lag).toEqual({ events: 0, ms: 0 });
  });

  it('writes nothing for batches it does not handle: the position moves in memory, the stored checkpoint follows within a heartbeat', async () => {
    const r = runner();
    r.start();
    await appendCounted('first', 1);
    await waitUntil('first applied', async () => (await counts()).size === 1);
    const before = await sql<{ updated_at: Date }>`SELECT updated_at FROM proj_checkpoints WHERE projection = ${counterProjection.name}`.execute(tdb.database.db);
    const unrelated = await store.append('other', Array.from({ length: 5 }, (_, i) => ({ type: 'Unrelated', data: { i } })), { expectedRevision: 'any', tenantId: null, metadata: meta() });
    // Read-your-writes waiters see the new position at once: no row of this read model changed.
    expect(await r.waitFor(unrelated.position, 2000)).toBe(true);
    expect(await counts()).toHaveProperty('size', 1);
    // The stored checkpoint catches up by the heartbeat (200 ms here), applying nothing.
    await waitUntil('checkpoint persisted', async () => (await readCheckpoint(tdb.database.db, counterProjection.name))?.position.globalPosition === unrelated.position.globalPosition);
    const cp = await readCheckpoint(tdb.database.db, counterProjection.name);
    expect(cp?.eventsApplied).toBe(1);
    const after = await sql<{ updated_at: Date }>`SELECT updated_at FROM proj_checkpoints WHERE projection = ${counterProjection.name}`.execute(tdb.database.db);
    expect(new Date(after.rows[0]!.updated_at).getTime()).toBeGreaterThan(new Date(before.rows[0]!.updated_at).getTime());
    // A handled event after that is applied with a compare-and-set from the stored position.
    await appendCounted('second', 2);
    await waitUntil('second applied', async () => (await counts()).size === 3);
    expect((await readCheckpoint(tdb.database.db, counterProjection.name))?.eventsApplied).toBe(3);
    expect(r.state).toBe('active');
  });

  it('rolls back rows when it fails between writing them and the checkpoint, then applies them exactly once', async () => {
    const ids = await appendCounted('crashy', 12);
    let failures = 0;
    const r = runner({
      beforeCheckpoint: () => {
        if (failures < 2) {
          failures += 1;
          throw new Error('simulated crash after the rows, before the checkpoint');
        }
      },
    });
    r.start();
    await waitUntil('all applied', async () => (await counts()).size === ids.length);
    expect(failures).toBe(2);
    expect([...(await counts()).values()]).toEqual(Array(12).fill(1));
    expect((await readCheckpoint(tdb.database.db, counterProjection.name))?.eventsApplied).toBe(12);
  });

  it('dead-letters a poison event with its category, parks the rest of its stream, and lets other streams go on', async () => {
    await appendCounted('good-1', 3);
    await appendCounted('bad', 1);
    const poisonStream = 'bad';
    await store.append(poisonStream, [{ type: 'Counted', data: { poison: true } }], { expectedRevision: 'any', tenantId: null, metadata: meta() });
    const behind = await appendCounted(poisonStream, 2);
    await appendCounted('bad-shape', 1, { bad: true });
    await appendCounted('good-2', 4);
    const r = runner(undefined, 3);
    r.start();
    await waitUntil('caught up', async () => {
      const cp = await readCheckpoint(tdb.database.db, counterProjection.name);
      return cp?.position.globalPosition === (await store.headGlobalPosition());
    });
    const c = await counts();
    // good-1 (3) + first event of "bad" (1) + good-2 (4) applied; the poison, the two behind it and the bad shape are not.
    expect(c.size).toBe(8);
    for (const id of behind) expect(c.has(id)).toBe(false);
    const letters = await listDeadLetters(tdb.database.db, counterProjection.name);
    expect(letters.map((l) => [l.streamId, l.category])).toEqual([
      ['bad', 'evolve_failed'],
      ['bad', 'parked_behind'],
      ['bad', 'parked_behind'],
      ['bad-shape', 'invalid_event_data'],
    ]);
    expect(letters[0]!.error).toBe('poison event');
    // A later event of a parked stream keeps waiting behind the poison, even in a later batch.
    const later = await appendCounted(poisonStream, 1);
    await appendCounted('good-3', 1);
    await waitUntil('good-3 applied', async () => (await counts()).size === 9);
    expect((await counts()).has(later[0]!)).toBe(false);
    expect((await listDeadLetters(tdb.database.db, counterProjection.name)).filter((l) => l.category === 'parked_behind')).toHaveLength(3);
  });

  it('rebuilds the read model from the start of the log when the projection version changes', async () => {
    await appendCounted('v', 5);
    const r1 = runner();
    r1.start();
    await waitUntil('v1 applied', async () => (await counts()).size === 5);
    await r1.stop();
    await sql`UPDATE rm_test_counter SET applied_count = 99`.execute(tdb.database.db);
    const r2 = new ProjectionRunner({ ...counterProjection, version: 2 }, tdb.database, store, { owner: 'v2', batchSize: 10, pollIntervalMs: 50 });
    runners.push(r2);
    r2.start();
    await waitUntil('v2 rebuilt', async () => {
      const c = await counts();
      return c.size === 5 && [...c.values()].every((n) => n === 1);
    });
    expect((await readCheckpoint(tdb.database.db, counterProjection.name))?.version).toBe(2);
  });

  it('resumes from its checkpoint after a restart without re-applying anything', async () => {
    await appendCounted('restart', 6);
    const r1 = runner();
    r1.start();
    await waitUntil('first run', async () => (await counts()).size === 6);
    await r1.stop();
    await appendCounted('restart', 4);
    const r2 = runner();
    r2.start();
    await waitUntil('second run', async () => (await counts()).size === 10);
    expect([...(await counts()).values()].every((n) => n === 1)).toBe(true);
  });

  describe('across processes (PostgreSQL only: PGlite is single-process by design)', () => {
    const pg = pgOnly.it;
    const children: ChildProcess[] = [];
    afterEach(() => {
      for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });

    interface Line {
      t: number;
      owner: string;
      kind: string;
      state?: string;
      applied?: number;
    }

    function spawnProjector(owner: string, mode: 'run' | 'crash-before-checkpoint'): { child: ChildProcess; lines: Line[]; exited: Promise<{ code: number | null; signal: string | null }> } {
      const child = spawn(process.execPath, ['-r', join(__dirname, '../../support/swc-register.cjs'), join(__dirname, '../../support/projector-child.ts')], {
        env: { ...process.env, DATABASE_URL: tdb.url, OWNER: owner, MODE: mode },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      const lines: Line[] = [];
      let buf = '';
      child.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          try {
            lines.push(JSON.parse(line) as Line);
          } catch {
            /* not ours */
          }
        }
      });
      let err = '';
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
        child.on('exit', (code, signal) => {
          if (code && code !== 0) process.stderr.write(`projector child ${owner} stderr:\n${err}\n`);
          resolve({ code, signal });
        }),
      );
      return { child, lines, exited };
    }

    pg('a crash (SIGKILL) between the read-model write and the checkpoint applies nothing twice', async () => {
      const ids = await appendCounted('kill-me', 15);
      const crasher = spawnProjector('crasher', 'crash-before-checkpoint');
      const { signal } = await crasher.exited;
      expect(signal).toBe('SIGKILL');
      expect(crasher.lines.some((l) => l.kind === 'crashing')).toBe(true);
      // The killed transaction left neither rows nor a moved checkpoint.
      expect((await counts()).size).toBe(0);
      expect((await readCheckpoint(tdb.database.db, counterProjection.name))?.position.globalPosition).toBe(0);
      const survivor = spawnProjector('survivor', 'run');
      await waitUntil('survivor applied all', async () => (await counts()).size === ids.length, 30_000);
      expect([...(await counts()).values()].every((n) => n === 1)).toBe(true);
      survivor.child.kill('SIGTERM');
      await survivor.exited;
    }, 60_000);

    pg('runs at most one active runner across two processes and fails over when the active one is killed', async () => {
      await appendCounted('multi', 10);
      const a = spawnProjector('proc-a', 'run');
      const b = spawnProjector('proc-b', 'run');
      await waitUntil('one active, one standby', () => {
        const states = [a, b].map((p) => p.lines.filter((l) => l.kind === 'state').at(-1)?.state);
        return states.includes('active') && states.includes('standby');
      }, 30_000);
      const active = a.lines.some((l) => l.state === 'active') ? a : b;
      const standby = active === a ? b : a;
      // Keep writing while the active runner is killed and the standby takes over.
      let writing = true;
      const writer = (async () => {
        let n = 0;
        while (writing) {
          await appendCounted(`multi-${n % 5}`, 2);
          n += 1;
          await sleep(10);
        }
      })();
      await sleep(500);
      const killTime = Date.now();
      active.child.kill('SIGKILL');
      await active.exited;
      await waitUntil('standby takes over', () => standby.lines.some((l) => l.state === 'active'), 30_000);
      await sleep(500);
      writing = false;
      await writer;
      const total = await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_events WHERE type = 'Counted'`.execute(tdb.database.db);
      await waitUntil('everything applied', async () => (await counts()).size === total.rows[0]!.n, 30_000);
      expect([...(await counts()).values()].every((n) => n === 1)).toBe(true);
      // Never two at once: the standby became active only after the active one was killed,
      // and the killed one applied nothing after that.
      const standbyActiveAt = standby.lines.find((l) => l.state === 'active')!.t;
      expect(standbyActiveAt).toBeGreaterThanOrEqual(killTime);
      expect(active.lines.filter((l) => l.kind === 'batch').every((l) => l.t <= killTime)).toBe(true);
      expect(active.lines.filter((l) => l.kind === 'batch' && (l.applied ?? 0) > 0).length).toBeGreaterThan(0);
      expect(standby.lines.filter((l) => l.kind === 'batch' && (l.applied ?? 0) > 0).length).toBeGreaterThan(0);
      standby.child.kill('SIGTERM');
      await standby.exited;
    }, 90_000);
  });
});
