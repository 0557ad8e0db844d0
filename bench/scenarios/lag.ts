import pg from 'pg';
import { type Checkpoint, compareCheckpoints } from '../../src/platform/event-store/event-store';
import { tenantStreamId } from '../../src/control-plane/shared/ids';
import type { BenchContext, Scenario, ScenarioOutput } from '../lib/context';
import { httpJson } from '../lib/http';
import { startServiceProcess } from '../lib/processes';
import { figure, type Figure } from '../lib/report';
import { round, sleep, summarize } from '../lib/stats';
import { type BenchDb, freshDb } from './shared';

/**
 * Scenario 4. Projection lag: events appended at a steady rate (1 event per transaction, open
 * loop), from the append's commit (its call returned) to the moment the read model includes it
 * (the projector's NOTIFY after its batch commit, confirmed by its checkpoint). The projector is
 * the service's, running as its own process. The baseline is a raw consumer in this process:
 * LISTEN, the same gap-safe SELECT, one upsert and a checkpoint per page, nothing else.
 * Then again with one write transaction held open: the stall every gap-safe consumer must show,
 * and whether the alert (aionis_projection_lag_ms > 5000, docs/observability.md) sees it.
 */
const ALERT_MS = 5000;
const WATCHED = ['tenants', 'audit'] as const;

interface RunResult {
  readonly appended: number;
  readonly rate: number;
  readonly lag: Record<string, number[]>;
  readonly rawLag: number[];
  readonly metricPeakMs: number;
  readonly alertFiredAfterS: number | null;
  readonly readyStatuses: Record<string, number>;
  readonly recoveryMs: number | null;
}

