import { sql } from 'kysely';
import pg from 'pg';
import { PgDatabase } from '../../../src/platform/db/pg-database';
import { retryTransient } from '../../../src/platform/db/transient';
import { pgOnly } from '../../support/skips';
import { createTestDatabase, type TestDatabase } from '../../support/test-db';

/**
 * A real deadlock on PostgreSQL: two transactions take two rows in opposite orders. The server
 * rolls one back with 40P01; retryTransient runs it again and both commit. (The write path wraps
 * its transaction the same way: write.handler.ts.)
 */
pgOnly.describe('transient database errors (PostgreSQL)', () => {
  let tdb: TestDatabase;

  beforeAll(async () => {
    tdb = await createTestDatabase({ kind: 'pg' });
    await sql`CREATE TABLE deadlock_probe (id int PRIMARY KEY, v int NOT NULL)`.execute(tdb.database.db);
    await sql`INSERT INTO deadlock_probe VALUES (1, 0), (2, 0)`.execute(tdb.database.db);
  });
  afterAll(async () => {
    await tdb?.dispose();
  });

  it('a deadlock victim is rolled back whole and succeeds when run again', async () => {
    const db = tdb.database.db;
    let firstLocks = 0;
    let release: () => void = () => undefined;
    const bothHoldOne = new Promise<void>((r) => (release = r));
    const retried: string[] = [];
    const transfer = (first: number, second: number) =>
      retryTransient(
        () =>
          db.transaction().execute(async (trx) => {
            // Found in 100 ms instead of the server's 1 s: open transactions hold back every gap-safe reader of the cluster.
            await sql`SET LOCAL deadlock_timeout = '100ms'`.execute(trx);
            await sql`UPDATE deadlock_probe SET v = v + 1 WHERE id = ${first}`.execute(trx);
            if (++firstLocks === 2) release();
            await bothHoldOne;
            await sql`UPDATE deadlock_probe SET v = v + 1 WHERE id = ${second}`.execute(trx);
          }),
        { onRetry: (code) => retried.push(code) },
      );
    await Promise.all([transfer(1, 2), transfer(2, 1)]);
    expect(retried).toStrictEqual(['40P01']);
    const rows = await sql<{ id: number; v: number }>`SELECT id, v FROM deadlock_probe ORDER BY id`.execute(db);
    // Each transaction added one to each row exactly once: the victim's first attempt left nothing.
    expect(rows.rows).toStrictEqual([
      { id: 1, v: 2 },
      { id: 2, v: 2 },
    ]);
  }, 30_000);
});

/**
 * A server at its connection limit refuses a new connection with 53300; the pool tries again
 * (nothing ran) instead of failing the request. A role limited to one connection stands in for a
 * server at max_connections.
 */
pgOnly.describe('a refused connection (PostgreSQL)', () => {
  let tdb: TestDatabase;
  const role = `aionis_t_limited_${process.pid}`;

  beforeAll(async () => {
    tdb = await createTestDatabase({ kind: 'pg' });
    await sql.raw(`CREATE ROLE ${role} LOGIN CONNECTION LIMIT 1`).execute(tdb.database.db);
  });
  afterAll(async () => {
    await tdb?.dispose();
    await sql.raw(`DROP ROLE IF EXISTS ${role}`).execute(tdb.database.db).catch(() => undefined);
  });

  it('is retried by the pool until a connection frees up', async () => {
    const u = new URL(tdb.url!);
    u.username = role;
    const holder = new PgDatabase({ url: u.toString(), poolSize: 1 });
    const db = new PgDatabase({ url: u.toString(), poolSize: 2 });
    try {
      const held = await holder.openSession();
      await sql`SELECT 1`.execute(held.db);
      // The only connection the role may have is taken: a raw client is refused at once...
      const raw = new pg.Client({ connectionString: u.toString() });
      await expect(raw.connect()).rejects.toMatchObject({ code: '53300' });
      await raw.end().catch(() => undefined);
      // ...while the service's pool waits it out: the session ends 150 ms later, and the query runs.
      setTimeout(() => void held.release(), 150);
      const r = await sql<{ one: number }>`SELECT 1 AS one`.execute(db.db);
      expect(r.rows).toStrictEqual([{ one: 1 }]);
    } finally {
      await db.close();
      await holder.close();
    }
  }, 30_000);
});
