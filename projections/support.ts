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

/** Drop the decider's `exists` discriminant to get the row. */
export function withoutExists<T extends { exists: true }>(state: T): Omit<T, 'exists'> {
  const { exists: _exists, ...row } = state;
  return row;
}
