import { evolve, OPERATOR_EVENT_TYPES, type Operator, type OperatorEvent, type OperatorState } from '../src/control-plane/operators/operator.domain';
import type { ProjectionDefinition } from '../src/platform/projections/projection';
import { evolveAggregateRow, stringField } from './support';

export type OperatorRow = Operator & { readonly revision: number };

/** rm_operators: who may call the admin API, looked up by credential digest. */
export const operatorsProjection: ProjectionDefinition<OperatorRow> = {
  name: 'operators',
  version: 2,
  table: 'rm_operators',
  primaryKey: 'operator_id',
  columns: {
    operator_id: 'text',
    display_name: 'text',
    role: 'text',
    status: 'text',
    token_hash: 'text',
    token_hint: 'text',
    previous_token_hash: 'text',
    previous_token_valid_until: 'timestamptz',
    bootstrap: 'bool',
    disabled_at: 'timestamptz',
    created_at: 'timestamptz',
    updated_at: 'timestamptz',
    created_by: 'text',
    revision: 'int',
  },
  ddl: (t) => [
    `CREATE TABLE IF NOT EXISTS ${t} (
      operator_id text PRIMARY KEY,
      display_name text NOT NULL,
      role text NOT NULL CHECK (role IN ('owner', 'operator', 'auditor')),
      status text NOT NULL CHECK (status IN ('active', 'disabled')),
      token_hash text NOT NULL,
      token_hint text NOT NULL,
      previous_token_hash text,
      previous_token_valid_until timestamptz,
      bootstrap boolean NOT NULL,
      disabled_at timestamptz,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      created_by text NOT NULL,
      revision integer NOT NULL
    )`,
    `CREATE UNIQUE INDEX IF NOT EXISTS ${t.replace('.', '_')}_token ON ${t} (token_hash)`,
    `CREATE INDEX IF NOT EXISTS ${t.replace('.', '_')}_previous_token ON ${t} (previous_token_hash) WHERE previous_token_hash IS NOT NULL`,
  ],
  handles: OPERATOR_EVENT_TYPES,
  keyOf: (e) => stringField(e, 'operator_id'),
  evolve: (row, e) => evolveAggregateRow<OperatorRow, OperatorState, OperatorEvent>(row, e, evolve, 'operator'),
};
