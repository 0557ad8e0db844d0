import { Inject, Optional } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { Transaction } from 'kysely';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config';
import { DATABASE, type Database } from '../../platform/db/database';
import type { DB } from '../../platform/db/schema';
import { AppError } from '../../platform/errors/app-error';
import { DuplicateCommandRaceError, WrongExpectedRevisionError } from '../../platform/event-store/errors';
import { type Checkpoint, EVENT_STORE, type EventStore } from '../../platform/event-store/event-store';
import { ProjectionsService } from '../../platform/projections/projections.service';
import { commandIdOf } from '../../platform/event-store/command-context';
import { type CommandContext, contextOfRecorded, eventMetadata } from '../shared/command-handling';
import { tenantStreamId } from '../shared/ids';
import { perfTeardownRefusal, type RemovedRows, tenantDecider, type TenantEvent, type TenantState } from './tenant.domain';
import type { TenantCommandResult } from './tenant.commands';

/**
 * A part of the system that holds rows of a tenant outside the log (the data plane's tables, key
 * usage): the teardown asks each to remove them inside its one transaction, and records the
 * count per table. The control plane names none of those tables itself.
 */
export interface TenantRows {
  readonly tables: readonly string[];
  remove(trx: Transaction<DB>, tenantId: string): Promise<Record<string, number>>;
}
export const TENANT_ROWS = Symbol('TENANT_ROWS');

/**
 * Buffers of rows not yet written that may hold the tenant's rows (telemetry rollups, key usage):
 * flushed before the deletion, so requests this instance served leave nothing behind.
 */
export interface PendingWrites {
  flush(): Promise<void>;
}
export const PENDING_WRITES = Symbol('PENDING_WRITES');

export class TearDownPerfTenantCommand extends Command<TenantCommandResult> {
  constructor(
    readonly tenantId: string,
    readonly reason: string | null,
    readonly context: CommandContext,
  ) {
    super();
  }
}

/**
 * Tear down a perf tenant: in ONE transaction, delete its data-plane rows and append
 * PerfTenantTornDown (expected revision = the revision the decision was made on). A concurrent
 * change of the tenant rolls the deletion back and retries on fresh state; a refused tenant
 * (not created for perf) is refused before anything is deleted. Safe to repeat: a repeat finds
 * nothing and appends nothing, or sweeps late rows and records them.
 */
class ReplayOf extends Error {
  constructor(
    readonly revision: number,
    readonly position: Checkpoint,
  ) {
    super('duplicate command');
  }
}

@CommandHandler(TearDownPerfTenantCommand)
export class TearDownPerfTenantHandler implements ICommandHandler<TearDownPerfTenantCommand, TenantCommandResult> {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(DATABASE) private readonly database: Database,
    private readonly projections: ProjectionsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(TENANT_ROWS) private readonly owners: readonly TenantRows[],
    @Optional() @Inject(PENDING_WRITES) private readonly pending: readonly PendingWrites[] = [],
  ) {}

  async execute({ tenantId, reason, context }: TearDownPerfTenantCommand): Promise<TenantCommandResult> {
    const streamId = tenantStreamId(tenantId);
    const commandId = commandIdOf(context, 'TearDownPerfTenant');
    if (context.idempotencyKey) {
      const earlier = await this.store.findAppend(commandId, streamId);
      if (earlier) {
        const { state } = await this.load(streamId, earlier.nextRevision);
        return { state, revision: earlier.nextRevision, position: earlier.position, events: [], readModelCurrent: true };
      }
    }
    // Requests served by this instance before the teardown leave no telemetry or usage rows behind.
    for (const p of this.pending) await p.flush();
    for (let attempt = 1; ; attempt++) {
      const { state, revision } = await this.load(streamId);
      if (context.expectedRevision !== null && context.expectedRevision !== revision) {
        throw new AppError('precondition_failed', `If-Match revision ${context.expectedRevision} is stale; the current revision is ${revision}`, { current_revision: revision });
      }
      // Refuse before touching a single row of a tenant that is not a perf tenant.
      const refusal = perfTeardownRefusal(state, tenantId);
      if (refusal) throw refusal;
      const metadata = eventMetadata(context, commandId);
      try {
        const outcome = await this.database.db.transaction().execute(async (trx) => {
          const removed: RemovedRows = {};
          for (const owner of this.owners) Object.assign(removed, await owner.remove(trx, tenantId));
          const events = tenantDecider.decide({ type: 'TearDownPerfTenant', tenant_id: tenantId, reason, removed }, state);
          if (events.length === 0) return { events, result: null };
          const result = await this.store.append(
            streamId,
            events.map((e) => ({ type: e.type, data: e.data })),
            { expectedRevision: revision, tenantId, metadata, trx },
          );
          // The same Idempotency-Key won a race: roll this transaction (its deletions) back, answer with the first outcome.
          if (result.duplicate) throw new ReplayOf(result.nextRevision, result.position);
          return { events, result };
        });
        if (!outcome.result) return { state, revision, position: null, events: [], readModelCurrent: true };
        const ctx = { occurredAt: metadata.occurred_at, actorId: context.actor.id };
        const next = outcome.events.reduce<TenantState>((s, e) => tenantDecider.evolve(s, e, ctx), state);
        const readModelCurrent = await this.projections.waitForWrite('tenants', outcome.result.position, this.config.http.commandWaitMs);
        return { state: next, revision: outcome.result.nextRevision, position: outcome.result.position, events: outcome.events, readModelCurrent };
      } catch (err) {
        if (err instanceof ReplayOf) {
          const replayed = await this.load(streamId, err.revision);
          return { state: replayed.state, revision: err.revision, position: err.position, events: [], readModelCurrent: true };
        }
        // Lost the race to record the same command id: the next attempt finds the winner's append.
        if (err instanceof DuplicateCommandRaceError && attempt < 4) continue;
        if (err instanceof WrongExpectedRevisionError) {
          if (context.expectedRevision !== null) throw new AppError('precondition_failed', `the resource changed after revision ${context.expectedRevision}`, { current_revision: err.actual });
          if (attempt < 4) continue;
          throw new AppError('concurrency_conflict', 'the tenant is being changed concurrently; retry', { current_revision: err.actual });
        }
        throw err;
      }
    }
  }

  private async load(streamId: string, upTo?: number): Promise<{ state: TenantState; revision: number }> {
    const history = await this.store.readStream(streamId, upTo !== undefined ? { limit: upTo } : {});
    let state = tenantDecider.initialState;
    for (const e of history) state = tenantDecider.evolve(state, { type: e.type, data: e.data } as TenantEvent, contextOfRecorded(e));
    return { state, revision: history.at(-1)?.streamPosition ?? 0 };
  }
}
