import { LocalEmbeddingProvider } from '../../src/data-plane/embeddings/local-provider';
import { loadConfig } from '../../src/platform/config/config';
import type { BenchContext, Scenario, ScenarioOutput } from '../lib/context';
import { expectStatus } from '../lib/http';
import { type LoadResult, runLoad } from '../lib/load';
import { BENCH_ADMIN_TOKEN, startServiceProcess, startTsProcess } from '../lib/processes';
import { figure, type Figure } from '../lib/report';
import { round } from '../lib/stats';
import { freshDb } from './shared';

/**
 * Scenario 6. The memory API through HTTP at a fixed concurrency (the load generator is its own
 * process): authenticated `write` (one shared node per request, a valid contract write) and
 * `recall_text` on the service, against a floor server on the same framework doing the same single
 * SQL statement with no auth, quota or telemetry (bench/floor/floor-server.ts). The ratio is the
 * cost of everything the service adds per request. Vectors have the service's dimension
 * (EMBEDDING_DIM, 1536 by default; the harness starts the service without overriding it).
 */
const admin = { authorization: `Bearer ${BENCH_ADMIN_TOKEN}` };
const TOPICS = ['tea', 'coffee', 'kettle', 'bicycle', 'garden', 'invoice', 'meeting', 'python', 'database', 'holiday', 'rain', 'music'];

