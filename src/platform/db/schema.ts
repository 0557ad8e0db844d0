import type { ColumnType, Generated } from 'kysely';

/** Kysely types for the platform tables and the read models. The DDL lives in migrations.ts and projections/. */
export interface EsEventsTable {
  global_position: Generated<number>;
  transaction_id: ColumnType<string, never, never>;
  stream_id: string;
  stream_position: number;
  tenant_id: string | null;
  event_id: string;
  type: string;
  schema_version: number;
  data: ColumnType<unknown, string, string>;
  metadata: ColumnType<unknown, string, string>;
  recorded_at: ColumnType<Date, string, never>;
  prev_hash: string;
  hash: string;
}

export interface EsStreamsTable {
  stream_id: string;
  tenant_id: string | null;
  revision: number;
  last_hash: string;
  created_at: ColumnType<Date, string | undefined, never>;
  updated_at: ColumnType<Date, string | undefined, string>;
}

export interface EsCommandsTable {
  command_id: string;
  stream_id: string;
  result: ColumnType<unknown, string, never>;
  created_at: ColumnType<Date, string | undefined, never>;
}

export interface ProjCheckpointsTable {
  projection: string;
  version: number;
  last_transaction_id: ColumnType<string, string | undefined, string>;
  last_global_position: number;
  events_applied: number;
  owner: string | null;
  heartbeat_at: ColumnType<Date | null, string | null | undefined, string | null>;
  updated_at: ColumnType<Date, string | undefined, string>;
}

export interface ProjDeadLettersTable {
  id: Generated<number>;
  projection: string;
  global_position: number;
  transaction_id: string;
  stream_id: string;
  event_id: string;
  event_type: string;
  category: string;
  error: string;
  status: string;
  created_at: ColumnType<Date, string | undefined, never>;
  resolved_at: ColumnType<Date | null, string | null | undefined, string | null>;
}

export interface ProjRebuildsTable {
  rebuild_id: string;
  projection: string;
  target_version: number;
  shadow_table: string;
  status: string;
  last_transaction_id: ColumnType<string, string | undefined, string>;
  last_global_position: number;
  events_read: number;
  events_applied: number;
  started_by: string;
  started_at: ColumnType<Date, string | undefined, never>;
  updated_at: ColumnType<Date, string | undefined, string>;
  finished_at: ColumnType<Date | null, string | null | undefined, string | null>;
  result: ColumnType<unknown, string | null | undefined, string | null>;
}

export interface ProjParkedStreamsTable {
  projection: string;
  stream_id: string;
  parked_at_position: number;
  created_at: ColumnType<Date, string | undefined, never>;
}

export interface RmTenantsTable {
  tenant_id: string;
  display_name: string;
  status: string;
  tier: string;
  metadata: ColumnType<unknown, string, string>;
  revision: number;
  created_at: ColumnType<Date, string, string>;
  updated_at: ColumnType<Date, string, string>;
  suspended_at: ColumnType<Date | null, string | null, string | null>;
  suspension_reason: string | null;
  created_by: string;
}

export interface RmOperatorsTable {
  operator_id: string;
  display_name: string;
  role: string;
  status: string;
  token_hash: string;
  token_hint: string;
  previous_token_hash: string | null;
  previous_token_valid_until: ColumnType<Date | null, string | null, string | null>;
  bootstrap: boolean;
  disabled_at: ColumnType<Date | null, string | null, string | null>;
  revision: number;
  created_at: ColumnType<Date, string, string>;
  updated_at: ColumnType<Date, string, string>;
  created_by: string;
}

export interface RmProjectsTable {
  project_id: string;
  tenant_id: string;
  display_name: string;
  metadata: ColumnType<unknown, string, string>;
  status: string;
  created_at: ColumnType<Date, string, string>;
  updated_at: ColumnType<Date, string, string>;
  archived_at: ColumnType<Date | null, string | null, string | null>;
  archive_reason: string | null;
  created_by: string;
  revision: number;
}

export interface ApiKeyUsageTable {
  key_id: string;
  last_used_at: ColumnType<Date, string, string>;
}

export interface RmApiKeysTable {
  key_id: string;
  tenant_id: string;
  project_id: string | null;
  label: string;
  scopes: ColumnType<unknown, string, string>;
  expires_at: ColumnType<Date | null, string | null, string | null>;
  allowed_cidrs: ColumnType<unknown, string, string>;
  allowed_client_identities: ColumnType<unknown, string, string>;
  metadata: ColumnType<unknown, string, string>;
  secret_hash: string;
  display: string;
  status: string;
  rotated_from: string | null;
  successor_key_id: string | null;
  rotated_at: ColumnType<Date | null, string | null, string | null>;
  grace_until: ColumnType<Date | null, string | null, string | null>;
  revoked_at: ColumnType<Date | null, string | null, string | null>;
  revocation_reason: string | null;
  created_at: ColumnType<Date, string, string>;
  updated_at: ColumnType<Date, string, string>;
  created_by: string;
  revision: number;
}

export interface DB {
  es_events: EsEventsTable;
  es_streams: EsStreamsTable;
  es_commands: EsCommandsTable;
  proj_checkpoints: ProjCheckpointsTable;
  proj_dead_letters: ProjDeadLettersTable;
  proj_parked_streams: ProjParkedStreamsTable;
  proj_rebuilds: ProjRebuildsTable;
  rm_tenants: RmTenantsTable;
  rm_operators: RmOperatorsTable;
  rm_projects: RmProjectsTable;
  rm_api_keys: RmApiKeysTable;
  api_key_usage: ApiKeyUsageTable;
  es_seals: EsSealsTable;
  key_propagation_samples: KeyPropagationSamplesTable;
  ops_incidents: OpsIncidentsTable;
  operator_sessions: OperatorSessionsTable;
}

/** Console sessions (migration 0012): a digest of the session id, never the id. */
export interface OperatorSessionsTable {
  session_hash: string;
  session_key: string;
  operator_id: string;
  created_at: ColumnType<Date, string, never>;
  last_seen_at: ColumnType<Date, string, string>;
  idle_timeout_ms: number;
  expires_at: ColumnType<Date, string, never>;
  ended_at: ColumnType<Date | null, string | null | undefined, string | null>;
}

/** Global seals (migration 0008). `tenants`: {tenant id or "(global)": {count, digest}}. */
export interface EsSealsTable {
  seal_no: number;
  from_transaction_id: string;
  from_global_position: number;
  to_transaction_id: string;
  to_global_position: number;
  event_count: number;
  range_digest: string;
  tenants: ColumnType<unknown, string, never>;
  tenants_root: string;
  prev_seal_hash: string;
  seal_hash: string;
  signature: string;
  key_id: string;
  public_key: string;
  sealed_at: ColumnType<Date, string, never>;
}

export interface KeyPropagationSamplesTable {
  event_global_position: number;
  event_id: string;
  key_id: string;
  change: string;
  instance_id: string;
  event_recorded_at: ColumnType<Date, string, never>;
  observed_at: ColumnType<Date, string, never>;
}

export interface OpsIncidentsTable {
  incident_id: Generated<number>;
  kind: string;
  subject: string;
  started_at: ColumnType<Date, string, never>;
  ended_at: ColumnType<Date | null, string | null | undefined, string | null>;
  peak_value: number;
  instance_id: string;
}
