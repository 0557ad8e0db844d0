import { sql, type Kysely, type Migration, type MigrationProvider, Migrator } from 'kysely';
import type { DB } from './schema';

/**
 * Platform schema: the event store and the projection engine's bookkeeping. SQL accepted by
 * both PostgreSQL 15 and PGlite (PostgreSQL 17). Read-model tables belong to projections/.
 * Never edit a released migration: add a new one.
 */
const migrations: Record<string, Migration> = {
  '0001_event_store': {
    async up(db: Kysely<unknown>) {
      await sql`
        CREATE TABLE es_events (
          global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
          stream_id text NOT NULL,
          stream_position bigint NOT NULL CHECK (stream_position >= 1),
          tenant_id text,
          event_id uuid NOT NULL UNIQUE,
          type text NOT NULL,
          schema_version integer NOT NULL CHECK (schema_version >= 1),
          data jsonb NOT NULL,
          metadata jsonb NOT NULL,
          recorded_at timestamptz NOT NULL,
          prev_hash text NOT NULL,
          hash text NOT NULL,
          CONSTRAINT es_events_stream_position_unique UNIQUE (stream_id, stream_position)
        )`.execute(db);
      // Gap-safe global reads walk (transaction_id, global_position).
      await sql`CREATE INDEX es_events_tx_order ON es_events (transaction_id, global_position)`.execute(db);
      await sql`CREATE INDEX es_events_tenant ON es_events (tenant_id, global_position) WHERE tenant_id IS NOT NULL`.execute(db);
      await sql`
        CREATE TABLE es_streams (
          stream_id text PRIMARY KEY,
          tenant_id text,
          revision bigint NOT NULL CHECK (revision >= 1),
          last_hash text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now()
        )`.execute(db);
      await sql`
        CREATE TABLE es_commands (
          command_id text PRIMARY KEY,
          stream_id text NOT NULL,
          result jsonb NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now()
        )`.execute(db);
    },
  },
  '0002_projection_engine': {
    async up(db: Kysely<unknown>) {
      await sql`
        CREATE TABLE proj_checkpoints (
          projection text PRIMARY KEY,
          version integer NOT NULL,
          last_transaction_id xid8 NOT NULL DEFAULT '0'::xid8,
          last_global_position bigint NOT NULL DEFAULT 0,
          events_applied bigint NOT NULL DEFAULT 0,
          owner text,
          heartbeat_at timestamptz,
          updated_at timestamptz NOT NULL DEFAULT now()
        )`.execute(db);
      await sql`
        CREATE TABLE proj_dead_letters (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          projection text NOT NULL,
          global_position bigint NOT NULL,
          transaction_id xid8 NOT NULL,
          stream_id text NOT NULL,
          event_id uuid NOT NULL,
          event_type text NOT NULL,
          category text NOT NULL,
          error text NOT NULL,
          status text NOT NULL CHECK (status IN ('parked', 'replayed', 'discarded')),
          created_at timestamptz NOT NULL DEFAULT now(),
          resolved_at timestamptz,
          CONSTRAINT proj_dead_letters_once UNIQUE (projection, event_id)
        )`.execute(db);
      await sql`CREATE INDEX proj_dead_letters_open ON proj_dead_letters (projection, stream_id, transaction_id, global_position) WHERE status = 'parked'`.execute(db);
      await sql`
        CREATE TABLE proj_parked_streams (
          projection text NOT NULL,
          stream_id text NOT NULL,
          parked_at_position bigint NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (projection, stream_id)
        )`.execute(db);
    },
  },
  '0003_api_key_usage': {
    async up(db: Kysely<unknown>) {
      // Operational telemetry, not an event: last use is recorded in batches, never per request.
      await sql`
        CREATE TABLE api_key_usage (
          key_id text PRIMARY KEY,
          last_used_at timestamptz NOT NULL
        )`.execute(db);
    },
  },
};

class InCodeMigrations implements MigrationProvider {
  getMigrations(): Promise<Record<string, Migration>> {
    return Promise.resolve(migrations);
  }
}

export function migrator(db: Kysely<DB>): Migrator {
  return new Migrator({
    db,
    provider: new InCodeMigrations(),
    migrationTableName: 'aionis_migrations',
    migrationLockTableName: 'aionis_migrations_lock',
  });
}

/** Apply every pending migration; throws with the failing migration's name. */
export async function migrateToLatest(db: Kysely<DB>): Promise<string[]> {
  const { error, results } = await migrator(db).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Pending migration names (empty = current). */
export async function pendingMigrations(db: Kysely<DB>): Promise<string[]> {
  const all = await migrator(db).getMigrations();
  return all.filter((m) => m.executedAt === undefined).map((m) => m.name);
}

export const LATEST_MIGRATION = Object.keys(migrations).sort().at(-1) ?? '';
