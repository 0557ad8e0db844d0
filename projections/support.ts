import type { EventContext } from '../src/control-plane/shared/decider';
import type { RecordedEvent } from '../src/platform/event-store/event-store';
import { ProjectionError } from '../src/platform/projections/projection';

/** The envelope facts a domain evolve may read, taken from the stored event. */
export function contextOf(e: RecordedEvent): EventContext {
  return { occurredAt: e.metadata.occurred_at, actorId: e.metadata.actor.id };
}

export function requireSchemaVersion(e: RecordedEvent, supported: number): void {
  if (e.schemaVersion !== supported) {
    throw new ProjectionError('unsupported_schema_version', `${e.type} schema version ${e.schemaVersion} is not supported (expected ${supported})`);
  }
}

export function stringField(e: RecordedEvent, field: string): string {
  const v = (e.data as Record<string, unknown> | null)?.[field];
  if (typeof v !== 'string' || v === '') throw new ProjectionError('invalid_event_data', `${e.type} has no ${field}`);
  return v;
}

/**
 * The evolve of an aggregate's read model: the row is the aggregate's state (plus the stream
 * revision), folded with the domain's own evolve. Unknown schema versions and events for an
 * aggregate that never existed go to the dead-letter table.
 */
export function evolveAggregateRow<Row extends { revision: number }, State extends { exists: boolean }, Event>(
  row: Row | null,
  e: RecordedEvent,
  evolve: (state: State, event: Event, ctx: EventContext) => State,
  what: string,
): Row {
  requireSchemaVersion(e, 1);
  const state = (row ? { exists: true, ...row } : { exists: false }) as unknown as State;
  const next = evolve(state, e as unknown as Event, contextOf(e));
  if (!next.exists) throw new ProjectionError('invariant_violation', `${e.type} for a ${what} that was never created`);
  if (row && next === state) throw new ProjectionError('invariant_violation', `${e.type} did not apply`);
  const { exists: _exists, revision: _revision, ...rest } = next as unknown as Row & { exists: true };
  return { ...rest, revision: e.streamPosition } as unknown as Row;
}
