import { Inject, Injectable } from '@nestjs/common';
import { sql, type Transaction } from 'kysely';
import type { DB } from '../../platform/db/schema';
import type { NodeType } from './domain/model';
import { DATABASE, type Database, type Session } from '../../platform/db/database';

/** Advisory lock (namespace, key) of vector storage: shared by running instances, exclusive for re-embedding. */
const VECTOR_LOCK = [0x41_49_56, 1] as const;

/**
 * memory_settings (facts of the deployment the data plane must not change silently) and the
 * pgvector column of memory_nodes, which mirrors `embedding` at the deployment's dimension.
 */
@Injectable()
export class MemorySettingsRepository {
  constructor(@Inject(DATABASE) private readonly database: Database) {}

  async embeddingDimension(): Promise<number | null> {
    const r = await sql<{ value: unknown }>`SELECT value FROM memory_settings WHERE name = 'embedding_dimension'`.execute(this.database.db);
    const v = r.rows[0]?.value;
    return typeof v === 'number' ? v : v === undefined ? null : Number(v);
  }

  async recordEmbeddingDimension(dim: number): Promise<void> {
    await sql`
      INSERT INTO memory_settings (name, value, updated_at) VALUES ('embedding_dimension', to_jsonb(${dim}::int), now())
      ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`.execute(this.database.db);
  }

  async countVectors(): Promise<number> {
    const r = await sql<{ n: number | string }>`SELECT count(*) AS n FROM memory_nodes WHERE embedding IS NOT NULL`.execute(this.database.db);
    return Number(r.rows[0]?.n ?? 0);
  }

  async vectorExtensionAvailable(): Promise<boolean> {
    const r = await sql<{ name: string }>`SELECT name FROM pg_available_extensions WHERE name = 'vector'`.execute(this.database.db);
    return r.rows.length > 0;
  }

  /** Create (or re-create at another dimension) the vector column and its sync trigger; one process at a time. */
  async ensureVectorColumn(dim: number): Promise<void> {
    await this.database.db.transaction().execute(async (trx) => {
      await sql`SELECT pg_advisory_xact_lock(4781, 256)`.execute(trx);
      await sql`CREATE EXTENSION IF NOT EXISTS vector`.execute(trx);
      const col = await sql<{ typmod: number }>`
        SELECT atttypmod AS typmod FROM pg_attribute WHERE attrelid = 'memory_nodes'::regclass AND attname = 'embedding_vec' AND NOT attisdropped`.execute(trx);
      const current = col.rows[0]?.typmod;
      if (current !== undefined && Number(current) !== dim) await sql`ALTER TABLE memory_nodes DROP COLUMN embedding_vec`.execute(trx);
      await sql.raw(`ALTER TABLE memory_nodes ADD COLUMN IF NOT EXISTS embedding_vec vector(${Math.trunc(dim)})`).execute(trx);
      await sql`
        CREATE OR REPLACE FUNCTION memory_nodes_sync_vector() RETURNS trigger AS $$
        BEGIN
          NEW.embedding_vec := CASE WHEN NEW.embedding IS NULL THEN NULL ELSE NEW.embedding::vector END;
          RETURN NEW;
        END $$ LANGUAGE plpgsql`.execute(trx);
      await sql`DROP TRIGGER IF EXISTS memory_nodes_sync_vector ON memory_nodes`.execute(trx);
      await sql`CREATE TRIGGER memory_nodes_sync_vector BEFORE INSERT OR UPDATE OF embedding ON memory_nodes FOR EACH ROW EXECUTE FUNCTION memory_nodes_sync_vector()`.execute(trx);
      await sql`UPDATE memory_nodes SET embedding = embedding WHERE embedding IS NOT NULL AND embedding_vec IS NULL`.execute(trx);
    });
  }

  // ------------------------------------------------------------------ re-embedding (memory:reembed)

  /** Stored vectors by their dimension and model (what a re-embed would replace). */
  async vectorSummary(): Promise<{ dimension: number; model: string | null; nodes: number }[]> {
    const r = await sql<{ dimension: number; model: string | null; nodes: number | string }>`
      SELECT array_length(embedding, 1) AS dimension, embedding_model AS model, count(*) AS nodes
      FROM memory_nodes WHERE embedding IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2`.execute(this.database.db);
    return r.rows.map((x) => ({ dimension: Number(x.dimension), model: x.model, nodes: Number(x.nodes) }));
  }

