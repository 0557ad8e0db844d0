import { sql } from 'kysely';
import { migrateToLatest } from '../../src/platform/db/migrations';
import { PgDatabase } from '../../src/platform/db/pg-database';
import { PostgresEventStore } from '../../src/platform/event-store/postgres-event-store';
import type { BenchContext } from '../lib/context';
import { type Dataset, loadControlPlaneLog } from '../lib/dataset';

export interface BenchDb {
  readonly name: string;
  readonly url: string;
  readonly database: PgDatabase;
  readonly store: PostgresEventStore;
}

/** A fresh, migrated database of this run, closed (not dropped: the harness drops every database at the end) on cleanup. */
export async function freshDb(ctx: BenchContext, purpose: string, poolSize = 10): Promise<BenchDb> {
  const { name, url } = await ctx.server.create(purpose);
  const database = new PgDatabase({ url, poolSize, applicationName: `aionis-bench-${purpose}` });
  await migrateToLatest(database.db);
  const store = new PostgresEventStore(database);
  ctx.onCleanup(async () => {
    await store.close();
    await database.close();
  });
  return { name, url, database, store };
}

/** Size of the shared control-plane log: 1M (quick: 10k); BENCH_LOG_EVENTS overrides it (e.g. for a profiling run). */
export const LOG_EVENTS = (quick: boolean): number => {
  const override = Number(process.env.BENCH_LOG_EVENTS);
  if (Number.isInteger(override) && override >= 1000) return override;
  return quick ? 10_000 : 1_000_000;
};

/** The control-plane log shared by the read/replay and rebuild scenarios (loaded once per run). */
export function controlPlaneLog(ctx: BenchContext): Promise<BenchDb & { dataset: Dataset }> {
  return ctx.shared('control-plane-log', async () => {
    const db = await freshDb(ctx, 'log', 10);
    const target = LOG_EVENTS(ctx.quick);
    ctx.log(`  loading a control-plane log of ~${target.toLocaleString('en-US')} events through the event store...`);
    const dataset = await loadControlPlaneLog(db.database, db.store, target, (m) => ctx.log(m));
    // As autovacuum would eventually: the visibility map lets the readers skip heap checks.
    await sql`VACUUM ANALYZE es_events`.execute(db.database.db);
    ctx.log(`  loaded ${dataset.events.toLocaleString('en-US')} events in ${dataset.loadSeconds.toFixed(1)} s`);
    return { ...db, dataset };
  });
}
