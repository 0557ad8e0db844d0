import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import type { Database } from '../../src/platform/db/database';
import { migrateToLatest } from '../../src/platform/db/migrations';
import { PgDatabase } from '../../src/platform/db/pg-database';
import { PGliteDatabase } from '../../src/platform/db/pglite-database';

/**
 * Every test gets a database of its own: on PostgreSQL (TEST_DATABASE_URL set) a freshly created
 * database with a unique name, dropped at dispose; otherwise an in-memory PGlite started from a
 * migrated template. Nothing a test did not create is ever touched.
 */
export interface TestDatabase {
  readonly database: Database;
  readonly kind: 'pg' | 'pglite';
  /** Connection string of the test database (pg only). */
  readonly url: string | undefined;
  dispose(): Promise<void>;
}

export const usingPostgres = (): boolean => Boolean(process.env.TEST_DATABASE_URL);

/**
 * Test databases are named `<prefix>_<pid>_<time>_<random>`; the prefix is AIONIS_TEST_DB_PREFIX
 * (default `aionis_t`), so that runs sharing one server can be told apart (and cleaned up) by name.
 */
export function testDbPrefix(): string {
  const prefix = process.env.AIONIS_TEST_DB_PREFIX ?? 'aionis_t';
  if (!/^[a-z_][a-z0-9_]{0,19}$/.test(prefix)) throw new Error(`AIONIS_TEST_DB_PREFIX must be 1-20 lowercase letters, digits or "_", starting with a letter or "_" (got "${prefix}")`);
  return prefix;
}

export function uniqueDbName(prefix = testDbPrefix()): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

/** Create an empty, uniquely named PostgreSQL database (`label`: a word after the prefix); returns its URL and a drop function. */
export async function createPgDatabase(label?: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) throw new Error('TEST_DATABASE_URL is not set');
  const name = uniqueDbName(label ? `${testDbPrefix()}_${label}` : testDbPrefix());
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

export async function createTestDatabase(options: { kind?: 'pg' | 'pglite'; poolSize?: number } = {}): Promise<TestDatabase> {
  const kind = options.kind ?? (usingPostgres() ? 'pg' : 'pglite');
  if (kind === 'pg') {
    const { url, drop } = await createPgDatabase();
    const database = new PgDatabase({ url, poolSize: options.poolSize ?? 12, applicationName: 'aionis-test' });
    try {
      await migrateToLatest(database.db);
    } catch (err) {
      await database.close();
      await drop();
      throw err;
    }
    return {
      database,
      kind,
      url,
      dispose: async () => {
        await database.close();
        await drop();
      },
    };
  }
  const template = process.env.AIONIS_PGLITE_TEMPLATE;
  const database = template
    ? await PGliteDatabase.open({ loadDataDir: new Blob([await readFile(template)]) })
    : await PGliteDatabase.open({});
  await migrateToLatest(database.db);
  return { database, kind, url: undefined, dispose: () => database.close() };
}