  async countNodes(): Promise<number> {
    const r = await sql<{ n: number | string }>`SELECT count(*) AS n FROM memory_nodes`.execute(this.database.db);
    return Number(r.rows[0]?.n ?? 0);
  }

  /**
   * Vector storage is in use: every running service instance holds this advisory lock shared on a
   * session of its own for its whole life; re-embedding takes it exclusively, so it can never run
   * next to an instance (PostgreSQL). On the embedded database the DATA_DIR lock already
   * guarantees one process.
   */
  async holdVectorStorageShared(session: Session): Promise<void> {
    await sql`SELECT pg_advisory_lock_shared(${VECTOR_LOCK[0]}, ${VECTOR_LOCK[1]})`.execute(session.db);
  }

  async tryVectorStorageExclusive(session: Session): Promise<boolean> {
    const r = await sql<{ ok: boolean }>`SELECT pg_try_advisory_lock(${VECTOR_LOCK[0]}, ${VECTOR_LOCK[1]}) AS ok`.execute(session.db);
    return r.rows[0]?.ok === true;
  }

  /** One page of nodes in key order, with what their embeddable text is made of. */
  async nodePage(after: { tenant_id: string; project_key: string; scope: string; node_id: string } | null, limit: number) {
    const r = await sql<{ tenant_id: string; project_key: string; scope: string; node_id: string; type: NodeType; title: string | null; text_summary: string | null; had_vector: boolean }>`
      SELECT tenant_id, project_key, scope, node_id::text AS node_id, type, title, text_summary, embedding IS NOT NULL AS had_vector FROM memory_nodes
      ${after ? sql`WHERE (tenant_id, project_key, scope, node_id) > (${after.tenant_id}, ${after.project_key}, ${after.scope}, ${after.node_id}::uuid)` : sql``}
      ORDER BY tenant_id, project_key, scope, node_id LIMIT ${limit}`.execute(this.database.db);
    return r.rows;
  }

  /** Forget the vectors of these nodes: pending when they will be derived again, failed when they have no text to derive from. */
  async resetEmbeddings(trx: Transaction<DB>, nodes: readonly { tenant_id: string; project_key: string; scope: string; node_id: string; pending: boolean }[]): Promise<void> {
    if (nodes.length === 0) return;
    await sql`
      UPDATE memory_nodes m SET embedding = NULL, embedding_model = NULL, embedding_status = CASE WHEN x.pending THEN 'pending' ELSE 'failed' END, updated_at = clock_timestamp()
      FROM jsonb_to_recordset(${JSON.stringify(nodes)}::jsonb) AS x(tenant_id text, project_key text, scope text, node_id uuid, pending boolean)
      WHERE m.tenant_id = x.tenant_id AND m.project_key = x.project_key AND m.scope = x.scope AND m.node_id = x.node_id`.execute(trx);
  }

  /** The newest commit of a scope (an outbox job belongs to a commit of its scope). */
  async headCommit(trx: Transaction<DB>, tenantId: string, projectKey: string, scope: string): Promise<string | null> {
    const r = await sql<{ id: string | null }>`
      SELECT head_commit_id::text AS id FROM memory_scopes WHERE tenant_id = ${tenantId} AND project_key = ${projectKey} AND scope = ${scope}`.execute(trx);
    return r.rows[0]?.id ?? null;
  }

  /** The pgvector column is derived from `embedding`; the service re-creates it at the new dimension on its next start. */
  async dropVectorColumn(trx: Transaction<DB>): Promise<void> {
    await sql`ALTER TABLE memory_nodes DROP COLUMN IF EXISTS embedding_vec`.execute(trx);
  }

  async recordEmbeddingDimensionIn(trx: Transaction<DB>, dim: number): Promise<void> {
    await sql`
      INSERT INTO memory_settings (name, value, updated_at) VALUES ('embedding_dimension', to_jsonb(${dim}::int), now())
      ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`.execute(trx);
  }
}
