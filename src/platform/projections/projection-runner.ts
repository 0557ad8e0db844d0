import { sql } from 'kysely';
import type { Database, Session } from '../db/database';
import { type Checkpoint, compareCheckpoints, type RecordedEvent, type Subscription } from '../event-store/event-store';
import type { PostgresEventStore } from '../event-store/postgres-event-store';
import { foldBatch, type FoldResult, keysOf } from './fold';
import { type AnyProjection, handlesType } from './projection';
import {
  advanceCheckpoint,
  dropReadModel,
  ensureCheckpoint,
  ensureReadModel,
  heartbeat,
  loadParkedStreams,
  loadRows,
  measureLag,
  readCheckpoint,
  recordDeadLetters,
  resetCheckpoint,
  writeRows,
} from './projection-store';

export type RunnerState = 'idle' | 'standby' | 'active' | 'retrying' | 'failed' | 'stopped';

export interface RunnerHooks {
  /** Test seam: runs inside the batch transaction after the rows are written, before the checkpoint. */
  beforeCheckpoint?(events: readonly RecordedEvent[]): Promise<void> | void;
}

export interface RunnerEvents {
  onStateChange?(projection: string, state: RunnerState, error?: unknown): void;
  onBatch?(projection: string, applied: number, deadLettered: number, position: Checkpoint): void;
}

export interface RunnerOptions {
  readonly owner: string;
  readonly batchSize: number;
  readonly pollIntervalMs: number;
  readonly lockRetryMs?: number;
  readonly heartbeatMs?: number;
  readonly hooks?: RunnerHooks;
  readonly events?: RunnerEvents;
}

/** Namespace of the projector advisory locks (two-int form: namespace, hash of the projection name). */
const LOCK_NAMESPACE = 0x41_49_4f;

export function lockKey(projection: string): number {
  // FNV-1a, folded to a non-negative int4 so pg_locks.objid shows it unchanged.
  let h = 0x811c9dc5;
  for (let i = 0; i < projection.length; i++) {
    h ^= projection.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) & 0x7fffffff;
}

class LostLockError extends Error {
  constructor(projection: string) {
    super(`projector lock for ${projection} was lost`);
  }
}

class OutdatedReleaseError extends Error {
  constructor(projection: string, stored: number, own: number) {
    super(`read model ${projection} is at version ${stored}, built by a newer release; this process runs version ${own} and will not write to it`);
  }
}

class CheckpointMovedError extends Error {
  constructor(projection: string) {
    super(`checkpoint of ${projection} was moved by another runner`);
  }
}

/**
 * Runs one projection: holds its advisory lock (at most one active runner across all processes;
 * the others wait on standby and take over when the holder dies), follows the ordered
 * subscription from the stored checkpoint, and writes each batch's rows, dead letters and the
 * compare-and-set checkpoint in one transaction on the lock's own session.
 */
export class ProjectionRunner {
  private stateValue: RunnerState = 'idle';
  private lastErrorValue: unknown;
  private session: Session | undefined;
  private subscription: Subscription | undefined;
  private position: Checkpoint | undefined;
  /** The checkpoint as stored: behind `position` while only batches this projection ignores were read. */
  private stored: Checkpoint | undefined;
  /** Batch writes and checkpoint persists run one at a time (they share the session and `stored`). */
  private writeChain: Promise<unknown> = Promise.resolve();
  private parked = new Set<string>();
  private stopping = false;
  private loopDone: Promise<void> | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private lagValue = { events: 0, ms: 0 };
  private lastProgressAt = Date.now();
  private readonly waiters = new Set<{ target: Checkpoint; resolve: () => void }>();
  private wakeLoop: (() => void) | undefined;

  constructor(
    readonly definition: AnyProjection,
    private readonly database: Database,
    private readonly store: PostgresEventStore,
    private readonly options: RunnerOptions,
  ) {}

  get name(): string {
    return this.definition.name;
  }
  get state(): RunnerState {
    return this.stateValue;
  }
  get lastError(): unknown {
    return this.lastErrorValue;
  }
  get checkpoint(): Checkpoint | undefined {
    return this.position;
  }
  get lag(): { events: number; ms: number } {
    return this.lagValue;
  }
  /** When this runner last did something that proves it is alive (batch, heartbeat, lock attempt). */
  get lastProgress(): number {
    return this.lastProgressAt;
  }

  private setState(state: RunnerState, error?: unknown): void {
    this.stateValue = state;
    if (error !== undefined) this.lastErrorValue = error;
    this.options.events?.onStateChange?.(this.name, state, error);
  }