async function runLagPhase(
  ctx: BenchContext,
  db: BenchDb,
  serviceUrl: string,
  opts: { label: string; rate: number; seconds: number; hold?: { atS: number; forS: number } },
): Promise<RunResult> {
  const { rate, seconds } = opts;
  const total = Math.round(rate * seconds);
  const commitAt = new Array<number>(total).fill(Number.NaN);
  const positions = new Array<Checkpoint | undefined>(total);
  const visibleAt: Record<string, number[]> = Object.fromEntries([...WATCHED, 'raw'].map((p) => [p, new Array<number>(total).fill(Number.NaN)]));
  const known: Record<string, Checkpoint> = {};
  const pending = new Set<number>();

  const markVisible = (projection: string, cp: Checkpoint, at: number) => {
    known[projection] = cp;
    const vis = visibleAt[projection]!;
    for (const i of pending) {
      const pos = positions[i];
      if (pos && Number.isNaN(vis[i]!) && compareCheckpoints(pos, cp) <= 0) vis[i] = at;
    }
    for (const i of [...pending]) if (Object.values(visibleAt).every((v) => !Number.isNaN(v[i]!))) pending.delete(i);
  };

  // The product projector's progress: NOTIFY aionis_projection_progress after each batch commit, then its checkpoint.
  const listener = new pg.Client({ connectionString: db.url, application_name: 'aionis-bench-lag-listener' });
  await listener.connect();
  const dirty = new Set<string>();
  let reading = false;
  const readCheckpoints = async () => {
    if (reading) return;
    reading = true;
    try {
      while (dirty.size > 0) {
        const names = [...dirty];
        dirty.clear();
        const r = await listener.query<{ projection: string; tx: string; gp: string }>(
          'SELECT projection, last_transaction_id::text AS tx, last_global_position AS gp FROM proj_checkpoints WHERE projection = ANY($1)',
          [names],
        );
        const at = performance.now();
        for (const row of r.rows) markVisible(row.projection, { transactionId: row.tx, globalPosition: Number(row.gp) }, at);
      }
    } finally {
      reading = false;
    }
  };
  listener.on('notification', (msg) => {
    if (msg.channel === 'aionis_projection_progress' && (WATCHED as readonly string[]).includes(msg.payload ?? '')) {
      dirty.add(msg.payload!);
      void readCheckpoints();
    }
  });
  await listener.query('LISTEN aionis_projection_progress');

  // The raw consumer: wake on the store's NOTIFY, read gap-safe pages, one upsert + checkpoint per page.
  const rawc = new pg.Client({ connectionString: db.url, application_name: 'aionis-bench-raw-consumer' });
  await rawc.connect();
  await rawc.query('CREATE TABLE IF NOT EXISTS raw_lag_rm (k text PRIMARY KEY, doc jsonb NOT NULL)');
  await rawc.query('CREATE TABLE IF NOT EXISTS raw_lag_checkpoint (id int PRIMARY KEY, tx xid8 NOT NULL, gp bigint NOT NULL)');
  const head = await rawc.query<{ tx: string; gp: string }>(
    `SELECT coalesce(max(transaction_id)::text, '0') AS tx, coalesce(max(global_position), 0) AS gp FROM es_events`,
  );
  let rawPos: Checkpoint = { transactionId: head.rows[0]?.tx ?? '0', globalPosition: Number(head.rows[0]?.gp ?? 0) };
  let rawWake: (() => void) | undefined;
  let rawStop = false;
  rawc.on('notification', () => rawWake?.());
  await rawc.query('LISTEN aionis_events');
  const rawLoop = (async () => {
    while (!rawStop) {
      await rawc.query('BEGIN');
      const r = await rawc.query<{ tx: string; gp: string; stream_id: string; data: unknown }>(
        `SELECT transaction_id::text AS tx, global_position AS gp, stream_id, data FROM es_events
         WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot()) AND (transaction_id, global_position) > ($1::xid8, $2::bigint)
         ORDER BY es_events.transaction_id, es_events.global_position LIMIT 1000`,
        [rawPos.transactionId, rawPos.globalPosition],
      );
      if (r.rows.length > 0) {
        const last = r.rows[r.rows.length - 1]!;
        await rawc.query(
          `INSERT INTO raw_lag_rm (k, doc) SELECT * FROM unnest($1::text[], $2::jsonb[]) ON CONFLICT (k) DO UPDATE SET doc = EXCLUDED.doc`,
          [r.rows.map((x) => x.stream_id), r.rows.map((x) => JSON.stringify(x.data))],
        );
        await rawc.query('INSERT INTO raw_lag_checkpoint VALUES (1, $1::xid8, $2) ON CONFLICT (id) DO UPDATE SET tx = EXCLUDED.tx, gp = EXCLUDED.gp', [last.tx, last.gp]);
        await rawc.query('COMMIT');
        rawPos = { transactionId: last.tx, globalPosition: Number(last.gp) };
        markVisible('raw', rawPos, performance.now());
        continue;
      }
      await rawc.query('COMMIT');
      // Nothing visible yet: wait for a notification, or re-poll in 2 ms (an older transaction may still be open).
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          rawWake = undefined;
          resolve();
        }, 2);
        rawWake = () => {
          clearTimeout(t);
          rawWake = undefined;
          resolve();
        };
      });
    }
  })();

  // The alert as an operator sees it: the service's own metric and readiness, scraped every 250 ms.
  let metricPeakMs = 0;
  let alertFiredAt: number | null = null;
  const readyStatuses: Record<string, number> = {};
  let scraping = true;
  const scrapeLoop = (async () => {
    while (scraping) {
      try {
        const m = await httpJson(`${serviceUrl}/metrics`, { timeoutMs: 2000 });
        const match = /aionis_projection_lag_ms\{[^}]*projection="tenants"[^}]*\} ([0-9.e+]+)/.exec(m.text);
        const v = match ? Number(match[1]) : 0;
        metricPeakMs = Math.max(metricPeakMs, v);
        if (v > ALERT_MS && alertFiredAt === null) alertFiredAt = performance.now();
        const ready = await httpJson(`${serviceUrl}/health/ready`, { timeoutMs: 2000 });
        readyStatuses[String(ready.status)] = (readyStatuses[String(ready.status)] ?? 0) + 1;
      } catch {
        readyStatuses.error = (readyStatuses.error ?? 0) + 1;
      }
      await sleep(250);
    }
  })();

  // The held-open write transaction (a real write, so it has an xid every gap-safe reader must wait for).
  const holder = new pg.Client({ connectionString: db.url, application_name: 'aionis-bench-long-tx' });
  await holder.connect();
  await holder.query('CREATE TABLE IF NOT EXISTS bench_long_tx (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())');

  // Open-loop appender: event i is due at start + i / rate; several in flight at once.
  ctx.log(`  ${opts.label}: ${total.toLocaleString('en-US')} events at ${rate}/s${opts.hold ? `, a write transaction held open ${opts.hold.forS} s from t=${opts.hold.atS} s` : ''}`);
  const start = performance.now();
  let holdStartedAt: number | null = null;
  let holdEndedAt: number | null = null;
  const holdTask = opts.hold
    ? (async () => {
        await sleep(opts.hold!.atS * 1000);
        await holder.query('BEGIN');
        await holder.query('INSERT INTO bench_long_tx DEFAULT VALUES');
        holdStartedAt = performance.now();
        await sleep(opts.hold!.forS * 1000);
        await holder.query('COMMIT');
        holdEndedAt = performance.now();
      })()
    : Promise.resolve();
  let next = 0;
  let inFlight = 0;
  const runId = Math.random().toString(36).slice(2, 8);
  const appendOne = async (i: number) => {
    const tenantId = `lag-${runId}-${i}`;
    const r = await db.store.append(tenantStreamId(tenantId), [{ type: 'TenantCreated', data: { tenant_id: tenantId, display_name: `Lag tenant ${i}`, tier: 'starter', metadata: {} } }], {
      expectedRevision: 'no_stream',
      tenantId,
      metadata: { actor: { type: 'operator', id: 'op_bench' }, occurred_at: new Date().toISOString(), correlation_id: `lag-${i}`, causation_id: null, request_id: null, command_id: null },
    });
    commitAt[i] = performance.now();
    positions[i] = r.position;
    pending.add(i);
    // Already covered by a checkpoint seen before this call returned: visible now.
    for (const [p, cp] of Object.entries(known)) if (compareCheckpoints(r.position, cp) <= 0) visibleAt[p]![i] = commitAt[i];
  };
  const appends: Promise<void>[] = [];
  while (next < total) {
    const now = performance.now();
    const due = Math.min(total, Math.floor(((now - start) / 1000) * rate) + 1);
    while (next < due && inFlight < 64) {
      inFlight += 1;
      appends.push(appendOne(next++).finally(() => (inFlight -= 1)));
    }
    await sleep(1);
  }
  await Promise.all(appends);
  const elapsed = (performance.now() - start) / 1000;
  await holdTask;
  // Let everything become visible (bounded).
  const deadline = performance.now() + 30_000;
  while (pending.size > 0 && performance.now() < deadline) await sleep(20);
  const recoveryMs = (() => {
    if (holdEndedAt === null) return null;
    // From the COMMIT of the held transaction until the tenants read model held every event appended before it.
    let last = 0;
    for (let i = 0; i < total; i++) if (commitAt[i]! <= holdEndedAt) last = Math.max(last, visibleAt.tenants![i]!);
    return Number.isFinite(last) ? Math.max(0, last - holdEndedAt) : null;
  })();
  scraping = false;
  await scrapeLoop;
  rawStop = true;
  rawWake?.();
  await rawLoop;
  await Promise.all([listener.end(), rawc.end(), holder.end()]);
  if (pending.size > 0) throw new Error(`${pending.size} events never became visible within 30 s`);
  const lagOf = (p: string) => visibleAt[p]!.map((v, i) => Math.max(0, v - commitAt[i]!));
  return {
    appended: total,
    rate: total / elapsed,
    lag: Object.fromEntries(WATCHED.map((p) => [p, lagOf(p)])),
    rawLag: lagOf('raw'),
    metricPeakMs,
    alertFiredAfterS: alertFiredAt !== null && holdStartedAt !== null ? round((alertFiredAt - holdStartedAt) / 1000, 2) : null,
    readyStatuses,
    recoveryMs,
  };
}

