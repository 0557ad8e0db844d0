import { type Tier, TIERS } from '../../control-plane/tenants/tenant.domain';
import { effectiveSlo, SLO_FIELDS, type SloField, type SloOverrides, type SloTargets } from '../../control-plane/quotas/tiers';
import { BUCKETS, percentile, slowRequests, TELEMETRY_BOUNDS_MS, telemetryPruneHorizon } from '../../data-plane/telemetry/telemetry';
import { canonicalJson } from '../../platform/event-store/canonical-json';

/**
 * A tenant's contractual SLO statement for one calendar month (UTC), computed from the telemetry
 * rollups and the tenant's events. Pure and deterministic: the same input gives the same
 * statement, and `statementBytes` the same bytes (canonical JSON: sorted keys, no whitespace).
 * Every number is defined in docs/slo.md; nothing here reads a clock (`now` is an input).
 */
export const STATEMENT_SCHEMA = 'aionis-slo-statement/1';

/** A month stays provisional until this long after it ends (the last minute's rollups are flushed within seconds). */
export const FINALIZE_GRACE_MS = 10 * 60_000;
const MINUTE = 60_000;

export interface StatementPeriod {
  readonly month: string;
  /** First instant of the month (inclusive). */
  readonly start: string;
  /** First instant of the next month (exclusive). */
  readonly end: string;
  /** What the statement covers: [start, as_of). The month's end, or the current minute while it runs. */
  readonly as_of: string;
  readonly provisional: boolean;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** `2026-11` as a month, or a reason it is not one. */
export function monthProblem(month: string): string | null {
  const m = /^(\d{4})-(\d{2})$/.exec(month);
  if (!m) return 'must be a calendar month YYYY-MM, e.g. 2026-11';
  const mo = Number(m[2]);
  if (Number(m[1]) < 2000 || mo < 1 || mo > 12) return 'must be a calendar month YYYY-MM between 2000-01 and 9999-12';
  return null;
}

/** The period of a month as of `now`; throws on a month that is not one or has not started. */
export function statementPeriod(month: string, now: string): StatementPeriod {
  const problem = monthProblem(month);
  if (problem) throw new Error(`month ${month} ${problem}`);
  const [y, mo] = month.split('-').map(Number) as [number, number];
  const start = Date.UTC(y, mo - 1, 1);
  const end = Date.UTC(y, mo, 1);
  const nowMs = Date.parse(now);
  if (nowMs < start) throw new Error(`month ${month} has not started yet`);
  const asOf = Math.min(end, Math.floor(nowMs / MINUTE) * MINUTE);
  return { month, start: iso(start), end: iso(end), as_of: iso(asOf), provisional: nowMs < end + FINALIZE_GRACE_MS };
}

/** The rollups of [start, as_of), summed: counts, the latency histogram and the distinct minutes that have any. */
export interface TelemetryTotals {
  readonly total: number;
  readonly status_2xx: number;
  readonly status_4xx: number;
  readonly status_429: number;
  readonly status_5xx: number;
  readonly buckets: readonly number[];
  readonly minutes_with_rollups: number;
}

/** One of the tenant's events, as the log has it (`at`: occurred_at from its metadata). */
export interface StatementEvent {
  readonly type: string;
  readonly stream_id: string;
  readonly at: string;
  readonly data: Readonly<Record<string, unknown>>;
}

export interface StatementInput {
  readonly tenant_id: string;
  readonly period: StatementPeriod;
  /** The database clock when computed: only compared with the retention horizon, never written. */
  readonly now: string;
  /** The tenant's telemetry retention (days): rollups older than this are pruned. */
  readonly retention_days: number;
  readonly telemetry: TelemetryTotals;
  /** The tenant's lifecycle, SLO, alert and placement events, in log order (any time; filtered here). */
  readonly events: readonly StatementEvent[];
}

/** Event types the statement reads. TenantPlacementChanged is the tenant-placement event (none exist before shards do). */
export const STATEMENT_EVENT_TYPES = ['TenantCreated', 'TenantTierChanged', 'TenantSloOverridesSet', 'TenantSloOverridesCleared', 'AlertFired', 'AlertResolved', 'TenantPlacementChanged'] as const;

// ---- exact arithmetic (BigInt): ratios floor, budgets ceil, so a statement never flatters ----

const SCALE = 1_000_000n;
const ppm = (target: number): bigint => BigInt(Math.round(target * 1e6));
/** floor(a / b) to 6 decimals; null when b is 0. */
function floorRatio(a: number, b: number): number | null {
  if (b === 0) return null;
  return Number((BigInt(a) * SCALE) / BigInt(b)) / 1e6;
}
/** ceil(a / b) to 6 decimals. */
function ceilRatio(a: bigint, b: bigint): number {
  return Number((a * SCALE + b - 1n) / b) / 1e6;
}

export interface SliResult {
  readonly requests: number;
  readonly good: number;
  readonly bad: number;
  /** good / requests, floored to 6 decimals; null without requests. */
  readonly ratio: number | null;
  readonly target: number;
  /** ratio >= target, compared exactly; null without requests. */
  readonly met: boolean | null;
  readonly error_budget: {
    /** requests x (1 - target): the bad requests the month could afford. */
    readonly allowed_bad: number;
    /** bad / allowed_bad, ceiled to 6 decimals (1 = the whole budget; above 1 = overspent); 0 without requests. */
    readonly consumed: number;
    /** 1 - consumed (negative when overspent). */
    readonly remaining: number;
  };
}

function sli(requests: number, bad: number, target: number): SliResult {
  const good = requests - bad;
  const t = ppm(target);
  const budgetPpm = SCALE - t;
  const allowed = BigInt(requests) * budgetPpm; // in millionths of a request
  const consumed = requests === 0 || bad === 0 ? 0 : ceilRatio(BigInt(bad) * SCALE, allowed);
  return {
    requests,
    good,
    bad,
    ratio: floorRatio(good, requests),
    target,
    met: requests === 0 ? null : BigInt(good) * SCALE >= t * BigInt(requests),
    error_budget: { allowed_bad: Number(allowed) / 1e6, consumed, remaining: Math.round((1 - consumed) * 1e6) / 1e6 },
  };
}

type Quantile = number | '>5000' | null;
const quantile = (buckets: readonly number[], q: number): Quantile => {
  const v = percentile(buckets, q);
  return v === null ? null : Number.isFinite(v) ? v : '>5000';
};

// ---- targets in effect ----

interface TenantFacts {
  tier: Tier;
  overrides: SloOverrides;
}

export interface TargetChange {
  readonly at: string;
  readonly change: 'tier' | 'overrides';
  readonly from: string | SloOverrides;
  readonly to: string | SloOverrides;
}

const isTier = (v: unknown): v is Tier => typeof v === 'string' && (TIERS as readonly string[]).includes(v);
function overridesOf(v: unknown): SloOverrides {
  const out: { [K in SloField]?: number } = {};
  if (typeof v !== 'object' || v === null) return out;
  for (const f of SLO_FIELDS) {
    const x = (v as Record<string, unknown>)[f];
    if (typeof x === 'number' && Number.isFinite(x)) out[f] = x;
  }
  return out;
}

/** Folds the tier and SLO override events up to `asOf`; null when the tenant was never created. */
function targetsInEffect(events: readonly StatementEvent[], period: StatementPeriod): { facts: TenantFacts; basis: 'at_period_end' | 'at_creation'; created_at: string; changes: TargetChange[] } | null {
  const created = events.find((e) => e.type === 'TenantCreated');
  if (!created || !isTier(created.data.tier)) return null;
  const facts: TenantFacts = { tier: created.data.tier, overrides: {} };
  const changes: TargetChange[] = [];
  if (created.at >= period.as_of) return { facts, basis: 'at_creation', created_at: created.at, changes };
  for (const e of events) {
    if (e.at >= period.as_of) continue;
    const inPeriod = e.at >= period.start;
    if (e.type === 'TenantTierChanged' && isTier(e.data.to)) {
      if (inPeriod) changes.push({ at: e.at, change: 'tier', from: facts.tier, to: e.data.to });
      facts.tier = e.data.to;
    } else if (e.type === 'TenantSloOverridesSet' || e.type === 'TenantSloOverridesCleared') {
      const next = e.type === 'TenantSloOverridesSet' ? overridesOf(e.data.overrides) : {};
      if (inPeriod) changes.push({ at: e.at, change: 'overrides', from: facts.overrides, to: next });
      facts.overrides = next;
    }
  }
  return { facts, basis: 'at_period_end', created_at: created.at, changes };
}

// ---- incidents ----

export interface Incident {
  readonly alert_id: string;
  readonly rule: string;
  readonly severity: string;
  readonly sli: string | null;
  readonly fired_at: string;
  /** null while still firing at as_of. */
  readonly resolved_at: string | null;
  /** Still firing at as_of: its duration is clipped there. */
  readonly open: boolean;
  /** Fired before the month began: its duration is clipped to the month's start. */
  readonly started_before_period: boolean;
  /** Seconds of [fired_at, resolved_at or as_of) inside the period. */
  readonly duration_seconds: number;
}

function incidents(events: readonly StatementEvent[], period: StatementPeriod): Incident[] {
  const start = Date.parse(period.start);
  const asOf = Date.parse(period.as_of);
  const fired = new Map<string, { rule: string; severity: string; sli: string | null; fired_at: string; resolved_at: string | null }>();
  for (const e of events) {
    if (e.at >= period.as_of) continue;
    const id = typeof e.data.alert_id === 'string' ? e.data.alert_id : null;
    if (!id) continue;
    if (e.type === 'AlertFired') {
      const numbers = (e.data.numbers ?? {}) as Record<string, unknown>;
      fired.set(id, { rule: String(e.data.rule), severity: String(e.data.severity), sli: typeof numbers.sli === 'string' ? numbers.sli : null, fired_at: e.at, resolved_at: null });
    } else if (e.type === 'AlertResolved') {
      const f = fired.get(id);
      if (f) f.resolved_at = e.at;
    }
  }
  const out: Incident[] = [];
  for (const [alert_id, f] of fired) {
    const from = Date.parse(f.fired_at);
    const to = f.resolved_at === null ? asOf : Date.parse(f.resolved_at);
    if (to <= start) continue; // over before the month began
    out.push({
      alert_id,
      rule: f.rule,
      severity: f.severity,
      sli: f.sli,
      fired_at: f.fired_at,
      resolved_at: f.resolved_at,
      open: f.resolved_at === null,
      started_before_period: from < start,
      duration_seconds: (Math.min(to, asOf) - Math.max(from, start)) / 1000,
    });
  }
  return out.sort((a, b) => (a.fired_at < b.fired_at ? -1 : a.fired_at > b.fired_at ? 1 : a.alert_id < b.alert_id ? -1 : 1));
}

// ---- the statement ----

export interface Migration {
  readonly at: string;
  readonly type: string;
  readonly data: Readonly<Record<string, unknown>>;
}

interface StatementBase {
  readonly schema: typeof STATEMENT_SCHEMA;
  readonly tenant_id: string;
  readonly period: StatementPeriod & { readonly minutes: number };
}

export interface ComputedStatement extends StatementBase {
  readonly computable: true;
  readonly tenant: { readonly created_at: string };
  readonly targets: SloTargets & { readonly tier: Tier; readonly overridden: readonly SloField[]; readonly basis: 'at_period_end' | 'at_creation'; readonly changes: readonly TargetChange[] };
  readonly requests: { readonly total: number; readonly status_2xx: number; readonly status_4xx: number; readonly status_429: number; readonly status_5xx: number };
  readonly availability: SliResult;
  readonly latency: SliResult & { readonly threshold_ms: number; readonly p50_ms: Quantile; readonly p95_ms: Quantile; readonly p99_ms: Quantile };
  readonly incidents: { readonly count: number; readonly open: number; readonly page: number; readonly ticket: number; readonly total_duration_seconds: number; readonly items: readonly Incident[] };
  readonly migrations: readonly Migration[];
  readonly maintenance: { readonly windows: readonly never[]; readonly excluded_minutes: 0 };
  readonly data: { readonly minutes_in_period: number; readonly minutes_with_rollups: number; readonly minutes_without_rollups: number; readonly coverage: number | null };
}

export interface UncomputableStatement extends StatementBase {
  readonly computable: false;
  readonly reason: 'beyond_telemetry_retention';
  readonly detail: string;
}

export type SloStatement = ComputedStatement | UncomputableStatement;

export class TenantNeverCreatedError extends Error {}

export function computeSloStatement(input: StatementInput): SloStatement {
  const p = input.period;
  const minutes = Math.max(0, (Date.parse(p.as_of) - Date.parse(p.start)) / MINUTE);
  const base: StatementBase = { schema: STATEMENT_SCHEMA, tenant_id: input.tenant_id, period: { ...p, minutes } };
  // The pruner's rule: rollups before the horizon may be gone (the month being closed is held).
  const horizon = telemetryPruneHorizon(Date.parse(input.now), input.retention_days);
  if (Date.parse(p.start) < horizon) {
    return {
      ...base,
      computable: false,
      reason: 'beyond_telemetry_retention',
      detail: `the tenant's telemetry rollups are kept ${input.retention_days} day(s) (a closed month's until its statement is due); rollups before ${iso(horizon)} may already be pruned, and ${p.month} starts ${p.start}: its availability and latency cannot be computed`,
    };
  }
  const t = targetsInEffect(input.events, p);
  if (!t) throw new TenantNeverCreatedError(`tenant ${input.tenant_id} has no TenantCreated event`);
  const slo = effectiveSlo(input.tenant_id, t.facts.tier, t.facts.overrides, 0);
  const tel = input.telemetry;
  if (tel.buckets.length !== BUCKETS) throw new Error(`telemetry histogram has ${tel.buckets.length} buckets, expected ${BUCKETS}`);
  const threshold = slo.targets.latency_threshold_ms;
  if (!(TELEMETRY_BOUNDS_MS as readonly number[]).includes(threshold)) throw new Error(`latency threshold ${threshold} ms is not a histogram bound`);
  const items = incidents(input.events, p);
  const migrations = input.events
    .filter((e) => e.type === 'TenantPlacementChanged' && e.at >= p.start && e.at < p.as_of)
    .map((e) => ({ at: e.at, type: e.type, data: e.data }));
  const withRollups = Math.min(tel.minutes_with_rollups, minutes);
  return {
    ...base,
    computable: true,
    tenant: { created_at: t.created_at },
    targets: { ...slo.targets, tier: slo.tier, overridden: slo.overridden, basis: t.basis, changes: t.changes },
    requests: { total: tel.total, status_2xx: tel.status_2xx, status_4xx: tel.status_4xx, status_429: tel.status_429, status_5xx: tel.status_5xx },
    availability: sli(tel.total, tel.status_5xx, slo.targets.availability_target),
    latency: {
      ...sli(tel.total, slowRequests(tel.buckets, threshold), slo.targets.latency_target),
      threshold_ms: threshold,
      p50_ms: quantile(tel.buckets, 0.5),
      p95_ms: quantile(tel.buckets, 0.95),
      p99_ms: quantile(tel.buckets, 0.99),
    },
    incidents: {
      count: items.length,
      open: items.filter((i) => i.open).length,
      page: items.filter((i) => i.severity === 'page').length,
      ticket: items.filter((i) => i.severity === 'ticket').length,
      total_duration_seconds: Math.round(items.reduce((sum, i) => sum + i.duration_seconds * 1000, 0)) / 1000,
      items,
    },
    migrations,
    maintenance: { windows: [], excluded_minutes: 0 },
    data: { minutes_in_period: minutes, minutes_with_rollups: withRollups, minutes_without_rollups: minutes - withRollups, coverage: floorRatio(withRollups, minutes) },
  };
}

/** The statement's bytes (statement.json): canonical JSON and a newline. */
export function statementBytes(s: SloStatement): Buffer {
  return Buffer.from(`${canonicalJson(s)}\n`, 'utf8');
}

// ---- Markdown ----

const pct = (x: number | null): string => (x === null ? 'n/a' : `${(x * 100).toFixed(4)}%`);
const metWord = (m: boolean | null): string => (m === null ? 'no traffic' : m ? 'met' : '**missed**');
const ms = (q: Quantile): string => (q === null ? 'n/a' : typeof q === 'string' ? q : `<= ${q} ms`);

export function renderSloStatementMarkdown(s: SloStatement): string {
  const lines: string[] = [];
  const p = s.period;
  lines.push(`# SLO statement: ${s.tenant_id}, ${p.month}${p.provisional ? ' (PROVISIONAL)' : ''}`, '');
  lines.push(`- Period: ${p.start} to ${p.end} (UTC); covers up to ${p.as_of} (${p.minutes} minutes)${p.provisional ? '; the month is still in progress, numbers will change' : ''}`);
  if (!s.computable) {
    lines.push('', `**Cannot be computed** (${s.reason}): ${s.detail}.`, '');
    return lines.join('\n');
  }
  const t = s.targets;
  lines.push(`- Tier ${t.tier}${t.overridden.length ? `, overridden: ${t.overridden.join(', ')}` : ''}; targets ${t.basis === 'at_period_end' ? 'in effect at the end of the period' : 'the tenant was created with (it did not exist yet)'}`);
  lines.push(`- Telemetry coverage: ${s.data.minutes_with_rollups} of ${s.data.minutes_in_period} minutes have rollups (${pct(s.data.coverage)}); a minute without rollups had no recorded requests`, '');
  lines.push('| SLI | target | measured | good / requests | error budget consumed | result |', '| --- | --- | --- | --- | --- | --- |');
  const a = s.availability;
  const l = s.latency;
  lines.push(`| availability (not 5xx) | ${pct(a.target)} | ${pct(a.ratio)} | ${a.good} / ${a.requests} | ${pct(a.error_budget.consumed)} | ${metWord(a.met)} |`);
  lines.push(`| latency (<= ${l.threshold_ms} ms) | ${pct(l.target)} | ${pct(l.ratio)} | ${l.good} / ${l.requests} | ${pct(l.error_budget.consumed)} | ${metWord(l.met)} |`);
  lines.push('', `Latency percentiles (histogram bucket bounds): p50 ${ms(l.p50_ms)}, p95 ${ms(l.p95_ms)}, p99 ${ms(l.p99_ms)}.`, '');
  if (t.changes.length) {
    lines.push('## Target changes during the period', '');
    for (const c of t.changes) lines.push(`- ${c.at}: ${c.change} ${canonicalJson(c.from)} -> ${canonicalJson(c.to)}`);
    lines.push('');
  }
  lines.push(`## Incidents (${s.incidents.count}; ${s.incidents.total_duration_seconds} s in the period)`, '');
  if (s.incidents.items.length === 0) lines.push('None.');
  for (const i of s.incidents.items) {
    lines.push(`- ${i.fired_at} ${i.rule} (${i.severity}): ${i.duration_seconds} s${i.open ? ', still open at the end of the period' : `, resolved ${i.resolved_at}`}${i.started_before_period ? ', began before the period' : ''}`);
  }
  lines.push('', `## Migrations (${s.migrations.length})`, '', s.migrations.length ? s.migrations.map((m) => `- ${m.at} ${m.type} ${canonicalJson(m.data)}`).join('\n') : 'None.');
  lines.push('', '## Maintenance', '', 'No maintenance windows are declared in this system; nothing is excluded from the SLIs.', '');
  return lines.join('\n');
}
