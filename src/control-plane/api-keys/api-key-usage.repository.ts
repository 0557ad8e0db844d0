import { Inject, Injectable } from '@nestjs/common';
import { type Kysely, sql, type Transaction } from 'kysely';
import { DATABASE, type Database } from '../../platform/db/database';
import type { DB } from '../../platform/db/schema';

type Executor = Kysely<DB> | Transaction<DB>;
export const API_KEY_USAGE_TABLES = ['api_key_usage'] as const;

/** api_key_usage (last use of each key, written in batches by the verifier): the rows of one tenant's keys. */
@Injectable()
export class ApiKeyUsageRepository {
  readonly tables: readonly string[] = API_KEY_USAGE_TABLES;

  constructor(@Inject(DATABASE) private readonly database: Database) {}

  async remove(trx: Executor, tenantId: string): Promise<Record<string, number>> {
    const r = await sql<{ n: number }>`
      WITH gone AS (DELETE FROM api_key_usage WHERE key_id IN (SELECT key_id FROM rm_api_keys WHERE tenant_id = ${tenantId}) RETURNING 1)
      SELECT count(*)::int AS n FROM gone`.execute(trx);
    return { api_key_usage: Number(r.rows[0]?.n ?? 0) };
  }

  async count(tenantId: string, ex: Executor = this.database.db): Promise<Record<string, number>> {
    const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM api_key_usage WHERE key_id IN (SELECT key_id FROM rm_api_keys WHERE tenant_id = ${tenantId})`.execute(ex);
    return { api_key_usage: Number(r.rows[0]?.n ?? 0) };
  }
}
