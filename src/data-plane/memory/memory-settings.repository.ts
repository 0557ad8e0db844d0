import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { DATABASE, type Database } from '../../platform/db/database';

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
}
