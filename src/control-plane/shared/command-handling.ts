import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Kysely, Transaction } from 'kysely';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config';
import type { DB } from '../../platform/db/schema';
import { AppError } from '../../platform/errors/app-error';
import { type CommandContext, commandIdOf, eventMetadata } from '../../platform/event-store/command-context';
import { DuplicateCommandRaceError, WrongExpectedRevisionError } from '../../platform/event-store/errors';
import { type AppendResult, type Checkpoint, EVENT_STORE, type EventMetadata, type EventStore, type RecordedEvent } from '../../platform/event-store/event-store';
import { ProjectionsService } from '../../platform/projections/projections.service';
import { type Tier, tenantDecider } from '../tenants/tenant.domain';
import type { Decider, DomainEvent, EventContext } from './decider';
import { tenantStreamId } from './ids';

// The command context and the one metadata builder live with the event store (platform code);
// re-exported here so the control plane's existing imports keep working.
export {
  type CommandContext,
  commandIdOf,
  eventMetadata,
  idempotentCommandId,
  naturalCommandId,
  newCommandId,
  requestCommandContext,
  systemCommandContext,
} from '../../platform/event-store/command-context';

export interface CommandOutcome<State> {
  readonly state: State;
  /** Stream revision after the command (the ETag). */
  readonly revision: number;
  /** Position of the last appended event; null when the command decided nothing. */
  readonly position: Checkpoint | null;
  readonly events: readonly DomainEvent[];
}

export const contextOfRecorded = (e: RecordedEvent): EventContext => ({ occurredAt: e.metadata.occurred_at, actorId: e.metadata.actor.id });

function fold<C, E extends DomainEvent, S>(decider: Decider<C, E, S>, events: readonly RecordedEvent[]): S {
  let s = decider.initialState;
  for (const e of events) s = decider.evolve(s, { type: e.type, data: e.data } as E, contextOfRecorded(e));
  return s;
}

/** The current state of one aggregate, folded from its stream (authoritative, unlike a read model). */
export async function loadAggregate<C, E extends DomainEvent, S>(store: EventStore, decider: Decider<C, E, S>, streamId: string): Promise<{ state: S; revision: number }> {
  const history = await store.readStream(streamId);
  return { state: fold(decider, history), revision: history.at(-1)?.streamPosition ?? 0 };
}

/**
 * A rule that spans aggregates (e.g. "at least one active owner") made to hold under concurrency:
 * every command that could break it appends to one shared stream with that stream's expected
 * revision, in the same transaction as its own events. Of two concurrent such commands the second
 * fails its expected revision and is decided again on fresh state.
 */
export interface ConsistencyBoundary<C, E extends DomainEvent, S> {
  /** The shared stream (a platform stream: no tenant). */
  readonly streamId: string;
  /**
   * The command completed with the authoritative facts it is decided on beyond its own stream;
   * called after the boundary's revision is read, so a change it misses fails the append.
   */
  readonly refresh: (command: C) => Promise<C>;
  /** Pure: what this decision records on the boundary stream; none = it leaves the rule alone. */
  readonly record: (command: C, state: S, events: readonly E[]) => DomainEvent[];
}

/** What a command is about to append, as work that must commit with it sees it. */
export interface Appending<E extends DomainEvent, S> {
  /** The state the command was decided on (before its events). */
  readonly state: S;
  readonly events: readonly E[];
  /** The ids the events are appended with, one per event in order. */
  readonly eventIds: readonly string[];
  /** The events' envelope metadata (occurred_at is the events' time). */
  readonly metadata: EventMetadata;
}

/**
 * Work that must commit with the command's events or not at all (e.g. outbox jobs the events
 * cause): run in the append's transaction, after the append. Not combined with a boundary.
 */
export interface AtomicWork<E extends DomainEvent, S> {
  /** The database the transaction is opened on (the event store's). */
  readonly db: Kysely<DB>;
  readonly run: (trx: Transaction<DB>, appending: Appending<E, S>) => Promise<void>;
}

