import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { AppError } from '../errors/app-error';
import { DATABASE, type Database } from './database';
import { migrateToLatest } from './migrations';
import { PgDatabase } from './pg-database';

/** What registering a shard did to its database. */
export interface ShardProvisioning {
  /** Migrations applied now (empty when the database was already current). */
  readonly applied: readonly string[];
}

/** The pg error's code (SQLSTATE or errno name): never its message, which may name the host. */
function failureCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{1,32}$/.test(code) ? code : 'connection failed';
}

/**
 * The shards' databases, known by reference name (SHARD_URLS). The URLs stay inside this class:
 * what leaves it (errors, logs, events) names the reference only. Dedicated shards need PostgreSQL:
 * on the embedded database (PGlite) there is only the shared shard, the primary itself.
 * The next slice makes this the data plane's source of per-tenant database handles (docs/adr/0006).
 */
@Injectable()
export class ShardDatabases {
  constructor(
    @Inject(DATABASE) private readonly primary: Database,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** False on the embedded database: only the shared shard exists there. */
  get supported(): boolean {
    return this.primary.kind === 'pg';
  }

  isConfigured(ref: string): boolean {
    return this.config.shardUrls.has(ref);
  }

  /**
   * Connect to the referenced database, check that it answers, and apply the service's migrations
   * to it (the same runner and set as the primary: the data-plane tables and tenant_fences, plus
   * the control-plane tables, which stay empty there). Idempotent: a current database gets nothing.
   */
  async provision(ref: string): Promise<ShardProvisioning> {
    const url = this.config.shardUrls.get(ref);
    if (url === undefined) throw new AppError('shard_ref_not_configured', `SHARD_URLS has no entry named ${ref}`, { url_ref: ref });
    const shard = new PgDatabase({ url, poolSize: 2, applicationName: 'aionis-shard-provision' });
    try {
      try {
        await sql`SELECT 1`.execute(shard.db);
      } catch (err) {
        throw new AppError('shard_unreachable', `the database of shard reference ${ref} did not answer (${failureCode(err)})`, { url_ref: ref, retry_after_ms: 5000 });
      }
      const applied = await migrateToLatest(shard.db);
      return { applied };
    } finally {
      await shard.close();
    }
  }
}
