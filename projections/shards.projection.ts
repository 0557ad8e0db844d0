import { evolve, type Shard, SHARD_EVENT_TYPES, type ShardEvent, type ShardState } from '../src/control-plane/shards/shard.domain';
import { type ProjectionDefinition, ProjectionError } from '../src/platform/projections/projection';
import { evolveAggregateRow, stringField } from './support';

export type ShardRow = Shard & { readonly revision: number };

/** rm_shards: one row per registered shard (the same fold the command side uses). The shared shard has no row. */
export const shardsProjection: ProjectionDefinition<ShardRow> = {
  name: 'shards',
  version: 1,
  table: 'rm_shards',
  primaryKey: 'shard_id',
  columns: {
    shard_id: 'text',
    url_ref: 'text',
    capacity_note: 'text',
    state: 'text',
    registered_at: 'timestamptz',
    updated_at: 'timestamptz',
    updated_by: 'text',
    revision: 'int',
  },
  ddl: (t) => [
    `CREATE TABLE IF NOT EXISTS ${t} (
      shard_id text PRIMARY KEY,
      url_ref text NOT NULL,
      capacity_note text NOT NULL,
      state text NOT NULL CHECK (state IN ('active', 'draining', 'retired')),
      registered_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      updated_by text NOT NULL,
      revision integer NOT NULL
    )`,
  ],
  handles: SHARD_EVENT_TYPES,
  keyOf: (e) => stringField(e, 'shard_id'),
  evolve(row, e) {
    const shardId = stringField(e, 'shard_id');
    if (row && row.shard_id !== shardId) throw new ProjectionError('invariant_violation', `${e.type} for shard ${shardId} applied to the row of ${row.shard_id}`);
    return evolveAggregateRow<ShardRow, ShardState, ShardEvent>(row, e, evolve, 'shard');
  },
};
