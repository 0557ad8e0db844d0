import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { DATABASE, type Database } from './database';

/**
 * pg_stat_activity (PostgreSQL's view of its sessions), read for the /metrics gauges. Only other
 * sessions of the same role are fully visible unless the role has pg_read_all_stats (or is a
 * superuser): a session whose fields are hidden has a null backend_xid and is not counted.
 */
@Injectable()
export class PgStatActivityRepository {
  constructor(@Inject(DATABASE) private readonly database: Database) {}

  /**
   * Seconds since the oldest open write transaction of this database began (xact_start of the
   * sessions of current_database() that hold a transaction id, i.e. have written; this session
   * excluded), 0 when there is none. null on PGlite: one embedded session, no pg_stat_activity
   * to read and no other session whose transaction could be open.
   */
  async oldestWriteTransactionAgeSeconds(): Promise<number | null> {
    if (this.database.kind === 'pglite') return null;
    const r = await sql<{ age_s: number | string | null }>`
      SELECT extract(epoch FROM clock_timestamp() - min(xact_start))::float8 AS age_s
      FROM pg_stat_activity
      WHERE datname = current_database() AND backend_xid IS NOT NULL AND xact_start IS NOT NULL AND pid <> pg_backend_pid()`.execute(this.database.db);
    return Math.max(0, Number(r.rows[0]?.age_s ?? 0));
  }
}
