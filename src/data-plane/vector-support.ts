import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../platform/config/config';
import { DATABASE, type Database, type Session } from '../platform/db/database';
import { MemorySettingsRepository } from './memory/memory-settings.repository';

/** The database holds vectors of another dimension than EMBEDDING_DIM: the service refuses to start. */
export class EmbeddingDimensionMismatchError extends Error {
  constructor(
    readonly stored: number,
    readonly configured: number,
    readonly vectors: number,
  ) {
    super(
      `this database holds ${vectors} embedding(s) of ${stored} dimensions, but EMBEDDING_DIM is ${configured}. ` +
        `Start with EMBEDDING_DIM=${stored}, or re-embed the database at ${configured} dimensions first ` +
        `(npm run memory:reembed -- --dimension ${configured}; see runbooks/embedding-dimension.md).`,
    );
    this.name = 'EmbeddingDimensionMismatchError';
  }
}

/**
 * Vector storage at the deployment's dimension. Each running instance holds the vector-storage
 * lock shared (memory:reembed needs it exclusively). At boot: the dimension recorded in the database
 * must be EMBEDDING_DIM whenever vectors exist (a database of 256-d vectors cannot be searched with
 * 1536-d queries); with no vectors yet the new dimension is simply recorded. Then pgvector, where
 * the database has it (PGlite ships it; Debian's PostgreSQL 15 here does not): an `embedding_vec
 * vector(EMBEDDING_DIM)` column kept equal to `embedding` by a trigger, and recall ranks in SQL;
 * otherwise recall scans the scope's vectors in the process. Both rank exactly, so both paths
 * return the same seeds.
 */
@Injectable()
export class VectorSupport implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Vectors');
  enabled = false;
  private lease: Session | undefined;

  constructor(
    private readonly settings: MemorySettingsRepository,
    @Inject(DATABASE) private readonly database: Database,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.lease?.release();
    this.lease = undefined;
  }

  async onModuleInit(): Promise<void> {
    // Held for the life of this instance: re-embedding (memory:reembed) cannot run beside it.
    if (this.database.kind === 'pg') {
      this.lease = await this.database.openSession();
      await this.settings.holdVectorStorageShared(this.lease);
    }
    const dim = this.config.embeddings.dimension;
    const stored = await this.settings.embeddingDimension();
    if (stored !== null && stored !== dim) {
      const vectors = await this.settings.countVectors();
      if (vectors > 0) throw new EmbeddingDimensionMismatchError(stored, dim, vectors);
    }
    if (stored !== dim) await this.settings.recordEmbeddingDimension(dim);
    if (!(await this.settings.vectorExtensionAvailable())) {
      this.logger.log('pgvector is not available: recall uses the exact in-process scan');
      return;
    }
    try {
      await this.settings.ensureVectorColumn(dim);
      this.enabled = true;
      this.logger.log(`pgvector enabled (vector(${dim})): recall ranks in SQL`);
    } catch (err) {
      this.enabled = false;
      this.logger.warn({ msg: 'pgvector setup failed, using the exact in-process scan', err });
    }
  }
}
