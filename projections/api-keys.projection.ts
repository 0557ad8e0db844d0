import { type ApiKey, API_KEY_EVENT_TYPES, type ApiKeyEvent, type ApiKeyState, evolve } from '../src/control-plane/api-keys/api-key.domain';
import type { ProjectionDefinition } from '../src/platform/projections/projection';
import { evolveAggregateRow, stringField } from './support';

export type ApiKeyRow = ApiKey & { readonly revision: number };

/**
 * rm_api_keys: one row per key, read by the admin API and by the key verifier (by key id).
 * Version 3 added agent_id and team_id (null for keys created before bindings existed); version 4
 * allowed_client_identities ([] for keys created before client-certificate restrictions existed).
 */
export const apiKeysProjection: ProjectionDefinition<ApiKeyRow> = {
  name: 'api_keys',
  version: 4,
  table: 'rm_api_keys',
  primaryKey: 'key_id',
  columns: {
    key_id: 'text',
    tenant_id: 'text',
    project_id: 'text',
    agent_id: 'text',
    team_id: 'text',
    label: 'text',
    scopes: 'jsonb',
    expires_at: 'timestamptz',
    allowed_cidrs: 'jsonb',
    allowed_client_identities: 'jsonb',
    metadata: 'jsonb',
    secret_hash: 'text',
    display: 'text',
    status: 'text',
    rotated_from: 'text',
    successor_key_id: 'text',
    rotated_at: 'timestamptz',
    grace_until: 'timestamptz',
    revoked_at: 'timestamptz',
    revocation_reason: 'text',
    created_at: 'timestamptz',
    updated_at: 'timestamptz',
    created_by: 'text',
    revision: 'int',
  },
  ddl: (t) => [
    `CREATE TABLE IF NOT EXISTS ${t} (
      key_id text PRIMARY KEY,
      tenant_id text NOT NULL,
      project_id text,
      agent_id text,
      team_id text,
      label text NOT NULL,
      scopes jsonb NOT NULL,
      expires_at timestamptz,
      allowed_cidrs jsonb NOT NULL DEFAULT '[]'::jsonb,
      allowed_client_identities jsonb NOT NULL DEFAULT '[]'::jsonb,
      metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
      secret_hash text NOT NULL,
      display text NOT NULL,
      status text NOT NULL CHECK (status IN ('active', 'revoked')),
      rotated_from text,
      successor_key_id text,
      rotated_at timestamptz,
      grace_until timestamptz,
      revoked_at timestamptz,
      revocation_reason text,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      created_by text NOT NULL,
      revision integer NOT NULL
    )`,
    `CREATE INDEX IF NOT EXISTS ${t.replace('.', '_')}_tenant ON ${t} (tenant_id, key_id)`,
    `CREATE INDEX IF NOT EXISTS ${t.replace('.', '_')}_project ON ${t} (project_id) WHERE project_id IS NOT NULL`,
  ],
  handles: API_KEY_EVENT_TYPES,
  keyOf: (e) => stringField(e, 'key_id'),
  evolve: (row, e) => evolveAggregateRow<ApiKeyRow, ApiKeyState, ApiKeyEvent>(row, e, evolve, 'key'),
};
