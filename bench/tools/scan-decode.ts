import pg from 'pg';
import { BenchServer } from '../lib/bench-db';

/**
 * Where the exact-scan recall's time goes on PostgreSQL: the server's part (EXPLAIN ANALYZE of the
 * candidate SELECT) against the client's, and what the same rows cost when the vectors travel in
 * PostgreSQL's binary array format (array_send) and are decoded with a DataView instead of the
 * text format pg parses into arrays of numbers. Creates and drops its own database.
 *   BENCH_DATABASE_URL=postgres://... node -r ./test/support/swc-register.cjs bench/tools/scan-decode.ts [NODES]
 */
// The contract's dimension unless told (EMBEDDING_DIM, as the service reads it).
const DIMS = Number(process.env.EMBEDDING_DIM ?? 1536);

function decodeFloat4Array(buf: Buffer): number[] {
  // array_send layout: ndim, has_nulls, element oid, then (length, lower bound) per dimension; then per element (int32 length, float4).
  const ndim = buf.readInt32BE(0);
  let off = 12 + 8 * ndim;
  const n = ndim === 0 ? 0 : buf.readInt32BE(12);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    out[i] = buf.readFloatBE(off + 4);
    off += 8;
  }
  return out;
}

async function timed<T>(label: string, runs: number, fn: () => Promise<T>): Promise<void> {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  process.stdout.write(`${label.padEnd(72)} median ${ms[Math.floor(ms.length / 2)]!.toFixed(1)} ms (${runs} runs)\n`);
}

async function main(): Promise<void> {
  const url = process.env.BENCH_DATABASE_URL;
  if (!url) throw new Error('BENCH_DATABASE_URL is not set');
  const nodes = Number(process.argv[2] ?? 100_000);
  const server = new BenchServer(url);
  const { url: dbUrl } = await server.create('scan');
  const c = new pg.Client({ connectionString: dbUrl });
  try {
    await c.connect();
    await c.query('CREATE TABLE v (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), scope text NOT NULL, embedding real[])');
    await c.query(
      `INSERT INTO v (scope, embedding) SELECT 'big', (SELECT array_agg((random() - 0.5)::real) FROM generate_series(1, ${DIMS}) d WHERE g > 0) FROM generate_series(1, $1) g`,
      [nodes],
    );
    await c.query('VACUUM ANALYZE v');
    const explain = await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) SELECT id::text, embedding FROM v WHERE scope = 'big' AND embedding IS NOT NULL`);
    process.stdout.write(`${explain.rows.map((r) => r['QUERY PLAN']).join('\n')}\n\n`);
    const runs = nodes >= 100_000 ? 3 : 10;
    await timed(`${nodes} vectors, text format, parsed by pg into number[] (today)`, runs, () => c.query(`SELECT id::text, embedding FROM v WHERE scope = 'big' AND embedding IS NOT NULL`));
    await timed(`${nodes} vectors, text format, as one string per row (no parse)`, runs, () => c.query(`SELECT id::text, embedding::text AS e FROM v WHERE scope = 'big' AND embedding IS NOT NULL`));
    await timed(`${nodes} vectors, array_send() bytea, decoded with readFloatBE`, runs, async () => {
      const r = await c.query<{ id: string; e: Buffer }>(`SELECT id::text, array_send(embedding) AS e FROM v WHERE scope = 'big' AND embedding IS NOT NULL`);
      for (const row of r.rows) decodeFloat4Array(row.e);
    });
  } finally {
    await c.end();
    await server.dropAll();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
