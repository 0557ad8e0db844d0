import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { loadConfig } from '../../src/platform/config/config';
import { migrateToLatest } from '../../src/platform/db/migrations';
import { PgDatabase } from '../../src/platform/db/pg-database';
import { startService } from '../../src/service';
import { BenchServer } from '../lib/bench-db';
import { closeHttp, httpJson } from '../lib/http';
import { BENCH_ADMIN_TOKEN, BENCH_PEPPER } from '../lib/processes';

/**
 * Where one command's time goes: starts the service in this process on a fresh database of
 * BENCH_DATABASE_URL (dropped at the end), warms it up, then sends one POST
 * /v1/admin/control/tenants and prints every SQL statement any part of the process ran in the
 * following 250 ms (start offset and duration, ms), the command's own and the projector's.
 *   BENCH_DATABASE_URL=postgres://... node -r ./test/support/swc-register.cjs bench/tools/trace-command.ts
 */
interface Traced {
  t: number;
  ms: number;
  sql: string;
}

async function main(): Promise<void> {
  const serverUrl = process.env.BENCH_DATABASE_URL;
  if (!serverUrl) throw new Error('BENCH_DATABASE_URL is not set');
  const server = new BenchServer(serverUrl);
  const { url } = await server.create('trace');
  const dataDir = mkdtempSync(join(tmpdir(), 'aionis-trace-'));
  const database = new PgDatabase({ url, poolSize: 10 });
  try {
    await migrateToLatest(database.db);
    const config = loadConfig({ DATABASE_URL: url, PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, KEY_PEPPER: BENCH_PEPPER, ADMIN_BOOTSTRAP_TOKEN: BENCH_ADMIN_TOKEN, LOG_LEVEL: 'error' });
    const svc = await startService(config, { database, logger: false });
    try {
      const log: Traced[] = [];
      let tracing = false;
      const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
      const original = proto.query;
      proto.query = function (this: pg.Client, ...args: unknown[]) {
        const t0 = performance.now();
        const first = args[0];
        const text = typeof first === 'string' ? first : ((first as { text?: string } | undefined)?.text ?? '?');
        const r = original.apply(this, args);
        if (tracing && r instanceof Promise) {
          r.then(
            () => log.push({ t: t0, ms: performance.now() - t0, sql: text.replace(/\s+/g, ' ').trim().slice(0, 100) }),
            () => undefined,
          );
        }
        return r;
      };
      const auth = { authorization: `Bearer ${BENCH_ADMIN_TOKEN}` };
      for (let i = 0; i < 20; i++) await httpJson(`${svc.url}/v1/admin/control/tenants`, { headers: auth, body: { tenant_id: `warm-${i}` } });
      await new Promise((r) => setTimeout(r, 1000));
      tracing = true;
      const t0 = performance.now();
      const res = await httpJson(`${svc.url}/v1/admin/control/tenants`, { headers: auth, body: { tenant_id: 'traced' } });
      const t1 = performance.now();
      await new Promise((r) => setTimeout(r, 250));
      tracing = false;
      proto.query = original;
      process.stdout.write(`POST /v1/admin/control/tenants -> ${res.status} in ${(t1 - t0).toFixed(1)} ms; ${log.length} statements in the next 250 ms\n`);
      process.stdout.write(`${'start'.padStart(8)} ${'ms'.padStart(6)}  statement\n`);
      for (const l of log.sort((a, b) => a.t - b.t)) process.stdout.write(`${(l.t - t0).toFixed(1).padStart(8)} ${l.ms.toFixed(2).padStart(6)}  ${l.sql}\n`);
    } finally {
      await svc.close();
    }
  } finally {
    await database.close();
    await server.dropAll();
    closeHttp();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
