import type { RecordedEvent } from '../event-store/event-store';
import { type AnyProjection, type DeadLetterCategory, handlesType, ProjectionError } from './projection';

export interface DeadLetter {
  readonly event: RecordedEvent;
  readonly category: DeadLetterCategory;
  readonly error: string;
}

export interface FoldResult {
  /** Rows after the batch, by primary key (null = delete). Only rows that changed. */
  readonly changes: Map<string, Record<string, unknown> | null>;
  readonly deadLetters: DeadLetter[];
  /** Streams parked by this batch, with the global position of their poison event. */
  readonly newlyParked: Map<string, number>;
  readonly applied: number;
}

/**
 * Fold one ordered batch into the rows it touches. Pure: `rows` holds the current row of every
 * key the batch addresses (absent = no row). A poison event (evolve throws) goes to the dead
 * letters and parks its stream: that stream's later events are dead-lettered as parked_behind,
 * every other stream goes on.
 */
export function foldBatch(
  def: AnyProjection,
  events: readonly RecordedEvent[],
  rows: ReadonlyMap<string, Record<string, unknown>>,
  parked: ReadonlySet<string>,
): FoldResult {
  const state = new Map<string, Record<string, unknown> | null>(rows);
  const changes = new Map<string, Record<string, unknown> | null>();
  const deadLetters: DeadLetter[] = [];
  const newlyParked = new Map<string, number>();
  let applied = 0;
  for (const event of events) {
    if (!handlesType(def, event.type)) continue;
    if (parked.has(event.streamId) || newlyParked.has(event.streamId)) {
      deadLetters.push({ event, category: 'parked_behind', error: 'an earlier event of this stream is in the dead-letter table' });
      continue;
    }
    let key: string | null;
    let next: Record<string, unknown> | null;
    try {
      key = def.keyOf(event);
      if (key === null) continue;
      const current = state.get(key) ?? null;
      next = def.evolve(current, event) as Record<string, unknown> | null;
    } catch (err) {
      const category = err instanceof ProjectionError ? err.category : 'evolve_failed';
      deadLetters.push({ event, category, error: err instanceof Error ? err.message : String(err) });
      newlyParked.set(event.streamId, event.globalPosition);
      continue;
    }
    state.set(key, next);
    changes.set(key, next);
    applied += 1;
  }
  return { changes, deadLetters, newlyParked, applied };
}

/** The distinct row keys a batch addresses (events whose keyOf throws are left to foldBatch). */
export function keysOf(def: AnyProjection, events: readonly RecordedEvent[]): string[] {
  const keys = new Set<string>();
  for (const e of events) {
    if (!handlesType(def, e.type)) continue;
    try {
      const k = def.keyOf(e);
      if (k !== null) keys.add(k);
    } catch {
      /* foldBatch records it */
    }
  }
  return [...keys];
}
