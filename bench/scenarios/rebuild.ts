import pg from 'pg';
import { apiKeysProjection, auditProjection, tenantsProjection } from '../../projections';
import { type RebuildProgress, rebuildProjections, type RebuildResult } from '../../src/platform/projections/rebuild';
import type { AnyProjection } from '../../src/platform/projections/projection';
import type { BenchContext, Scenario, ScenarioOutput } from '../lib/context';
import { figure, type Figure } from '../lib/report';
import { perSecond, round } from '../lib/stats';
import { controlPlaneLog } from './shared';

/**
 * Scenario 3. Blue/green rebuild (src/platform/projections/rebuild.ts, what `npm run
 * projections:rebuild` runs) of the tenants, API-key and audit projections over the whole log,
 * against a raw fold ceiling: plain SELECT pages + one upsert statement + a checkpoint update per
 * page, in one transaction, with the cheapest fold that gives the same kind of table.
 */
const DEFS: readonly AnyProjection[] = [tenantsProjection, apiKeysProjection, auditProjection];

interface RawFold {
  readonly name: string;
  readonly types: ReadonlySet<string> | null;
  readonly keyOf: (r: RawEvent) => string | null;
}

interface RawEvent {
  global_position: string;
  stream_id: string;
  type: string;
  event_id: string;
  data: Record<string, unknown>;
}

/** The raw equivalent of each projection: which events it takes and what its row key is. */
const RAW_FOLDS: readonly RawFold[] = [
  { name: 'tenants', types: new Set(tenantsProjection.handles), keyOf: (r) => (typeof r.data.tenant_id === 'string' ? r.data.tenant_id : null) },
  { name: 'api_keys', types: new Set(apiKeysProjection.handles), keyOf: (r) => (typeof r.data.key_id === 'string' ? r.data.key_id : null) },
  { name: 'audit', types: null, keyOf: (r) => r.event_id },
];

async function rawFold(url: string, fold: RawFold, pageSize: number): Promise<{ events: number; ms: number }> {
  const c = new pg.Client({ connectionString: url, application_name: 'aionis-bench-raw-fold' });
  await c.connect();
  try {
    const table = `raw_rm_${fold.name}`;
    await c.query(`DROP TABLE IF EXISTS ${table}`);
    await c.query(`CREATE TABLE ${table} (k text PRIMARY KEY, doc jsonb NOT NULL, position bigint NOT NULL)`);
    await c.query(`CREATE TABLE IF NOT EXISTS raw_checkpoints (name text PRIMARY KEY, position bigint NOT NULL)`);
    await c.query(`INSERT INTO raw_checkpoints VALUES ($1, 0) ON CONFLICT (name) DO UPDATE SET position = 0`, [fold.name]);
    const t0 = performance.now();
    let last = '0';
    let n = 0;
    for (;;) {
      await c.query('BEGIN');
      const r = await c.query<RawEvent>(`SELECT global_position, stream_id, type, event_id::text AS event_id, data FROM es_events WHERE global_position > $1 ORDER BY global_position LIMIT ${pageSize}`, [last]);
      if (r.rows.length === 0) {
        await c.query('COMMIT');
        break;
      }
      // Fold the page in memory: the last document per key, merged with what came before it in the page.
      const docs = new Map<string, { doc: Record<string, unknown>; position: string }>();
      for (const e of r.rows) {
        if (fold.types && !fold.types.has(e.type)) continue;
        const k = fold.keyOf(e);
        if (k === null) continue;
        const prev = docs.get(k);
        docs.set(k, { doc: { ...(prev?.doc ?? {}), ...e.data, last_type: e.type }, position: e.global_position });
      }
      if (docs.size > 0) {
        const keys = [...docs.keys()];
        await c.query(
          `INSERT INTO ${table} (k, doc, position) SELECT * FROM unnest($1::text[], $2::jsonb[], $3::bigint[])
           ON CONFLICT (k) DO UPDATE SET doc = ${table}.doc || EXCLUDED.doc, position = EXCLUDED.position`,
          [keys, keys.map((k) => JSON.stringify(docs.get(k)!.doc)), keys.map((k) => docs.get(k)!.position)],
        );
      }
      last = r.rows[r.rows.length - 1]!.global_position;
      await c.query('UPDATE raw_checkpoints SET position = $2 WHERE name = $1', [fold.name, last]);
      await c.query('COMMIT');
      n += r.rows.length;
    }
    return { events: n, ms: performance.now() - t0 };
  } finally {
    await c.end();
  }
}

