import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit, Optional } from '@nestjs/common';
import { hostname } from 'node:os';
import { PROJECTIONS } from '../../../projections';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { DATABASE, type Database } from '../db/database';
import { OpsIncidentsRepository } from '../db/ops-incidents.repository';
import { type Checkpoint, compareCheckpoints, EVENT_STORE } from '../event-store/event-store';
import type { PostgresEventStore } from '../event-store/postgres-event-store';
import { METRICS, type Metrics } from '../telemetry/metrics';
import type { AnyProjection } from './projection';
import { ProjectionRunner, type RunnerHooks } from './projection-runner';
import { ProjectionCheckpointsRepository } from './projection-checkpoints.repository';

export const PROJECTION_DEFINITIONS = Symbol('PROJECTION_DEFINITIONS');
export const PROJECTOR_HOOKS = Symbol('PROJECTOR_HOOKS');
const AUDIT_PROJECTION = 'audit';
const LAG_INCIDENT = 'projection_lag';

export interface ProjectionHealth {
  readonly projection: string;
  readonly ok: boolean;
  readonly state: string;
  readonly reason: string | null;
  readonly checkpoint: string | null;
  readonly lag_events: number | null;
  readonly lag_ms: number | null;
  readonly heartbeat_age_ms: number | null;
}

/**
 * Runs the projector role: one ProjectionRunner per read model (each takes its lock or waits on
 * standby), and answers "has projection P applied position X yet?" and "is the projector healthy?".
 */
