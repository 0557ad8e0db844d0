import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { DATABASE, type Database } from './database';
import { pendingMigrations } from './migrations';

/** aionis_migrations (the migrator's ledger), read by the readiness check; and the database's round trip. */
@Injectable()
export class MigrationsRepository {
  constructor(@Inject(DATABASE) private readonly database: Database) {}

  /** One round trip to the database (no table): throws when it does not answer. */
  async ping(): Promise<void> {
    await sql`SELECT 1`.execute(this.database.db);
  }

  /** Names of the migrations not yet applied (empty = current). */
  pending(): Promise<string[]> {
    return pendingMigrations(this.database.db);
  }
}