export const memoryScenario: Scenario = {
  name: 'memory',
  title: 'Memory API write and recall_text through HTTP vs a bare same-framework floor',
  async run(ctx: BenchContext): Promise<ScenarioOutput> {
    const db = await freshDb(ctx, 'memory', 2);
    const connections = 8;
    const seconds = ctx.quick ? 1.5 : 15;
    const warmupMs = ctx.quick ? 500 : 2000;
    const seedNodes = 200;
    const dim = loadConfig({ KEY_PEPPER: 'bench-pepper-0123456789abcdef0123456789abcdef', DATA_DIR: ctx.tmpDir }).embeddings.dimension;
    const figures: Figure[] = [];
    const notes: string[] = [];
    // Set-up uses a key right after creating it: wait for the key's read model however loaded the machine (the 2 s default can lapse).
    const svc = await startServiceProcess('memory', db.url, { COMMAND_WAIT_FOR_PROJECTION_MS: '30000' });
    try {
      const floor = await startTsProcess('floor', 'bench/floor/floor-server.ts', { FLOOR_DATABASE_URL: db.url, FLOOR_TENANT: 'bench-floor', FLOOR_RECALL_TENANT: 'bench-mem', FLOOR_RECALL_SCOPE: 'recall' }, /floor running at (http:\/\/\S+)/);
      try {
        // An enterprise tenant with limits far above what this machine can send (the quota is checked, never hit).
        await expectStatus(201, `${svc.url}/v1/admin/control/tenants`, { headers: admin, body: { tenant_id: 'bench-mem', tier: 'enterprise' } });
        await expectStatus(200, `${svc.url}/v1/admin/control/tenants/bench-mem/quota`, {
          method: 'PUT',
          headers: admin,
          body: { write_rps: 10_000, write_burst: 20_000, recall_rps: 20_000, recall_burst: 40_000, monthly_operations: 10_000_000_000 },
        });
        const created = await expectStatus(201, `${svc.url}/v1/admin/control/api-keys`, { headers: admin, body: { tenant_id: 'bench-mem', label: 'bench' } });
        const key = (created.body as { api_key: string }).api_key;
        // The recall scope: shared nodes with client-side embeddings (ready at once), the same rows for the service and the floor.
        const local = new LocalEmbeddingProvider(dim);
        for (let i = 0; i < seedNodes; i += 100) {
          const nodes = Array.from({ length: 100 }, (_, j) => {
            const n = i + j;
            const text = `${TOPICS[n % 12]} ${TOPICS[(n * 5 + 3) % 12]} note ${n}`;
            return { client_id: `seed-${n}`, type: 'concept', title: text, text_summary: `memory about ${text}`, embedding: local.embedOne(text) };
          });
          await expectStatus(200, `${svc.url}/v1/memory/write`, { headers: { 'x-api-key': key }, body: { scope: 'recall', input_text: `seed ${i}`, memory_lane: 'shared', nodes } });
        }

        const bodies = {
          // Each connection is an agent writing its own scope (one commit chain each). Shared: a
          // tenant-wide key's private node without an owner would be invisible to every reader.
          write: '{"scope":"w{{c}}","input_text":"bench write {{n}}","memory_lane":"shared","nodes":[{"client_id":"c-{{n}}","type":"event","title":"note {{n}}","text_summary":"a short memory written by the benchmark, number {{n}}"}]}',
          recall_text: '{"scope":"recall","query_text":"tea and a kettle in the garden {{n}}","limit":10}',
          // Every connection into one scope: the writes queue on that scope's head (a linear commit chain, by design).
          write_one_scope: '{"scope":"shared","input_text":"bench write {{n}}","memory_lane":"shared","nodes":[{"client_id":"c-{{n}}","type":"event","title":"note {{n}}","text_summary":"a short memory written by the benchmark, number {{n}}"}]}',
        };
        const run = (url: string, path: string, body: string, headers: Record<string, string>): Promise<LoadResult> =>
          runLoad({ baseUrl: url, method: 'POST', path, headers, body, connections, durationMs: seconds * 1000, warmupMs });
        for (const op of ['write', 'recall_text', 'write_one_scope'] as const) {
          const route = op === 'write_one_scope' ? 'write' : op;
          ctx.log(`  ${op}: floor, then the service (${connections} connections, ${seconds} s each)`);
          const f = await run(floor.url, `/${route}`, bodies[op], {});
          const s = await run(svc.url, `/v1/memory/${route}`, bodies[op], { 'x-api-key': key });
          if (s.ok === 0) throw new Error(`${op}: no request succeeded (${s.first_error ?? ''})`);
          if (f.ok === 0) throw new Error(`${op} floor: no request succeeded (${f.first_error ?? ''})`);
          if (s.errors > 0) notes.push(`${op}: ${s.errors} non-2xx answers from the service (${s.first_error ?? ''})`);
          const floorLabel = route === 'write' ? 'floor: bare NestJS route, one INSERT into memory_nodes' : 'floor: bare NestJS route, the exact-scan candidate SELECT of the scope';
          const what = op === 'write' ? `POST /v1/memory/write (${connections} connections, a scope each)` : op === 'write_one_scope' ? `POST /v1/memory/write (${connections} connections, one shared scope)` : `POST /v1/memory/recall_text (${connections} connections)`;
          figures.push(
            figure({
              id: `memory.${op}.rps`,
              label: `${what}, requests/s`,
              value: s.rps,
              unit: 'req/s',
              better: 'higher',
              baseline: { label: `${floorLabel}, requests/s`, value: f.rps, unit: 'req/s' },
              extra: { requests: s.requests, errors: s.errors, floor_requests: f.requests },
            }),
          );
          for (const p of ['p50', 'p99'] as const) {
            figures.push(
              figure({
                id: `memory.${op}.${p}`,
                label: `${what}, latency ${p}`,
                value: s.latency_ms[p],
                unit: 'ms',
                better: 'lower',
                baseline: { label: `${floorLabel}, ${p}`, value: f.latency_ms[p], unit: 'ms' },
                extra: { max_ms: round(s.latency_ms.max, 2), floor_max_ms: round(f.latency_ms.max, 2) },
              }),
            );
          }
        }
        notes.push(
          `write: one shared node per request without an embedding (the service enqueues an embedding job that its worker role does in the same process, ${dim} dimensions); recall_text: a scope of ${seedNodes} shared nodes with ${dim}-dimension client embeddings, the local embedding provider, limit 10 and the other knobs from the default strict_edges profile (2 hops), the exact scan (PostgreSQL has no pgvector here).`,
        );
        notes.push('The floor answers recall_text with the first ids unranked: embedding the query, ranking, the neighbourhood and the context text are part of what the service adds.');
      } finally {
        await floor.stop();
      }
    } finally {
      await svc.stop();
    }
    return { scale: { connections, seconds_per_run: seconds, recall_scope_nodes: seedNodes, dimensions: dim }, figures, notes };
  },
};
