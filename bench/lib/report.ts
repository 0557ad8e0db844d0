import { round } from './stats';

/**
 * What the harness prints: one document per run (JSON with --json) and the same as a table.
 * Every figure sits next to a baseline measured in the same run, with ratio = value / baseline.
 * For throughputs (better: higher) a ratio of 0.6 means "60% of the ceiling"; for latencies
 * (better: lower) a ratio of 3 means "three times the floor".
 */
export const REPORT_FORMAT = 'aionis-bench/1';

export type Better = 'higher' | 'lower';

export interface Baseline {
  readonly label: string;
  readonly value: number;
  readonly unit: string;
}

export interface Figure {
  /** Stable identifier, e.g. `append.store.e1.w8`. */
  readonly id: string;
  readonly label: string;
  readonly value: number;
  readonly unit: string;
  readonly better: Better;
  readonly baseline: Baseline;
  /** value / baseline.value */
  readonly ratio: number;
  /** A peer system measured in the same run on the same server (ratio = value / peer.value). */
  readonly peer?: { readonly label: string; readonly value: number; readonly ratio: number };
  /** The DESIGN.md target this figure answers to, if any. */
  readonly target?: { readonly value: number; readonly source: string; readonly met: boolean };
  /** Supporting numbers (percentiles, counts) for the doc; never asserted. */
  readonly extra?: Readonly<Record<string, number | string | boolean | null>>;
}

export interface MachineFacts {
  readonly cpus: number;
  readonly cpu_model: string;
  readonly ram_gib: number;
  readonly node: string;
  readonly postgres: string;
  readonly platform: string;
  readonly load_average_at_start: readonly number[];
}

export interface ScenarioResult {
  readonly name: string;
  readonly title: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly duration_s: number;
  /** The scale the scenario ran at (events, nodes, seconds, clients...). Quick mode scales down. */
  readonly scale: Readonly<Record<string, number | string>>;
  readonly figures: readonly Figure[];
  readonly notes: readonly string[];
  readonly machine: { readonly cpus: number; readonly postgres: string };
}

export interface BenchReport {
  readonly format: typeof REPORT_FORMAT;
  readonly mode: 'quick' | 'full';
  readonly started_at: string;
  readonly duration_s: number;
  readonly machine: MachineFacts;
  readonly scenarios: readonly ScenarioResult[];
}

export interface FigureInput {
  id: string;
  label: string;
  value: number;
  unit: string;
  better: Better;
  baseline: Baseline;
  peer?: { label: string; value: number };
  target?: { value: number; source: string };
  extra?: Record<string, number | string | boolean | null>;
}

const ratioOf = (a: number, b: number): number => (b > 0 && Number.isFinite(a) && Number.isFinite(b) ? a / b : Number.NaN);

/** Build a figure: rounds the numbers and computes the ratios and whether the target is met. */
export function figure(f: FigureInput): Figure {
  const decimals = f.unit === 'ms' || f.unit === 'µs' ? 3 : 1;
  const value = round(f.value, decimals);
  const baseValue = round(f.baseline.value, decimals);
  return {
    id: f.id,
    label: f.label,
    value,
    unit: f.unit,
    better: f.better,
    baseline: { ...f.baseline, value: baseValue },
    ratio: round(ratioOf(f.value, f.baseline.value), 3),
    ...(f.peer ? { peer: { label: f.peer.label, value: round(f.peer.value, decimals), ratio: round(ratioOf(f.value, f.peer.value), 3) } } : {}),
    ...(f.target ? { target: { ...f.target, met: f.better === 'higher' ? f.value >= f.target.value : f.value <= f.target.value } } : {}),
    ...(f.extra ? { extra: f.extra } : {}),
  };
}

const fmt = (v: number): string => {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
};

function pad(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, [...c].length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ').trimEnd()).join('\n');
}

/** The human report: machine facts, then one table per scenario. */
export function renderTable(report: BenchReport): string {
  const m = report.machine;
  const out: string[] = [];
  out.push(`Aionis Hosted benchmarks (${report.mode} mode), ${report.started_at}, ${report.duration_s.toFixed(0)} s`);
  out.push(`machine: ${m.cpus} CPU (${m.cpu_model}), ${m.ram_gib} GiB RAM, Node ${m.node}, ${m.postgres}, ${m.platform}, load average at start ${m.load_average_at_start.join(' / ')}`);
  for (const s of report.scenarios) {
    out.push('');
    out.push(`== ${s.name}: ${s.title}${s.ok ? '' : '  [FAILED]'} (${s.duration_s.toFixed(1)} s)`);
    out.push(`   scale: ${Object.entries(s.scale).map(([k, v]) => `${k}=${typeof v === 'number' ? fmt(v) : v}`).join(', ')}`);
    if (s.error) out.push(`   error: ${s.error}`);
    const rows: string[][] = [['figure', 'value', 'baseline', 'ratio', 'peer', 'vs peer', 'target']];
    for (const f of s.figures) {
      rows.push([
        f.label,
        `${fmt(f.value)} ${f.unit}`,
        `${fmt(f.baseline.value)} ${f.baseline.unit}`,
        `${f.ratio.toFixed(f.ratio >= 10 ? 1 : 2)}x`,
        f.peer ? `${fmt(f.peer.value)}` : '',
        f.peer ? `${f.peer.ratio.toFixed(2)}x` : '',
        f.target ? `${f.better === 'higher' ? '>=' : '<='} ${fmt(f.target.value)} ${f.target.met ? 'met' : 'MISSED'}` : '',
      ]);
    }
    if (s.figures.length > 0) out.push(pad(rows).replace(/^/gm, '   '));
    const baselines = [...new Map(s.figures.map((f) => [f.baseline.label, f.baseline])).values()];
    for (const b of baselines) out.push(`   baseline "${fmt(b.value)} ${b.unit}": ${b.label}`);
    const peers = [...new Set(s.figures.flatMap((f) => (f.peer ? [f.peer.label] : [])))];
    for (const p of peers) out.push(`   peer: ${p}`);
    for (const f of s.figures) {
      if (f.extra && Object.keys(f.extra).length > 0) {
        out.push(`   · ${f.label}: ${Object.entries(f.extra).map(([k, v]) => `${k}=${typeof v === 'number' ? fmt(v) : String(v)}`).join(', ')}`);
      }
    }
    for (const n of s.notes) out.push(`   note: ${n}`);
  }
  return `${out.join('\n')}\n`;
}
