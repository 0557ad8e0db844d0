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
  '0004_memory': {
    async up(db: Kysely<unknown>) {
      // The data plane's system of record. Tenant, project and scope are separate columns on every
      // table and part of every key: no row is addressable without its tenant.
      // project_key is the key's project id, or '' for tenant-wide keys.
      await sql`
        CREATE TABLE memory_scopes (
          tenant_id text NOT NULL,
          project_key text NOT NULL,
          scope text NOT NULL,
          head_commit_id uuid,
          head_hash text,
          commit_count bigint NOT NULL DEFAULT 0,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, project_key, scope)
        )`.execute(db);
      await sql`
        CREATE TABLE memory_commits (
          commit_id uuid PRIMARY KEY,
          tenant_id text NOT NULL,
          project_key text NOT NULL,
          scope text NOT NULL,
          seq bigint NOT NULL,
          parent_commit_id uuid,
          parent_hash text,
          commit_hash text NOT NULL,
          input_sha256 text NOT NULL,
          diff jsonb NOT NULL,
          diff_sha256 text NOT NULL,
          actor_key_id text NOT NULL,
          created_at timestamptz NOT NULL,
          CONSTRAINT memory_commits_seq UNIQUE (tenant_id, project_key, scope, seq)
        )`.execute(db);
      await sql`
        CREATE TABLE memory_nodes (
          tenant_id text NOT NULL,
          project_key text NOT NULL,
          scope text NOT NULL,
          node_id uuid NOT NULL,
          client_id text,
          type text NOT NULL,
          title text,
          text_summary text,
          slots jsonb NOT NULL DEFAULT '{}'::jsonb,
          tier text NOT NULL,
          salience real NOT NULL,
          importance real NOT NULL,
          confidence real NOT NULL,
          content_sha256 text NOT NULL,
          embedding real[],
          embedding_status text NOT NULL CHECK (embedding_status IN ('pending', 'ready', 'failed')),
          embedding_model text,
          commit_id uuid NOT NULL,
          created_at timestamptz NOT NULL,
          updated_at timestamptz NOT NULL,
          PRIMARY KEY (tenant_id, project_key, scope, node_id)
        )`.execute(db);
      await sql`CREATE INDEX memory_nodes_client ON memory_nodes (tenant_id, project_key, scope, client_id) WHERE client_id IS NOT NULL`.execute(db);
      await sql`CREATE INDEX memory_nodes_type ON memory_nodes (tenant_id, project_key, scope, type, node_id)`.execute(db);
      await sql`
        CREATE TABLE memory_edges (
          tenant_id text NOT NULL,
          project_key text NOT NULL,
          scope text NOT NULL,
          edge_id uuid NOT NULL,
          type text NOT NULL,
          src_id uuid NOT NULL,
          dst_id uuid NOT NULL,
          weight real NOT NULL,
          commit_id uuid NOT NULL,
          created_at timestamptz NOT NULL,
          PRIMARY KEY (tenant_id, project_key, scope, edge_id),
          FOREIGN KEY (tenant_id, project_key, scope, src_id) REFERENCES memory_nodes (tenant_id, project_key, scope, node_id),
          FOREIGN KEY (tenant_id, project_key, scope, dst_id) REFERENCES memory_nodes (tenant_id, project_key, scope, node_id)
        )`.execute(db);
      await sql`CREATE INDEX memory_edges_src ON memory_edges (tenant_id, project_key, scope, src_id)`.execute(db);
      await sql`CREATE INDEX memory_edges_dst ON memory_edges (tenant_id, project_key, scope, dst_id)`.execute(db);
      await sql`
        CREATE TABLE memory_outbox (
          job_id uuid PRIMARY KEY,
          tenant_id text NOT NULL,
          project_key text NOT NULL,
          scope text NOT NULL,
          commit_id uuid NOT NULL,
          type text NOT NULL,
          payload jsonb NOT NULL,
          status text NOT NULL CHECK (status IN ('pending', 'processing', 'done', 'dead_letter', 'discarded')),
          attempts integer NOT NULL DEFAULT 0,
          max_attempts integer NOT NULL DEFAULT 8,
          next_attempt_at timestamptz NOT NULL,
          claimed_at timestamptz,
          claimed_by text,
          last_error text,
          created_at timestamptz NOT NULL,
          updated_at timestamptz NOT NULL
        )`.execute(db);
      await sql`CREATE INDEX memory_outbox_due ON memory_outbox (next_attempt_at) WHERE status = 'pending'`.execute(db);
      await sql`CREATE INDEX memory_outbox_tenant ON memory_outbox (tenant_id, status)`.execute(db);
    },
  },
  '0005_quota_enforcement': {
    async up(db: Kysely<unknown>) {
      // Shared by every API process: a token bucket per tenant and endpoint class, updated under
      // its row lock (exact: never admits more than the limit), and monthly operation counters.
      await sql`
        CREATE TABLE rate_limit_buckets (
          tenant_id text NOT NULL,
          endpoint_class text NOT NULL,
          tokens double precision NOT NULL,
          updated_at timestamptz NOT NULL,
          PRIMARY KEY (tenant_id, endpoint_class)
        )`.execute(db);
      await sql`
        CREATE TABLE quota_usage (
          tenant_id text NOT NULL,
          period text NOT NULL,
          operations bigint NOT NULL DEFAULT 0,
          PRIMARY KEY (tenant_id, period)
        )`.execute(db);
    },
  },
  '0006_telemetry': {
    async up(db: Kysely<unknown>) {
      // Per-minute rollups of authenticated memory requests; flushed in batches, never a row per request.
      // buckets[i] counts requests with latency <= TELEMETRY_BOUNDS_MS[i] (last = +inf).
      await sql`
        CREATE TABLE telemetry_rollups (
          tenant_id text NOT NULL,
          project_key text NOT NULL,
          key_id text NOT NULL,
          endpoint text NOT NULL,
          minute timestamptz NOT NULL,
          total bigint NOT NULL,
          status_2xx bigint NOT NULL,
          status_4xx bigint NOT NULL,
          status_429 bigint NOT NULL,
          status_5xx bigint NOT NULL,
          latency_sum_ms double precision NOT NULL,
          buckets bigint[] NOT NULL,
          PRIMARY KEY (tenant_id, minute, endpoint, project_key, key_id)
        )`.execute(db);
    },
  },
  '0007_projection_rebuilds': {
    async up(db: Kysely<unknown>) {
      // Blue/green rebuilds: one row per rebuild, its shadow table and its own checkpoint (written
      // with the shadow rows in one transaction, so a killed rebuild resumes where it stopped).
      await sql`
        CREATE TABLE proj_rebuilds (
          rebuild_id text PRIMARY KEY,
          projection text NOT NULL,
          target_version integer NOT NULL,
          shadow_table text NOT NULL,
          status text NOT NULL CHECK (status IN ('running', 'swapped', 'failed', 'aborted')),
          last_transaction_id xid8 NOT NULL DEFAULT '0'::xid8,
          last_global_position bigint NOT NULL DEFAULT 0,
          events_read bigint NOT NULL DEFAULT 0,
          events_applied bigint NOT NULL DEFAULT 0,
          started_by text NOT NULL,
          started_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now(),
          finished_at timestamptz,
          result jsonb
        )`.execute(db);
      await sql`CREATE UNIQUE INDEX proj_rebuilds_one_running ON proj_rebuilds (projection) WHERE status = 'running'`.execute(db);
    },
  },
  '0008_audit_seals': {
    async up(db: Kysely<unknown>) {
      // Global seals (docs/audit-seals.md): signed checkpoints over consecutive ranges of the log
      // in commit order, (from, to]. seal_no is dense (1, 2, 3...): the primary key refuses a second
      // seal with the same number. Like es_events, the table is append-only by convention (no trigger).
      await sql`
        CREATE TABLE es_seals (
          seal_no bigint PRIMARY KEY CHECK (seal_no >= 1),
          from_transaction_id xid8 NOT NULL,
          from_global_position bigint NOT NULL,
          to_transaction_id xid8 NOT NULL,
          to_global_position bigint NOT NULL,
          event_count integer NOT NULL CHECK (event_count >= 1),
          range_digest text NOT NULL,
          tenants jsonb NOT NULL,
          tenants_root text NOT NULL,
          prev_seal_hash text NOT NULL,
          seal_hash text NOT NULL UNIQUE,
          signature text NOT NULL,
          key_id text NOT NULL,
          public_key text NOT NULL,
          sealed_at timestamptz NOT NULL
        )`.execute(db);
      // Exports look seals up by the end of their range.
      await sql`CREATE INDEX es_seals_to ON es_seals (to_transaction_id, to_global_position)`.execute(db);
    },
  },
  '0009_governance_measurements': {
    async up(db: Kysely<unknown>) {
      // Operational measurements the governance report needs and the log cannot hold (they are
      // about the system observing itself, written by every instance): when each API instance
      // stopped trusting its key cache after a revocation or rotation, and projection lag incidents.
      await sql`
        CREATE TABLE key_propagation_samples (
          event_global_position bigint NOT NULL,
          event_id uuid NOT NULL,
          key_id text NOT NULL,
          change text NOT NULL,
          instance_id text NOT NULL,
          event_recorded_at timestamptz NOT NULL,
          observed_at timestamptz NOT NULL,
          PRIMARY KEY (event_global_position, instance_id)
        )`.execute(db);
      await sql`CREATE INDEX key_propagation_samples_recorded ON key_propagation_samples (event_recorded_at)`.execute(db);
      await sql`
        CREATE TABLE ops_incidents (
          incident_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          kind text NOT NULL,
          subject text NOT NULL,
          started_at timestamptz NOT NULL,
          ended_at timestamptz,
          peak_value double precision NOT NULL,
          instance_id text NOT NULL
        )`.execute(db);
      // At most one open incident per kind and subject, across instances.
      await sql`CREATE UNIQUE INDEX ops_incidents_open ON ops_incidents (kind, subject) WHERE ended_at IS NULL`.execute(db);
    },
  },
  '0010_memory_contract': {
    async up(db: Kysely<unknown>) {
      // The data plane serves the open core's memory contract (docs/kernel-compatibility.md).
      // Nodes: lanes and owners, references, last activation. Rows written before this release
      // were visible to every key of their tenant and project: they become `shared`, which keeps
      // them visible. New rows always name their lane.
      await sql`ALTER TABLE memory_nodes ADD COLUMN memory_lane text NOT NULL DEFAULT 'shared' CHECK (memory_lane IN ('private', 'shared'))`.execute(db);
      await sql`ALTER TABLE memory_nodes ALTER COLUMN memory_lane DROP DEFAULT`.execute(db);
      for (const column of ['producer_agent_id', 'owner_agent_id', 'owner_team_id', 'raw_ref', 'evidence_ref']) {
        await sql`ALTER TABLE memory_nodes ADD COLUMN ${sql.ref(column)} text`.execute(db);
      }
      await sql`ALTER TABLE memory_nodes ADD COLUMN last_activated timestamptz`.execute(db);
      // First write wins (contract §1.9): a node's content is never replaced, so no content hash.
      await sql`ALTER TABLE memory_nodes DROP COLUMN content_sha256`.execute(db);
      // Node ids are unique per tenant and project (an explicit id in another scope is refused).
      await sql`CREATE INDEX memory_nodes_by_id ON memory_nodes (tenant_id, project_key, node_id)`.execute(db);
      await sql`DROP INDEX memory_nodes_client`.execute(db);
      await sql`CREATE UNIQUE INDEX memory_nodes_client ON memory_nodes (tenant_id, project_key, scope, client_id) WHERE client_id IS NOT NULL`.execute(db);
      // Recall candidates: the scope's ready nodes.
      await sql`CREATE INDEX memory_nodes_ready ON memory_nodes (tenant_id, project_key, scope) WHERE embedding_status = 'ready'`.execute(db);
      await sql`CREATE INDEX memory_nodes_created ON memory_nodes (tenant_id, project_key, scope, created_at DESC, node_id DESC)`.execute(db);

      // Edges: confidence, decay and last activation; one edge per (type, src, dst), upserted.
      await sql`ALTER TABLE memory_edges ADD COLUMN confidence real NOT NULL DEFAULT 0.5`.execute(db);
      await sql`ALTER TABLE memory_edges ADD COLUMN decay_rate real NOT NULL DEFAULT 0.01`.execute(db);
      await sql`ALTER TABLE memory_edges ADD COLUMN last_activated timestamptz`.execute(db);
      await sql`CREATE UNIQUE INDEX memory_edges_pair ON memory_edges (tenant_id, project_key, scope, type, src_id, dst_id)`.execute(db);

      // Commits: the contract's commit (parent, actor, versions, kind, hash) plus the hosted chain.
      // format 1 = written by the previous release (its commit hash was its chain link); format 2 = contract.
      await sql`ALTER TABLE memory_commits ADD COLUMN format smallint NOT NULL DEFAULT 1`.execute(db);
      await sql`ALTER TABLE memory_commits ALTER COLUMN format SET DEFAULT 2`.execute(db);
      await sql`ALTER TABLE memory_commits ADD COLUMN kind text NOT NULL DEFAULT 'write'`.execute(db);
      for (const column of ['actor', 'model_version', 'prompt_version', 'request_id']) {
        await sql`ALTER TABLE memory_commits ADD COLUMN ${sql.ref(column)} text`.execute(db);
      }
      await sql`ALTER TABLE memory_commits RENAME COLUMN actor_key_id TO key_id`.execute(db);
      await sql`ALTER TABLE memory_commits RENAME COLUMN parent_commit_id TO parent_id`.execute(db);
      await sql`ALTER TABLE memory_commits ADD COLUMN chain_prev_hash text`.execute(db);
      await sql`ALTER TABLE memory_commits ADD COLUMN chain_hash text`.execute(db);
      await sql`UPDATE memory_commits SET chain_prev_hash = parent_hash, chain_hash = commit_hash`.execute(db);
      await sql`ALTER TABLE memory_commits ALTER COLUMN chain_hash SET NOT NULL`.execute(db);
      // An identical write finds its commit again by hash.
      await sql`CREATE UNIQUE INDEX memory_commits_hash ON memory_commits (tenant_id, project_key, scope, commit_hash)`.execute(db);

      // Rule definitions: one per rule node, created with the node (contract §5.1).
      await sql`
        CREATE TABLE memory_rule_defs (
          tenant_id text NOT NULL,
          project_key text NOT NULL,
          scope text NOT NULL,
          rule_node_id uuid NOT NULL,
          state text NOT NULL CHECK (state IN ('draft', 'shadow', 'active', 'disabled')),
          if_json jsonb NOT NULL,
          then_json jsonb NOT NULL,
          exceptions_json jsonb NOT NULL,
          rule_scope text NOT NULL CHECK (rule_scope IN ('global', 'team', 'agent')),
          target_agent_id text,
          target_team_id text,
          positive_count bigint NOT NULL DEFAULT 0,
          negative_count bigint NOT NULL DEFAULT 0,
          commit_id uuid NOT NULL,
          updated_at timestamptz NOT NULL,
          PRIMARY KEY (tenant_id, project_key, scope, rule_node_id),
          FOREIGN KEY (tenant_id, project_key, scope, rule_node_id) REFERENCES memory_nodes (tenant_id, project_key, scope, node_id)
        )`.execute(db);
      await sql`CREATE INDEX memory_rule_defs_live ON memory_rule_defs (tenant_id, project_key, scope, updated_at DESC) WHERE state IN ('shadow', 'active')`.execute(db);

      // Pack imports: which pack (by hash) became which commit, and which key imported it.
      await sql`
        CREATE TABLE memory_pack_imports (
          tenant_id text NOT NULL,
          project_key text NOT NULL,
          scope text NOT NULL,
          pack_sha256 text NOT NULL,
          commit_id uuid NOT NULL,
          key_id text NOT NULL,
          nodes integer NOT NULL,
          edges integer NOT NULL,
          imported_at timestamptz NOT NULL,
          PRIMARY KEY (tenant_id, project_key, scope, pack_sha256)
        )`.execute(db);

      // The stored-node limit is checked against this counter, maintained in the write's own
      // transaction (never a count over the tenant's nodes).
      await sql`CREATE TABLE memory_tenant_counters (tenant_id text PRIMARY KEY, nodes bigint NOT NULL CHECK (nodes >= 0))`.execute(db);
      await sql`INSERT INTO memory_tenant_counters (tenant_id, nodes) SELECT tenant_id, count(*) FROM memory_nodes GROUP BY tenant_id`.execute(db);

      // Deployment facts the data plane must not change silently (the embedding dimension).
      await sql`CREATE TABLE memory_settings (name text PRIMARY KEY, value jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`.execute(db);
      // The previous release embedded in 256 dimensions: a database holding such vectors keeps saying so.
      await sql`
        INSERT INTO memory_settings (name, value)
        SELECT 'embedding_dimension', to_jsonb(array_length(embedding, 1)) FROM memory_nodes WHERE embedding IS NOT NULL LIMIT 1`.execute(db);
    },
  },
  '0011_memory_policy': {
    async up(db: Kysely<unknown>) {
      // Memory -> Policy (contract §5, §6). A tools/select decision: what was chosen, from which
      // candidates, under which policy (stored, and its hash), for which context (after identity
      // injection), against the scope's memory as of which commit; decision_hash covers all of it.
      await sql`
        CREATE TABLE memory_decisions (
          tenant_id text NOT NULL,
          project_key text NOT NULL,
          scope text NOT NULL,
          decision_id uuid NOT NULL,
          kind text NOT NULL CHECK (kind IN ('tools_select', 'created_from_feedback')),
          run_id text,
          selected_tool text,
          candidates jsonb NOT NULL,
          context jsonb NOT NULL,
          context_sha256 text NOT NULL,
          policy jsonb NOT NULL,
          policy_sha256 text NOT NULL,
          source_rule_ids jsonb NOT NULL,
          evaluation jsonb NOT NULL,
          metadata jsonb NOT NULL,
          rules_head_commit_id uuid,
          rules_head_seq bigint NOT NULL,
          commit_id uuid,
          key_id text NOT NULL,
          decision_hash text NOT NULL,
          created_at timestamptz NOT NULL,
          PRIMARY KEY (tenant_id, project_key, scope, decision_id)
        )`.execute(db);
      await sql`CREATE INDEX memory_decisions_run ON memory_decisions (tenant_id, project_key, scope, run_id, created_at DESC) WHERE run_id IS NOT NULL`.execute(db);
      await sql`CREATE INDEX memory_decisions_match ON memory_decisions (tenant_id, project_key, scope, selected_tool, context_sha256, created_at DESC)`.execute(db);
      await sql`CREATE INDEX memory_decisions_created ON memory_decisions (tenant_id, created_at)`.execute(db);
      // One row per rule credited by a feedback (rules/feedback: source rule_feedback; tools/feedback: tools_feedback).
      await sql`
        CREATE TABLE memory_rule_feedback (
          tenant_id text NOT NULL,
          project_key text NOT NULL,
          scope text NOT NULL,
          feedback_id uuid NOT NULL,
          rule_node_id uuid NOT NULL,
          run_id text,
          outcome text NOT NULL CHECK (outcome IN ('positive', 'negative', 'neutral')),
          note text,
          source text NOT NULL CHECK (source IN ('rule_feedback', 'tools_feedback')),
          decision_id uuid,
          decision_link_mode text CHECK (decision_link_mode IN ('provided', 'inferred', 'created_from_feedback')),
          commit_id uuid NOT NULL,
          created_at timestamptz NOT NULL,
          PRIMARY KEY (tenant_id, project_key, scope, feedback_id, rule_node_id)
        )`.execute(db);
      await sql`CREATE INDEX memory_rule_feedback_created ON memory_rule_feedback (tenant_id, created_at)`.execute(db);
      // Rule definitions are fetched newest first within a scope.
      await sql`DROP INDEX memory_rule_defs_live`.execute(db);
      await sql`CREATE INDEX memory_rule_defs_live ON memory_rule_defs (tenant_id, project_key, scope, updated_at DESC, rule_node_id) WHERE state IN ('shadow', 'active')`.execute(db);
    },
  },
  '0012_operator_sessions': {
    async up(db: Kysely<unknown>) {
      // Console sessions (docs/console.md): only a digest of the session id is stored. Sign-in and
      // sign-out are events (session-<key> streams); this table is what each request checks and touches.
      await sql`
        CREATE TABLE operator_sessions (
          session_hash text PRIMARY KEY,
          session_key text NOT NULL,
          operator_id text NOT NULL,
          created_at timestamptz NOT NULL,
          last_seen_at timestamptz NOT NULL,
          idle_timeout_ms integer NOT NULL CHECK (idle_timeout_ms > 0),
          expires_at timestamptz NOT NULL,
          ended_at timestamptz
        )`.execute(db);
      await sql`CREATE INDEX operator_sessions_operator ON operator_sessions (operator_id) WHERE ended_at IS NULL`.execute(db);
    },
  },
  '0013_outbox_open_jobs': {
    async up(db: Kysely<unknown>) {
      // The outbox gauges (OutboxRepository.backlogByType, read on every /metrics scrape) count the
      // open jobs by type. Done jobs pile up and open ones stay few: without this index the count
      // scans the whole table; with it, an index-only scan of the open jobs. It also serves the
      // dead-letter listings (status = 'dead_letter').
      await sql`
        CREATE INDEX memory_outbox_open ON memory_outbox (type, status, attempts, created_at)
        WHERE status IN ('pending', 'processing', 'dead_letter')`.execute(db);
    },
  },
  '0014_tenant_fences': {
    async up(db: Kysely<unknown>) {
      // Fenced routing (docs/adr/0006-tenant-shards-and-placement.md): every shard, the primary
      // (the shared shard) included, holds one row per tenant it has served or is receiving, with
      // the placement generation it serves. Every data-plane write checks it in its own transaction.
      // No row = the tenant has never moved: served here at generation 1 on the shared shard only.
      await sql`
        CREATE TABLE tenant_fences (
          tenant_id text PRIMARY KEY,
          generation bigint NOT NULL CHECK (generation >= 1),
          state text NOT NULL CHECK (state IN ('serving', 'fenced', 'moved')),
          updated_at timestamptz NOT NULL DEFAULT now()
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