export interface CommandOptions<C, E extends DomainEvent, S> {
  readonly boundary?: ConsistencyBoundary<C, E, S>;
  readonly atomically?: AtomicWork<E, S>;
  /**
   * How many times the command is decided (a concurrent change without If-Match is decided again
   * on fresh state); 4 by default. After the last, a concurrent change is a concurrency_conflict.
   */
  readonly maxAttempts?: number;
}

/** handleCommand's arguments after the event store. */
export type CommandArguments<C, E extends DomainEvent, S> = [
  decider: Decider<C, E, S>,
  target: { streamId: string; tenantId: string | null },
  command: C,
  ctx: CommandContext,
  options?: CommandOptions<C, E, S>,
];

/**
 * The command-handler shell: load the stream, fold, decide, append with the expected revision.
 * Without If-Match a concurrent change is retried on fresh state (bounded); with If-Match it is a 412.
 * A repeated Idempotency-Key returns the first outcome and writes nothing.
 * With a consistency boundary, the decision's boundary events are appended in the same
 * transaction, against the boundary's revision read before the facts the command is decided on.
 * With atomic work, that work runs in the append's transaction (it commits with the events or not at all).
 */
export async function handleCommand<C extends { type: string }, E extends DomainEvent, S>(
  store: EventStore,
  decider: Decider<C, E, S>,
  target: { streamId: string; tenantId: string | null },
  command: C,
  ctx: CommandContext,
  options: CommandOptions<C, E, S> = {},
): Promise<CommandOutcome<S>> {
  const { boundary, atomically, maxAttempts = 4 } = options;
  if (boundary && atomically) throw new Error('handleCommand: atomic work cannot be combined with a consistency boundary');
  const commandId = commandIdOf(ctx, command.type);
  const replay = async (result: AppendResult): Promise<CommandOutcome<S>> => {
    // The same command already ran: answer with the state as of its append, write nothing.
    const upTo = (await store.readStream(target.streamId, { limit: result.nextRevision })).slice(0, result.nextRevision);
    return { state: fold(decider, upTo), revision: result.nextRevision, position: result.position, events: [] };
  };
  if (ctx.idempotencyKey) {
    const earlier = await store.findAppend(commandId, target.streamId);
    if (earlier) return replay(earlier);
  }
  for (let attempt = 1; ; attempt++) {
    const boundaryRevision = boundary ? ((await store.readStream(boundary.streamId)).at(-1)?.streamPosition ?? 0) : 0;
    const decided = boundary ? await boundary.refresh(command) : command;
    const history = await store.readStream(target.streamId);
    const revision = history.at(-1)?.streamPosition ?? 0;
    if (ctx.expectedRevision !== null && ctx.expectedRevision !== revision) {
      throw new AppError('precondition_failed', `If-Match revision ${ctx.expectedRevision} is stale; the current revision is ${revision}`, {
        current_revision: revision,
      });
    }
    const state = fold(decider, history);
    const events = decider.decide(decided, state);
    if (events.length === 0) return { state, revision, position: null, events };
    const metadata = eventMetadata(ctx, commandId);
    const eventIds = events.map(() => randomUUID());
    const own = {
      streamId: target.streamId,
      events: events.map((e, i) => ({ type: e.type, data: e.data, eventId: eventIds[i] })),
      options: { expectedRevision: revision === 0 ? ('no_stream' as const) : revision, tenantId: target.tenantId, metadata },
    };
    const shared = boundary?.record(decided, state, events) ?? [];
    let result: AppendResult;
    try {
      if (boundary && shared.length > 0) {
        // The boundary first: every command on it locks the streams in the same order.
        const guard = {
          streamId: boundary.streamId,
          events: shared.map((e) => ({ type: e.type, data: e.data })),
          options: { expectedRevision: boundaryRevision === 0 ? ('no_stream' as const) : boundaryRevision, tenantId: null, metadata: eventMetadata(ctx, `${commandId}@${boundary.streamId}`) },
        };
        [, result] = (await store.appendAll([guard, own])) as [AppendResult, AppendResult];
      } else if (atomically) {
        result = await atomically.db.transaction().execute(async (trx) => {
          const appended = await store.append(own.streamId, own.events, { ...own.options, trx });
          if (!appended.duplicate) await atomically.run(trx, { state, events, eventIds, metadata });
          return appended;
        });
      } else {
        result = await store.append(own.streamId, own.events, own.options);
      }
    } catch (err) {
      if (err instanceof DuplicateCommandRaceError) {
        // The same command committed meanwhile (a repeated Idempotency-Key): its outcome is the answer.
        const first = await store.findAppend(commandId, target.streamId);
        if (first) return replay(first);
      }
      if (err instanceof WrongExpectedRevisionError) {
        // If-Match is about the client's resource: a change of the shared boundary is decided again, not a 412.
        const onBoundary = boundary !== undefined && err.streamId === boundary.streamId;
        if (ctx.expectedRevision !== null && !onBoundary) {
          throw new AppError('precondition_failed', `the resource changed after revision ${ctx.expectedRevision}`, { current_revision: err.actual });
        }
        if (attempt < maxAttempts) continue;
        throw new AppError('concurrency_conflict', onBoundary ? 'a change this one depends on is being made concurrently; retry' : 'the resource is being changed concurrently; retry', {
          current_revision: onBoundary ? revision : err.actual,
        });
      }
      throw err;
    }
    if (result.duplicate) return replay(result);
    const ectx: EventContext = { occurredAt: metadata.occurred_at, actorId: ctx.actor.id };
    const next = events.reduce((s, e) => decider.evolve(s, e, ectx), state);
    return { state: next, revision: result.nextRevision, position: result.position, events };
  }
}