@Injectable()
export class ProjectionsService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Projector');
  private readonly runners = new Map<string, ProjectionRunner>();
  readonly owner = `${hostname()}:${process.pid}`;

  constructor(
    @Inject(DATABASE) private readonly database: Database,
    @Inject(EVENT_STORE) private readonly store: PostgresEventStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(METRICS) private readonly metrics: Metrics,
    private readonly checkpoints: ProjectionCheckpointsRepository,
    private readonly incidents: OpsIncidentsRepository,
    @Optional() @Inject(PROJECTION_DEFINITIONS) private readonly definitions: readonly AnyProjection[] = PROJECTIONS,
    @Optional() @Inject(PROJECTOR_HOOKS) private readonly hooks?: RunnerHooks,
  ) {}

  get runsProjector(): boolean {
    return this.config.roles.has('projector');
  }

  onModuleInit(): void {
    if (!this.runsProjector) return;
    for (const def of this.definitions) {
      const runner = new ProjectionRunner(def, this.database, this.store, {
        owner: this.owner,
        batchSize: this.config.projector.batchSize,
        pollIntervalMs: this.config.projector.pollIntervalMs,
        ...(this.hooks ? { hooks: this.hooks } : {}),
        events: {
          onStateChange: (name, state, error) => {
            const line = { msg: `projection ${name}: ${state}`, projection: name, state, ...(error ? { err: error } : {}) };
            if (state === 'failed' || state === 'retrying') this.logger.error(line);
            else this.logger.log(line);
          },
          onBatch: (name, applied, deadLettered) => {
            if (applied > 0) this.metrics.projectedEvents.add(applied, { projection: name });
            if (deadLettered > 0) {
              this.metrics.projectionDeadLetters.add(deadLettered, { projection: name });
              this.logger.warn({ msg: `projection ${name}: event(s) sent to the dead-letter table`, projection: name, dead_lettered: deadLettered });
            }
          },
        },
      });
      this.runners.set(def.name, runner);
      this.metrics.registerProjectionLag(def.name, () => runner.lag);
      runner.start();
    }
    this.incidentTimer = setInterval(() => void this.recordLagIncidents(), 2000);
    this.incidentTimer.unref();
  }

  private incidentTimer: NodeJS.Timeout | undefined;

  /**
   * Lag incidents for the governance report (ops_incidents): the instance running a projection
   * opens one when its lag passes PROJECTION_READY_MAX_LAG_MS, keeps its peak, and closes it when
   * the lag is back under. Best effort: a failure here never touches projection work.
   */
  private async recordLagIncidents(): Promise<void> {
    const limit = this.config.projector.readyMaxLagMs;
    for (const runner of this.runners.values()) {
      if (runner.state !== 'active') continue;
      const lag = runner.lag.ms;
      try {
        if (lag > limit) await this.incidents.openOrRaisePeak(LAG_INCIDENT, runner.name, lag, this.owner);
        else await this.incidents.close(LAG_INCIDENT, runner.name);
      } catch {
        /* measurement only */
      }
    }
  }

  /** Resolves once every local runner has started (active or standby), or the timeout passed. */
  async started(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if ([...this.runners.values()].every((r) => r.state === 'active' || r.state === 'standby')) return true;
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  runner(name: string): ProjectionRunner | undefined {
    return this.runners.get(name);
  }

  /**
   * Wait until `projection` has applied everything up to `position` (read-your-writes for
   * command responses). Uses the local runner when it is the active one, the stored checkpoint otherwise.
   */
  async waitFor(projection: string, position: Checkpoint, timeoutMs: number): Promise<boolean> {
    if (timeoutMs <= 0) return false;
    const local = this.runners.get(projection);
    if (local && local.state === 'active') return local.waitFor(position, timeoutMs);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const cp = await this.checkpoints.read(projection);
      if (cp && compareCheckpoints(cp.position, position) >= 0) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * After a command: wait until its own read model and the audit trail include `position`, so a
   * read right after the response sees both. Both waits share the time budget.
   */
  async waitForWrite(projection: string, position: Checkpoint, timeoutMs: number): Promise<boolean> {
    const started = Date.now();
    const own = await this.waitFor(projection, position, timeoutMs);
    if (!this.definitions.some((d) => d.name === AUDIT_PROJECTION)) return own;
    const audit = await this.waitFor(AUDIT_PROJECTION, position, Math.max(0, timeoutMs - (Date.now() - started)));
    return own && audit;
  }

  async health(): Promise<ProjectionHealth[]> {
    const rows = await this.checkpoints.heartbeats();
    const stored = new Map(rows.map((row) => [row.projection, row]));
    return this.definitions.map((def): ProjectionHealth => {
      const row = stored.get(def.name);
      const heartbeatAge = row?.heartbeat_at ? new Date(row.now).getTime() - new Date(row.heartbeat_at).getTime() : null;
      const checkpoint = row ? `${row.tx}:${row.gp}` : null;
      const runner = this.runners.get(def.name);
      const fresh = heartbeatAge !== null && heartbeatAge <= this.config.projector.heartbeatStaleMs;
      if (runner) {
        const lag = runner.lag;
        const base = { projection: def.name, state: runner.state, checkpoint, lag_events: lag.events, lag_ms: lag.ms, heartbeat_age_ms: heartbeatAge };
        switch (runner.state) {
          case 'active':
            return lag.ms > this.config.projector.readyMaxLagMs
              ? { ...base, ok: false, reason: `lag ${lag.ms} ms exceeds ${this.config.projector.readyMaxLagMs} ms` }
              : { ...base, ok: true, reason: null };
          case 'standby':
            return fresh
              ? { ...base, ok: true, reason: null }
              : { ...base, ok: false, reason: 'standby, and the active runner has not sent a heartbeat recently' };
          case 'idle':
          case 'retrying':
          case 'failed':
          case 'stopped': {
            const err = runner.lastError;
            return { ...base, ok: false, reason: `projector ${runner.state}${err instanceof Error ? `: ${err.message}` : ''}` };
          }
        }
      }
      return {
        projection: def.name,
        state: 'remote',
        checkpoint,
        lag_events: null,
        lag_ms: null,
        heartbeat_age_ms: heartbeatAge,
        ok: fresh,
        reason: fresh ? null : 'no projector instance has sent a heartbeat recently',
      };
    });
  }

  async stopAll(): Promise<void> {
    if (this.incidentTimer) clearInterval(this.incidentTimer);
    await Promise.all([...this.runners.values()].map((r) => r.stop()));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.stopAll();
  }
}
