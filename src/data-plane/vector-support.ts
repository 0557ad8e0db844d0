import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { sql } from 'kysely';
import { DATABASE, type Database } from '../platform/db/database';
import { EMBEDDING_DIMENSIONS } from './memory.schemas';

/**
 * pgvector, where the database has it (PGlite 0.4 ships it; Debian's PostgreSQL 15 here does not).
 * When available, memory_nodes gets a vector(256) column kept in sync with `embedding` by a trigger,
 * and recall ranks in SQL; otherwise recall scans the namespace's vectors in the process. Both
 * rank exactly (no approximate index: an HNSW index filtered by tenant and scope can miss
 * results), so both paths return the same top results.
 */
@Injectable()
export class VectorSupport implements OnModuleInit {
  private readonly logger = new Logger('Vectors');
  enabled = false;

  constructor(@Inject(DATABASE) private readonly database: Database) {}

  async onModuleInit(): Promise<void> {
    try {
      const available = await sql<{ name: string }>`SELECT name FROM pg_available_extensions WHERE name = 'vector'`.execute(this.database.db);
      if (available.rows.length === 0) {
        this.logger.log('pgvector is not available: recall uses the exact in-process scan');
        return;
      }
      await this.database.db.transaction().execute(async (trx) => {
        // One process at a time sets it up (idempotent).
        await sql`SELECT pg_advisory_xact_lock(4781, 256)`.execute(trx);
        await sql`CREATE EXTENSION IF NOT EXISTS vector`.execute(trx);
        await sql.raw(`ALTER TABLE memory_nodes ADD COLUMN IF NOT EXISTS embedding_vec vector(${EMBEDDING_DIMENSIONS})`).execute(trx);
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
      this.enabled = true;
      this.logger.log('pgvector enabled: recall ranks in SQL');
    } catch (err) {
      this.enabled = false;
      this.logger.warn(`pgvector setup failed, using the exact in-process scan: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
