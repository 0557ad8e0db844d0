import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { DATABASE, type Database } from '../../platform/db/database';

/**
 * rate_limit_buckets: token buckets keyed by tenant and a bucket name (`write`, `recall` for the
 * memory API; `admin:<operator_id>` for a tenant's admin calls by one operator). Shared by every
 * process and updated under the bucket's row lock: exact. SQL only.
 */
@Injectable()
export class RateLimitBucketsRepository {
  constructor(@Inject(DATABASE) private readonly database: Database) {}

  /** Take one token if the bucket has one; the tokens left, or null when empty. */
  async take(tenantId: string, bucket: string, rate: number, burst: number): Promise<number | null> {
    const r = await sql<{ tokens: number }>`
      INSERT INTO rate_limit_buckets AS b (tenant_id, endpoint_class, tokens, updated_at)
      VALUES (${tenantId}, ${bucket}, ${burst - 1}, clock_timestamp())
      ON CONFLICT (tenant_id, endpoint_class) DO UPDATE SET
        tokens = LEAST(${burst}::float8, b.tokens + extract(epoch FROM clock_timestamp() - b.updated_at) * ${rate}::float8) - 1,
        updated_at = clock_timestamp()
      WHERE LEAST(${burst}::float8, b.tokens + extract(epoch FROM clock_timestamp() - b.updated_at) * ${rate}::float8) >= 1
      RETURNING tokens`.execute(this.database.db);
    const row = r.rows[0];
    return row ? Number(row.tokens) : null;
  }

  /** Tokens in the bucket right now (refilled to this instant). */
  async level(tenantId: string, bucket: string, rate: number, burst: number): Promise<number> {
    const r = await sql<{ tokens: number }>`
      SELECT LEAST(${burst}::float8, tokens + extract(epoch FROM clock_timestamp() - updated_at) * ${rate}::float8) AS tokens
      FROM rate_limit_buckets WHERE tenant_id = ${tenantId} AND endpoint_class = ${bucket}`.execute(this.database.db);
    return Number(r.rows[0]?.tokens ?? burst);
  }

  /** Give a token back (a request that was charged and then failed). */
  async giveBack(tenantId: string, bucket: string, burst: number): Promise<void> {
    await sql`UPDATE rate_limit_buckets SET tokens = LEAST(${burst}::float8, tokens + 1) WHERE tenant_id = ${tenantId} AND endpoint_class = ${bucket}`.execute(this.database.db);
  }
}