  start(): void {
    if (this.loopDone) return;
    this.stopping = false;
    this.loopDone = this.loop().catch((err: unknown) => {
      this.setState('failed', err);
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wakeLoop = undefined;
        resolve();
      }, ms);
      this.wakeLoop = () => {
        clearTimeout(t);
        this.wakeLoop = undefined;
        resolve();
      };
    });
  }

  private async loop(): Promise<void> {
    let backoff = 250;
    while (!this.stopping) {
      try {
        this.session = await this.database.openSession();
        const acquired = await this.tryLock(this.session);
        this.lastProgressAt = Date.now();
        if (!acquired) {
          await this.session.release();
          this.session = undefined;
          if (this.stateValue !== 'standby') this.setState('standby');
          await this.sleep(this.options.lockRetryMs ?? 1000);
          continue;
        }
        await this.runActive(this.session);
        backoff = 250;
      } catch (err) {
        if (this.stopping) break;
        this.setState('retrying', err);
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, 15_000);
      } finally {
        await this.teardownActive();
      }
    }
    this.setState('stopped');
  }

  private async tryLock(session: Session): Promise<boolean> {
    const r = await sql<{ ok: boolean }>`SELECT pg_try_advisory_lock(${LOCK_NAMESPACE}, ${lockKey(this.name)}) AS ok`.execute(session.db);
    return r.rows[0]?.ok === true;
  }

  private async runActive(session: Session): Promise<void> {
    const def = this.definition;
    let cp = await ensureCheckpoint(session.db, def);
    if (cp.version > def.version) {
      // A newer release rebuilt this read model (blue/green swap): this process must not write to it.
      throw new OutdatedReleaseError(def.name, cp.version, def.version);
    }
    if (cp.version !== def.version) {
      // Version change: rebuild in place from the start of the log. (Blue/green rebuilds: docs/architecture.md.)
      await session.db.transaction().execute(async (trx) => {
        await dropReadModel(trx, def);
        await ensureReadModel(trx, def);
        await resetCheckpoint(trx, def);
      });
      cp = await ensureCheckpoint(session.db, def);
    } else {
      await ensureReadModel(session.db, def);
    }
    this.position = cp.position;
    this.stored = cp.position;
    this.parked = await loadParkedStreams(session.db, def.name);
    await heartbeat(session.db, def.name, this.options.owner);
    this.setState('active');
    this.lastProgressAt = Date.now();
    this.heartbeatTimer = setInterval(() => {
      void this.persistSkipped(session).catch(() => undefined);
      void heartbeat(session.db, def.name, this.options.owner)
        .then(() => {
          this.lastProgressAt = Date.now();
        })
        .catch(() => undefined);
      void this.refreshLag();
    }, this.options.heartbeatMs ?? 2000);
    this.heartbeatTimer.unref();
    await this.refreshLag();
    this.resolveWaiters();

    // stop() may have been called while we were starting: it sets `stopping` before reading `subscription`.
    if (this.stopping) return;
    this.subscription = this.store.subscribe({
      from: cp.position,
      batchSize: this.options.batchSize,
      pollIntervalMs: this.options.pollIntervalMs,
      name: def.name,
      handler: (events) => this.applyBatch(session, events),
    });
    await this.subscription.done;
  }

  /** Run one checkpoint-writing step at a time. */
  private exclusive<T>(step: () => Promise<T>): Promise<T> {
    const run = this.writeChain.then(step, step);
    this.writeChain = run.catch(() => undefined);
    return run;
  }

  private async applyBatch(session: Session, events: readonly RecordedEvent[]): Promise<void> {
    const def = this.definition;
    const last = events[events.length - 1];
    if (!last) return;
    const to: Checkpoint = { transactionId: last.transactionId, globalPosition: last.globalPosition };
    if (!events.some((e) => handlesType(def, e.type))) {
      // Nothing here for this read model: no write transaction. The position moves in memory
      // (waiters see it at once: no row changed); the stored checkpoint follows with the next
      // batch that writes, or within a heartbeat. Re-reading such a range after a crash is harmless.
      this.position = to;
      this.lastProgressAt = Date.now();
      this.options.events?.onBatch?.(def.name, 0, 0, to);
      this.resolveWaiters();
      if (events.length < this.options.batchSize) this.lagValue = { events: 0, ms: 0 };
      return;
    }
    const result = await this.exclusive(() => this.writeBatch(session, events, to));
    for (const s of result.newlyParked.keys()) this.parked.add(s);
    this.position = to;
    this.lastProgressAt = Date.now();
    this.options.events?.onBatch?.(def.name, result.applied, result.deadLetters.length, to);
    this.resolveWaiters();
    if (events.length < this.options.batchSize) this.lagValue = { events: 0, ms: 0 };
  }

  /**
   * The batch transaction: checkpoint row lock, fencing, rows, dead letters, and the
   * compare-and-set from the stored checkpoint to `to`. `events` empty = only persist the position.
   */
  private async writeBatch(session: Session, events: readonly RecordedEvent[], to: Checkpoint) {
    const def = this.definition;
    const from = this.stored;
    if (!from) throw new Error('runner has no position');
    const result = await session.db.transaction().execute(async (trx) => {
      // The checkpoint row first, in every batch: a rebuild swap or a parked-event replay takes the
      // same row lock before touching the read model, so they never interleave with a batch.
      const locked = await sql<{ version: number }>`SELECT version FROM proj_checkpoints WHERE projection = ${def.name} FOR UPDATE`.execute(trx);
      if (locked.rows[0]?.version !== def.version) throw new CheckpointMovedError(def.name);
      if (this.database.kind === 'pg') {
        // Fencing: write only while this very session still holds the lock.
        const held = await sql<{ held: boolean }>`
          SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
            AND classid = ${LOCK_NAMESPACE} AND objid = ${lockKey(def.name)} AND objsubid = 2 AND granted) AS held`.execute(trx);
        if (!held.rows[0]?.held) throw new LostLockError(def.name);
      }
      let folded: FoldResult = { changes: new Map(), deadLetters: [], newlyParked: new Map(), applied: 0 };
      if (events.length > 0) {
        // Re-read under the row lock: a replay of parked events may have released a stream.
        this.parked = await loadParkedStreams(trx, def.name);
        const rows = await loadRows(trx, def, keysOf(def, events));
        folded = foldBatch(def, events, rows, this.parked);
        await writeRows(trx, def, folded.changes);
        if (folded.deadLetters.length > 0) await recordDeadLetters(trx, def.name, folded.deadLetters, folded.newlyParked);
        await this.options.hooks?.beforeCheckpoint?.(events);
      }
      const moved = await advanceCheckpoint(trx, def.name, from, to, folded.applied);
      if (!moved) throw new CheckpointMovedError(def.name);
      if (events.length > 0) await sql`SELECT pg_notify('aionis_projection_progress', ${def.name})`.execute(trx);
      return folded;
    });
    this.stored = to;
    return result;
  }

  /** Store the position reached through ignored batches (heartbeat and stop). */
  private async persistSkipped(session: Session): Promise<void> {
    await this.exclusive(async () => {
      const pos = this.position;
      if (!pos || !this.stored || compareCheckpoints(pos, this.stored) <= 0 || this.stateValue !== 'active') return;
      try {
        await this.writeBatch(session, [], pos);
      } catch {
        // Moved by a swap or a lost lock: the next batch that writes fails the same way and restarts the runner.
      }
    });
  }

  private async refreshLag(): Promise<void> {
    const pos = this.position;
    if (!pos || this.stateValue !== 'active') return;
    try {
      this.lagValue = await measureLag(this.database.db, pos);
    } catch {
      /* keep the last value; health reports the runner state */
    }
  }

  /** Resolves once this runner has applied everything up to `target` (or the timeout passes: false). */
  waitFor(target: Checkpoint, timeoutMs: number): Promise<boolean> {
    if (this.position && compareCheckpoints(this.position, target) >= 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const entry = {
        target,
        resolve: () => {
          clearTimeout(timer);
          this.waiters.delete(entry);
          resolve(true);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(entry);
        resolve(false);
      }, timeoutMs);
      this.waiters.add(entry);
    });
  }

  private resolveWaiters(): void {
    const pos = this.position;
    if (!pos) return;
    for (const w of [...this.waiters]) if (compareCheckpoints(pos, w.target) >= 0) w.resolve();
  }

  private async teardownActive(): Promise<void> {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    const sub = this.subscription;
    this.subscription = undefined;
    if (sub) await sub.stop();
    const s = this.session;
    this.session = undefined;
    if (s) {
      await this.persistSkipped(s).catch(() => undefined);
      if (this.database.kind === 'pglite') {
        await sql`SELECT pg_advisory_unlock(${LOCK_NAMESPACE}, ${lockKey(this.name)})`.execute(s.db).catch(() => undefined);
      }
      await s.release().catch(() => undefined);
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeLoop?.();
    await this.subscription?.stop();
    await this.loopDone;
    this.loopDone = undefined;
  }

  /** Reads the stored checkpoint (any process's progress), e.g. for a standby instance. */
  async storedCheckpoint(): Promise<Checkpoint | undefined> {
    return (await readCheckpoint(this.database.db, this.name))?.position;
  }
}
