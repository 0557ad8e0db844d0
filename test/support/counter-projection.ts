import type { ProjectionDefinition } from '../../src/platform/projections/projection';
import { ProjectionError } from '../../src/platform/projections/projection';

export interface CounterRow {
  event_id: string;
  stream_id: string;
  applied_count: number;
}

/**
 * A deliberately non-idempotent projection for engine tests: one row per event, counting how many
 * times it was applied. Exactly-once delivery leaves every count at 1. An event whose data has
 * `poison: true` makes evolve throw.
 */
export const counterProjection: ProjectionDefinition<CounterRow> = {
  name: 'test_counter',
  version: 1,
  table: 'rm_test_counter',
  primaryKey: 'event_id',
  columns: { event_id: 'text', stream_id: 'text', applied_count: 'int' },
  ddl: (t) => [`CREATE TABLE IF NOT EXISTS ${t} (event_id text PRIMARY KEY, stream_id text NOT NULL, applied_count integer NOT NULL)`],
  handles: ['Counted'],
  keyOf: (e) => e.eventId,
  evolve(row, e) {
    const data = e.data as { poison?: boolean; bad?: boolean };
    if (data.poison) throw new Error('poison event');
    if (data.bad) throw new ProjectionError('invalid_event_data', 'bad shape');
    return { event_id: e.eventId, stream_id: e.streamId, applied_count: (row?.applied_count ?? 0) + 1 };
  },
};
