import { randomUUID } from 'node:crypto';
import { getPostgreSQLEventStore } from '@event-driven-io/emmett-postgresql';
import pg from 'pg';
import { canonicalJson } from '../../src/platform/event-store/canonical-json';
import type { EventMetadata, NewEvent } from '../../src/platform/event-store/event-store';
import { chainHash, hashedEnvelope } from '../../src/platform/event-store/postgres-event-store';
import type { BenchContext, Scenario, ScenarioOutput } from '../lib/context';
import { expectStatus } from '../lib/http';
import { runLoad } from '../lib/load';
import { closedLoop, type LoopResult } from '../lib/pool';
import { BENCH_ADMIN_TOKEN, startServiceProcess } from '../lib/processes';
import { figure, type Figure } from '../lib/report';
import { round } from '../lib/stats';
import { freshDb } from './shared';

/**
 * Scenario 1. Appends: our event store against (a) the raw ceiling, a plain INSERT of the same row
 * into a table of the same shape through pg, and (b) a peer, Emmett's PostgreSQL event store, on
 * the same server; then the full path, HTTP command -> event, at 8 clients.
 */
const CONFIGS = [
  { id: 'e1.w1', eventsPerTx: 1, writers: 1 },
  { id: 'e1.w8', eventsPerTx: 1, writers: 8 },
  { id: 'e10.w8', eventsPerTx: 10, writers: 8 },
] as const;

const metadata = (): EventMetadata => ({
  actor: { type: 'operator', id: 'op_bench', display: 'bench' },
  occurred_at: new Date().toISOString(),
  correlation_id: randomUUID(),
  causation_id: null,
  request_id: randomUUID(),
  command_id: null,
});

/** A realistic control-plane event (about 200 bytes of data). */
const event = (w: number, i: number): NewEvent => ({
  type: 'TenantUpdated',
  data: { tenant_id: `bench-w${w}`, display_name: `Bench writer ${w} revision ${i}`, metadata: { region: 'eu-west', plan_ref: `p-${w}-${i}`, tags: ['bench', 'append'] } },
});

