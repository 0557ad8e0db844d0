import type { RecordedEvent } from '../event-store/event-store';

/** How a read-model column is stored; the engine converts between rows in memory and in SQL. */
export type ColumnKind = 'text' | 'int' | 'bool' | 'jsonb' | 'timestamptz';

/** Thrown by an evolve to put an event in the dead-letter table under a named category. */
export class ProjectionError extends Error {
  constructor(
    readonly category: DeadLetterCategory,
    message: string,
  ) {
    super(message);
    this.name = 'ProjectionError';
  }
}

export type DeadLetterCategory =
  /** The event's schema version is one this projection does not know. */
  | 'unsupported_schema_version'
  /** The event's data does not have the shape its type promises. */
  | 'invalid_event_data'
  /** The event contradicts the row it applies to (e.g. an update before a create). */
  | 'invariant_violation'
  /** Any other exception thrown by evolve. */
  | 'evolve_failed'
  /** Not faulty itself: parked behind an earlier poison event of the same stream. */
  | 'parked_behind';

/**
 * A projection: one read-model table and a pure evolve. Rows are plain objects whose timestamp
 * columns are ISO strings. The engine loads the row an event addresses, calls evolve, and writes
 * the result (null = delete) together with its checkpoint, in one transaction.
 */
export interface ProjectionDefinition<Row extends object = Record<string, unknown>> {
  /** Stable name: the checkpoint, lock and dead letters are keyed by it. */
  readonly name: string;
  /** Bump when evolve or the schema changes meaning: the read model is then rebuilt from the log. */
  readonly version: number;
  /** Table name, unqualified. */
  readonly table: string;
  readonly primaryKey: keyof Row & string;
  readonly columns: { readonly [K in keyof Row & string]: ColumnKind };
  /** DDL of the read model, given the (possibly schema-qualified) table name. */
  ddl(table: string): readonly string[];
  /** Event types this projection reads (every other type is skipped), or 'all'. */
  readonly handles: readonly string[] | 'all';
  /** The primary key of the row an event addresses, or null to ignore the event. */
  keyOf(event: RecordedEvent): string | null;
  /** Pure: the row after the event. Must not read the clock or anything outside its arguments. */
  evolve(row: Row | null, event: RecordedEvent): Row | null;
}

export function handlesType(def: { readonly handles: readonly string[] | 'all' }, type: string): boolean {
  return def.handles === 'all' || def.handles.includes(type);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyProjection = ProjectionDefinition<any>;