export const rebuildScenario: Scenario = {
  name: 'rebuild',
  title: 'Blue/green projection rebuild (tenants, api_keys, audit) vs a raw fold ceiling',
  async run(ctx: BenchContext): Promise<ScenarioOutput> {
    const log = await controlPlaneLog(ctx);
    const total = log.dataset.events;
    const figures: Figure[] = [];
    const notes: string[] = [];
    const pageSize = 5000;

    const raw: Record<string, { events: number; ms: number }> = {};
    for (const fold of RAW_FOLDS) {
      ctx.log(`  raw fold ${fold.name}: SELECT pages of ${pageSize} + upsert + checkpoint`);
      raw[fold.name] = await rawFold(log.url, fold, pageSize);
    }
    const rawEvents = Object.values(raw).reduce((s, r) => s + r.events, 0);
    const rawMs = Object.values(raw).reduce((s, r) => s + r.ms, 0);
    const rawBaseline = (name: string) => ({ label: `raw fold of ${name}: SELECT pages of ${pageSize} + one upsert + checkpoint per page, one transaction per page`, value: perSecond(raw[name]!.events, raw[name]!.ms), unit: 'events/s' });
    const rawTotal = { label: `raw fold of the three, one after the other (pages of ${pageSize})`, value: perSecond(rawEvents, rawMs), unit: 'events/s' };

    const actor = { type: 'operator' as const, id: 'op_bench', display: 'bench' };
    const runRebuild = async (label: string, batchSize: number): Promise<{ results: RebuildResult[]; ms: number; phases: Record<string, Record<string, number>> }> => {
      ctx.log(`  ${label}: rebuildProjections(tenants, api_keys, audit), batch size ${batchSize}`);
      const phases: Record<string, Record<string, number>> = {};
      const t0 = performance.now();
      let lastLog = 0;
      const results = await rebuildProjections(log.database, log.store, DEFS, {
        actor,
        batchSize,
        onProgress: (p: RebuildProgress) => {
          const at = performance.now();
          const ph = (phases[p.projection] ??= {});
          ph[p.phase] = round((at - t0) / 1000, 2);
          if (at - lastLog > 10_000) {
            lastLog = at;
            ctx.log(`    ${p.projection} ${p.phase}: ${p.eventsRead.toLocaleString('en-US')} events, ${p.eventsPerSecond.toLocaleString('en-US')}/s`);
          }
        },
      });
      return { results, ms: performance.now() - t0, phases };
    };

    // 1. No live read model yet: the first build (what a fresh deployment or a restore does).
    const initial = await runRebuild('initial build (no live read model)', 1000);
    // 2. The blue/green rebuild proper: live tables exist, so the shadow is diffed against them and swapped in.
    const blueGreen = await runRebuild('blue/green rebuild (live read models exist)', 1000);
    for (const r of blueGreen.results) {
      if (r.diff && (r.diff.only_live > 0 || r.diff.only_shadow > 0 || r.diff.changed > 0)) throw new Error(`rebuild of ${r.projection} differs from the live read model: ${JSON.stringify(r.diff)}`);
      if (r.dead_letters > 0) throw new Error(`rebuild of ${r.projection}: ${r.dead_letters} dead letters`);
    }
    for (const r of blueGreen.results) {
      figures.push(
        figure({
          id: `rebuild.bluegreen.${r.projection}`,
          label: `blue/green rebuild of ${r.projection} (build + diff + swap), batch 1,000`,
          value: perSecond(r.events_read, r.duration_ms),
          unit: 'events/s',
          better: 'higher',
          baseline: rawBaseline(r.projection),
          target: { value: 30_000, source: 'DESIGN.md: rebuild >= 30k events/s' },
          extra: { events_read: r.events_read, events_applied: r.events_applied, seconds: round(r.duration_ms / 1000, 2), diff_rows: r.diff ? r.diff.live_rows : null, phase_end_s: JSON.stringify(blueGreen.phases[r.projection] ?? {}) },
        }),
      );
    }
    const bgEvents = blueGreen.results.reduce((s, r) => s + r.events_read, 0);
    figures.push(
      figure({
        id: 'rebuild.bluegreen.all',
        label: 'blue/green rebuild of the three, one after the other (events read / total time)',
        value: perSecond(bgEvents, blueGreen.ms),
        unit: 'events/s',
        better: 'higher',
        baseline: rawTotal,
        target: { value: 30_000, source: 'DESIGN.md: rebuild >= 30k events/s' },
        extra: { events_read: bgEvents, seconds: round(blueGreen.ms / 1000, 2) },
      }),
    );
    const initEvents = initial.results.reduce((s, r) => s + r.events_read, 0);
    figures.push(
      figure({
        id: 'rebuild.initial.all',
        label: 'initial build of the three (no live read model: no diff)',
        value: perSecond(initEvents, initial.ms),
        unit: 'events/s',
        better: 'higher',
        baseline: rawTotal,
        target: { value: 30_000, source: 'DESIGN.md: rebuild >= 30k events/s' },
        extra: { events_read: initEvents, seconds: round(initial.ms / 1000, 2) },
      }),
    );
    notes.push(`Same log as the read scenario: ${total.toLocaleString('en-US')} events. Each projection reads the whole log once (events/s counts every event read, handled or not).`);
    notes.push('batch 1,000 is the default of npm run projections:rebuild; the raw fold reads pages of 5,000.');
    return { scale: { events: total, batch_size: 1000, raw_page_size: pageSize }, figures, notes };
  },
};