export const appendScenario: Scenario = {
  name: 'append',
  title: 'Append: event store vs raw INSERT ceiling vs Emmett; full HTTP command path',
  async run(ctx: BenchContext): Promise<ScenarioOutput> {
    const seconds = ctx.quick ? 1 : 10;
    const warmup = ctx.quick ? 200 : 1000;
    const db = await freshDb(ctx, 'append', 10);
    const figures: Figure[] = [];
    const notes: string[] = [];

    // (a) The raw ceiling: same table shape (es_events' columns, defaults, identity and indexes), a plain INSERT.
    const raw = new pg.Pool({ connectionString: db.url, max: 10, application_name: 'aionis-bench-raw' });
    ctx.onCleanup(() => raw.end());
    await raw.query('CREATE TABLE raw_events (LIKE es_events INCLUDING ALL)');
    // The same row as the event store writes (canonical data and metadata, a hash), computed once: the ceiling does no per-row work.
    const sample = event(0, 0);
    const md = metadata();
    const recordedAt = new Date().toISOString();
    const constantHash = chainHash('0'.repeat(64), hashedEnvelope({ streamId: 'raw', streamPosition: 1, tenantId: null, eventId: randomUUID(), type: sample.type, schemaVersion: 1, data: sample.data, metadata: md, recordedAt }));
    const dataJson = canonicalJson(sample.data);
    const metadataJson = canonicalJson(md);
    const rawRun = async (tag: string, eventsPerTx: number, writers: number): Promise<LoopResult> => {
      const positions = new Array<number>(writers).fill(0);
      return closedLoop({ workers: writers, durationMs: seconds * 1000, warmupMs: warmup }, async (w) => {
        const values: unknown[] = [];
        const tuples: string[] = [];
        for (let k = 0; k < eventsPerTx; k++) {
          positions[w] = (positions[w] ?? 0) + 1;
          const v = [`raw-${tag}-${w}`, positions[w], null, randomUUID(), sample.type, 1, dataJson, metadataJson, recordedAt, '0'.repeat(64), constantHash];
          tuples.push(`(${v.map((_, j) => `$${values.length + j + 1}`).join(', ')})`);
          values.push(...v);
        }
        await raw.query(
          `INSERT INTO raw_events (stream_id, stream_position, tenant_id, event_id, type, schema_version, data, metadata, recorded_at, prev_hash, hash) VALUES ${tuples.join(', ')}`,
          values,
        );
        return eventsPerTx;
      });
    };

    // Ours: PostgresEventStore.append, one stream per writer, exact expected revision.
    const storeRun = async (cfg: (typeof CONFIGS)[number], round: number): Promise<LoopResult> => {
      const revisions = new Array<number>(cfg.writers).fill(0);
      return closedLoop({ workers: cfg.writers, durationMs: seconds * 1000, warmupMs: warmup }, async (w, i) => {
        const events = Array.from({ length: cfg.eventsPerTx }, (_, k) => event(w, i * cfg.eventsPerTx + k));
        const r = await db.store.append(`bench-${cfg.id}-${round}-${w}`, events, { expectedRevision: revisions[w] === 0 ? 'no_stream' : revisions[w]!, tenantId: null, metadata: metadata() });
        revisions[w] = r.nextRevision;
        return cfg.eventsPerTx;
      });
    };

    // (b) The peer: Emmett's PostgreSQL event store (its own tables, same server, same database).
    const emmett = getPostgreSQLEventStore(db.url);
    ctx.onCleanup(() => emmett.close());
    await emmett.appendToStream('warmup', [{ type: 'Warmup', data: {} }]);
    const emmettRun = async (cfg: (typeof CONFIGS)[number]): Promise<LoopResult> => {
      const versions = new Array<bigint>(cfg.writers).fill(0n);
      return closedLoop({ workers: cfg.writers, durationMs: seconds * 1000, warmupMs: warmup }, async (w, i) => {
        const events = Array.from({ length: cfg.eventsPerTx }, (_, k) => {
          const e = event(w, i * cfg.eventsPerTx + k);
          return { type: e.type, data: e.data as Record<string, unknown>, metadata: metadata() as unknown as Record<string, unknown> };
        });
        const r = await emmett.appendToStream(`bench-${cfg.id}-${w}`, events, versions[w] === 0n ? {} : { expectedStreamVersion: versions[w]! });
        versions[w] = r.nextExpectedStreamVersion;
        return cfg.eventsPerTx;
      });
    };

    let rawE1W8 = 0;
    for (const cfg of CONFIGS) {
      ctx.log(`  ${cfg.eventsPerTx} event(s)/tx, ${cfg.writers} writer(s): raw INSERT, event store, Emmett (${seconds} s each)`);
      const r = await rawRun(cfg.id, cfg.eventsPerTx, cfg.writers);
      const ours = await storeRun(cfg, 0);
      const peer = await emmettRun(cfg);
      if (cfg.id === 'e1.w8') rawE1W8 = r.unitsPerSecond;
      const label = `event store, ${cfg.eventsPerTx} event${cfg.eventsPerTx > 1 ? 's' : ''}/tx, ${cfg.writers} writer${cfg.writers > 1 ? 's' : ''}`;
      figures.push(
        figure({
          id: `append.store.${cfg.id}`,
          label,
          value: ours.unitsPerSecond,
          unit: 'events/s',
          better: 'higher',
          baseline: { label: `raw INSERT into a table of the same shape through pg, ${cfg.eventsPerTx} row${cfg.eventsPerTx > 1 ? 's' : ''}/statement, ${cfg.writers} writer${cfg.writers > 1 ? 's' : ''}`, value: r.unitsPerSecond, unit: 'events/s' },
          peer: { label: '@event-driven-io/emmett-postgresql 0.42.0 appendToStream, same server, same writers', value: peer.unitsPerSecond },
          extra: {
            p50_ms: round(ours.latency.p50, 3),
            p99_ms: round(ours.latency.p99, 3),
            raw_p50_ms: round(r.latency.p50, 3),
            emmett_p50_ms: round(peer.latency.p50, 3),
            emmett_p99_ms: round(peer.latency.p99, 3),
          },
        }),
      );
    }

    // The full path: HTTP command -> event, 8 concurrent clients, with and without the read-your-writes wait.
    const fullSeconds = ctx.quick ? 2 : 15;
    const variants: { id: string; env: Record<string, string>; label: string }[] = [
      { id: 'default', env: {}, label: 'HTTP POST /v1/admin/control/tenants, 8 clients (response waits for the read model)' },
      { id: 'nowait', env: { COMMAND_WAIT_FOR_PROJECTION_MS: '0' }, label: 'same, COMMAND_WAIT_FOR_PROJECTION_MS=0 (no read-your-writes wait)' },
    ];
    for (const variant of variants) {
      const svcDb = await freshDb(ctx, `append_http_${variant.id}`, 2);
      const svc = await startServiceProcess(`append-${variant.id}`, svcDb.url, variant.env);
      try {
        await expectStatus(200, `${svc.url}/health/ready`);
        ctx.log(`  full path (${variant.id}): 8 clients creating tenants for ${fullSeconds} s`);
        const r = await runLoad({
          baseUrl: svc.url,
          method: 'POST',
          path: '/v1/admin/control/tenants',
          headers: { authorization: `Bearer ${BENCH_ADMIN_TOKEN}` },
          body: '{"tenant_id":"t-{{n}}","display_name":"Bench tenant {{n}}","tier":"growth","metadata":{"region":"eu-west"}}',
          connections: 8,
          durationMs: fullSeconds * 1000,
          warmupMs: ctx.quick ? 500 : 2000,
        });
        if (r.ok === 0) throw new Error(`full path: no request succeeded (${r.first_error ?? 'no error text'})`);
        figures.push(
          figure({
            id: `append.http.${variant.id}.c8`,
            label: `full command path: ${variant.label}`,
            value: r.rps,
            unit: 'events/s',
            better: 'higher',
            baseline: { label: 'raw INSERT, 1 row/statement, 8 writers (measured above)', value: rawE1W8, unit: 'events/s' },
            target: { value: 2000, source: 'DESIGN.md: append, 1 event/transaction, 8 clients, full command path >= 2,000/s (stretch 3,500/s)' },
            extra: { p50_ms: round(r.latency_ms.p50, 2), p99_ms: round(r.latency_ms.p99, 2), max_ms: round(r.latency_ms.max, 2), requests: r.requests, errors: r.errors },
          }),
        );
        if (r.errors > 0) notes.push(`full path (${variant.id}): ${r.errors} non-2xx answers (${r.first_error ?? ''})`);
      } finally {
        await svc.stop();
      }
    }
    notes.push('Each closed-loop writer appends to its own stream with the exact expected revision (ours and Emmett), so no run measures conflicts.');
    notes.push('The raw ceiling computes nothing per row (the hash is precomputed) and sends one autocommit statement: it is what PostgreSQL and pg alone can do here.');
    notes.push('The full path runs the service as its own process (src/main.ts, all roles) and the load generator as another; one event per request (TenantCreated).');
    return { scale: { seconds_per_run: seconds, full_path_seconds: fullSeconds, writers: '1, 8', events_per_tx: '1, 10' }, figures, notes };
  },
};
