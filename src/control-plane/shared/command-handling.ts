import { createHash, randomUUID } from 'node:crypto';
import { AppError } from '../../platform/errors/app-error';
import { WrongExpectedRevisionError } from '../../platform/event-store/errors';
import type { Actor, AppendResult, Checkpoint, EventMetadata, EventStore, RecordedEvent } from '../../platform/event-store/event-store';
import type { Decider, DomainEvent, EventContext } from './decider';

/** Who asked, and the ids that tie the resulting events to the request. Built at the edge. */
export interface CommandContext {
  readonly actor: Actor;
  readonly requestId: string | null;
  readonly correlationId: string;
  readonly causationId: string | null;
  /** The client's Idempotency-Key, if any; scoped to the actor before use. */
  readonly idempotencyKey: string | null;
  /** If-Match: the revision the client last saw; a mismatch is a 412. */
  readonly expectedRevision: number | null;
  readonly sourceIp: string | null;
  readonly userAgent: string | null;
  /** The clock, injected so tests and replays are deterministic. */
  readonly now: () => Date;
  /** When the request arrived (absent for commands the service issues itself). */
  readonly requestedAt?: Date;
}

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
 * The command-handler shell: load the stream, fold, decide, append with the expected revision.
 * Without If-Match a concurrent change is retried on fresh state (bounded); with If-Match it is a 412.
 * A repeated Idempotency-Key returns the first outcome and writes nothing.
 */
export async function handleCommand<C extends { type: string }, E extends DomainEvent, S>(
  store: EventStore,
  decider: Decider<C, E, S>,
  target: { streamId: string; tenantId: string | null },
  command: C,
  ctx: CommandContext,
): Promise<CommandOutcome<S>> {
  const commandId = ctx.idempotencyKey
    ? `idem:${createHash('sha256').update(`${ctx.actor.type}:${ctx.actor.id}:${command.type}:${ctx.idempotencyKey}`).digest('hex')}`
    : `cmd:${randomUUID()}`;
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
    const history = await store.readStream(target.streamId);
    const revision = history.at(-1)?.streamPosition ?? 0;
    if (ctx.expectedRevision !== null && ctx.expectedRevision !== revision) {
      throw new AppError('precondition_failed', `If-Match revision ${ctx.expectedRevision} is stale; the current revision is ${revision}`, {
        current_revision: revision,
      });
    }
    const state = fold(decider, history);
    const events = decider.decide(command, state);
    if (events.length === 0) return { state, revision, position: null, events };
    const metadata = eventMetadata(ctx, commandId);
    let result: AppendResult;
    try {
      result = await store.append(
        target.streamId,
        events.map((e) => ({ type: e.type, data: e.data })),
        { expectedRevision: revision === 0 ? 'no_stream' : revision, tenantId: target.tenantId, metadata },
      );
    } catch (err) {
      if (err instanceof WrongExpectedRevisionError) {
        if (ctx.expectedRevision !== null) {
          throw new AppError('precondition_failed', `the resource changed after revision ${ctx.expectedRevision}`, { current_revision: err.actual });
        }
        if (attempt < 4) continue;
        throw new AppError('concurrency_conflict', 'the resource is being changed concurrently; retry', { current_revision: err.actual });
      }
      throw err;
    }
    if (result.duplicate) return replay(result);
    const ectx: EventContext = { occurredAt: metadata.occurred_at, actorId: ctx.actor.id };
    const next = events.reduce((s, e) => decider.evolve(s, e, ectx), state);
    return { state: next, revision: result.nextRevision, position: result.position, events };
  }
}

/** The envelope metadata of a command's events: actor, time and ids all from the command's context. */
export function eventMetadata(ctx: CommandContext, commandId: string): EventMetadata {
  return {
    actor: ctx.actor,
    occurred_at: ctx.now().toISOString(),
    correlation_id: ctx.correlationId,
    causation_id: ctx.causationId,
    request_id: ctx.requestId,
    command_id: commandId,
    source_ip: ctx.sourceIp,
    user_agent: ctx.userAgent,
  };
}