export const lagScenario: Scenario = {
  name: 'lag',
  title: 'Projection lag at a steady 1,000 events/s, and the stall of one long write transaction',
  async run(ctx: BenchContext): Promise<ScenarioOutput> {
    const rate = 1000;
    const steadyS = ctx.quick ? 3 : 30;
    const stallS = ctx.quick ? 4.5 : 30;
    const hold = ctx.quick ? { atS: 1, forS: 2 } : { atS: 10, forS: 10 };
    const db = await freshDb(ctx, 'lag', 16);
    const svc = await startServiceProcess('lag', db.url);
    const figures: Figure[] = [];
    const notes: string[] = [];
    try {
      // Warm up (connections, JIT) before measuring.
      await runLagPhase(ctx, db, svc.url, { label: 'warm-up', rate, seconds: ctx.quick ? 0.5 : 2 });
      const steady = await runLagPhase(ctx, db, svc.url, { label: 'steady', rate, seconds: steadyS });
      const raw = summarize(steady.rawLag);
      const tenants = summarize(steady.lag.tenants!);
      const audit = summarize(steady.lag.audit!);
      const baseline = (what: 'p50' | 'p99' | 'max') => ({ label: `raw consumer (LISTEN + the same gap-safe SELECT + one upsert + checkpoint per page, in the bench process), ${what}`, value: raw[what], unit: 'ms' });
      for (const what of ['p50', 'p99', 'max'] as const) {
        figures.push(
          figure({
            id: `lag.steady.${what}`,
            label: `commit -> read model (tenants), ${what}, ${rate}/s offered for ${steadyS} s`,
            value: tenants[what],
            unit: 'ms',
            better: 'lower',
            baseline: baseline(what),
            ...(what === 'p99' ? { target: { value: 100, source: 'DESIGN.md: projection lag at 1k events/s p99 <= 100 ms (stretch 50 ms)' } } : {}),
            extra: { audit_projection_ms: round(audit[what], 2), events: steady.appended, achieved_rate: round(steady.rate, 0) },
          }),
        );
      }
      const stalled = await runLagPhase(ctx, db, svc.url, { label: 'stall', rate, seconds: stallS, hold });
      const st = summarize(stalled.lag.tenants!);
      const stRaw = summarize(stalled.rawLag);
      figures.push(
        figure({
          id: 'lag.stall.max',
          label: `commit -> read model (tenants), max, with one write transaction open ${hold.forS} s`,
          value: st.max,
          unit: 'ms',
          better: 'lower',
          baseline: { label: 'raw gap-safe consumer, max, same run', value: stRaw.max, unit: 'ms' },
          extra: {
            p50_ms: round(st.p50, 2),
            p99_ms: round(st.p99, 2),
            metric_aionis_projection_lag_ms_peak: round(stalled.metricPeakMs, 0),
            alert_threshold_ms: ALERT_MS,
            alert_condition_seen: stalled.metricPeakMs > ALERT_MS,
            alert_seen_after_s: stalled.alertFiredAfterS,
            health_ready_statuses: JSON.stringify(stalled.readyStatuses),
            caught_up_after_commit_ms: stalled.recoveryMs === null ? null : round(stalled.recoveryMs, 1),
          },
        }),
      );
      notes.push(`Lag = time from the append call returning (its COMMIT) to the NOTIFY the projector sends after committing the batch that holds it (checkpoint read back to confirm). The service runs its default settings (PROJECTOR_POLL_INTERVAL_MS=500, wake-ups by LISTEN).`);
      notes.push(`Alert: docs/observability.md suggests paging on aionis_projection_lag_ms > ${ALERT_MS} for 1 minute; a ${hold.forS} s stall crosses the threshold (condition seen: ${stalled.metricPeakMs > ALERT_MS}) but would not page under that rule; /health/ready answers 503 only past PROJECTION_READY_MAX_LAG_MS (30 s).`);
    } finally {
      await svc.stop();
    }
    return { scale: { rate_per_s: rate, steady_seconds: steadyS, stall_run_seconds: stallS, held_open_s: hold.forS }, figures, notes };
  },
};