/** A command's outcome, and whether its read model (and the audit trail) had caught up when answered. */
export interface SettledOutcome<State> extends CommandOutcome<State> {
  /** False when the read model had not caught up within the wait budget (COMMAND_WAIT_FOR_PROJECTION_MS). */
  readonly readModelCurrent: boolean;
}

/**
 * The command path of a handler whose response is read from its read model: the command goes
 * through handleCommand, then (read-your-writes) the answer waits, bounded, until the read model
 * and the audit trail include it, so a GET right after the response sees the change.
 */
@Injectable()
export class CommandPath {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly projections: ProjectionsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** The current state of one aggregate, from its stream. */
  load<C, E extends DomainEvent, S>(decider: Decider<C, E, S>, streamId: string): Promise<{ state: S; revision: number }> {
    return loadAggregate(this.store, decider, streamId);
  }

  /** handleCommand on the event store, answered once `readModel` has the outcome (bounded). */
  async handle<C extends { type: string }, E extends DomainEvent, S>(readModel: string, ...command: CommandArguments<C, E, S>): Promise<SettledOutcome<S>> {
    const outcome = await handleCommand(this.store, ...command);
    return { ...outcome, readModelCurrent: await this.settled(readModel, outcome) };
  }

  /**
   * A command on a tenant's own settings aggregate (quota or SLO overrides), decided on whether
   * the tenant exists, read from the tenant's stream (not a read model); answers with the tier then.
   */
  async handleForTenant<C extends { type: string }, E extends DomainEvent, S>(
    readModel: string,
    decider: Decider<C, E, S>,
    target: { streamId: string; tenantId: string },
    command: (tenantExists: boolean) => C,
    ctx: CommandContext,
  ): Promise<SettledOutcome<S> & { readonly tier: Tier | null }> {
    const { state: tenant } = await this.load(tenantDecider, tenantStreamId(target.tenantId));
    const outcome = await this.handle(readModel, decider, target, command(tenant.exists), ctx);
    return { ...outcome, tier: tenant.exists ? tenant.tier : null };
  }

  /** Read-your-writes: true once `readModel` and the audit trail include the outcome (or it wrote nothing). */
  async settled(readModel: string, outcome: CommandOutcome<unknown>): Promise<boolean> {
    return outcome.position ? this.projections.waitForWrite(readModel, outcome.position, this.config.http.commandWaitMs) : true;
  }
}
