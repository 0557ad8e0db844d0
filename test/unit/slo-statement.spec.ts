import { type IssueSloStatement, type SloStatementEvent, sloStatementDecider, type SloStatementsState, sloStatementStreamId } from '../../src/governance/slo-statements/slo-statement.domain';
import {
  type ComputedStatement,
  computeSloStatement,
  monthProblem,
  renderSloStatementMarkdown,
  type SloStatement,
  type StatementEvent,
  type StatementInput,
  statementBytes,
  statementPeriod,
  type TelemetryTotals,
  TenantNeverCreatedError,
} from '../../src/governance/slo-statements/statement';
import { deciderSpec, type Given } from './support/decider-spec';

/**
 * The SLO statement's arithmetic, given/when/then: given the tenant's events and the month's
 * rollups, when the statement of a month is computed at an instant, then every number is what
 * docs/slo.md defines.
 */

const created = (tier = 'enterprise', at = '2026-01-01T00:00:00.000Z'): StatementEvent => ({ type: 'TenantCreated', stream_id: 'tenant-acme', at, data: { tenant_id: 'acme', display_name: 'Acme', tier, metadata: {} } });
const ev = (type: string, at: string, data: Record<string, unknown>, stream = 'x'): StatementEvent => ({ type, stream_id: stream, at, data });
const fired = (id: string, at: string, rule = 'slo-availability-fast-burn', severity = 'page') => ev('AlertFired', at, { alert_id: id, rule, tenant_id: 'acme', severity, numbers: { sli: 'availability' } }, `alert-${rule}.acme`);
const resolved = (id: string, at: string, rule = 'slo-availability-fast-burn') => ev('AlertResolved', at, { alert_id: id, rule, tenant_id: 'acme', numbers: {} }, `alert-${rule}.acme`);

/** Requests all in the 5 ms bucket unless buckets are given. */
function traffic(t: { total?: number; s5xx?: number; s429?: number; s4xx?: number; buckets?: number[]; minutes?: number } = {}): TelemetryTotals {
  const total = t.total ?? 0;
  const s5xx = t.s5xx ?? 0;
  const s429 = t.s429 ?? 0;
  const s4xx = t.s4xx ?? 0;
  return { total, status_2xx: total - s5xx - s429 - s4xx, status_4xx: s4xx, status_429: s429, status_5xx: s5xx, buckets: t.buckets ?? [total, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], minutes_with_rollups: t.minutes ?? (total > 0 ? 1 : 0) };
}

interface Facts {
  events?: StatementEvent[];
  telemetry?: TelemetryTotals;
  retention_days?: number;
}
/** given(tenant facts).when(month, now) -> the statement. */
function given(g: Facts = {}) {
  return {
    when(month: string, now: string): SloStatement {
      const input: StatementInput = { tenant_id: 'acme', period: statementPeriod(month, now), now, retention_days: g.retention_days ?? 90, telemetry: g.telemetry ?? traffic(), events: g.events ?? [created()] };
      return computeSloStatement(input);
    },
  };
}
const computed = (s: SloStatement): ComputedStatement => {
  if (!s.computable) throw new Error(`expected a computable statement, got ${s.reason}`);
  return s;
};
const CLOSED = '2026-03-05T12:00:00.000Z'; // February 2026 is closed (28 days: 40320 minutes)

describe('SLO statement: the month', () => {
  it('accepts YYYY-MM only', () => {
    expect(monthProblem('2026-02')).toBeNull();
    for (const bad of ['2026-13', '2026-00', '2026-2', '26-02', '2026-02-01', '1999-12']) expect(monthProblem(bad)).not.toBeNull();
  });
  it('a closed month covers [start, end); it is final once FINALIZE_GRACE after its end has passed', () => {
    expect(statementPeriod('2026-02', CLOSED)).toEqual({ month: '2026-02', start: '2026-02-01T00:00:00.000Z', end: '2026-03-01T00:00:00.000Z', as_of: '2026-03-01T00:00:00.000Z', provisional: false });
    expect(statementPeriod('2026-02', '2026-03-01T00:05:00.000Z').provisional).toBe(true);
    expect(statementPeriod('2026-02', '2026-03-01T00:10:00.000Z').provisional).toBe(false);
  });
  it('a month in progress is provisional and covers up to the current minute', () => {
    const s = computed(given({ telemetry: traffic({ total: 10 }) }).when('2026-03', '2026-03-02T00:30:59.999Z'));
    expect(s.period).toEqual({ month: '2026-03', start: '2026-03-01T00:00:00.000Z', end: '2026-04-01T00:00:00.000Z', as_of: '2026-03-02T00:30:00.000Z', provisional: true, minutes: 1470 });
    expect(s.data.minutes_in_period).toBe(1470);
  });
  it('a month not started is refused', () => {
    expect(() => statementPeriod('2026-04', CLOSED)).toThrow(/has not started/);
  });
});

describe('SLO statement: availability (5xx are bad; 4xx and 429 count as good)', () => {
  it('given 100000 requests with 50 5xx and 200 429 on enterprise (99.9%): met, half the budget consumed', () => {
    const s = computed(given({ telemetry: traffic({ total: 100_000, s5xx: 50, s429: 200 }) }).when('2026-02', CLOSED));
    expect(s.availability).toEqual({ requests: 100_000, good: 99_950, bad: 50, ratio: 0.9995, target: 0.999, met: true, error_budget: { allowed_bad: 100, consumed: 0.5, remaining: 0.5 } });
    expect(s.requests).toEqual({ total: 100_000, status_2xx: 99_750, status_4xx: 0, status_429: 200, status_5xx: 50 });
  });
  it('given twice the budget in 5xx: missed, consumed 2 (overspent), remaining -1', () => {
    const s = computed(given({ telemetry: traffic({ total: 100_000, s5xx: 200 }) }).when('2026-02', CLOSED));
    expect(s.availability).toMatchObject({ ratio: 0.998, met: false, error_budget: { allowed_bad: 100, consumed: 2, remaining: -1 } });
  });
  it('exactly the budget is met (exact comparison, no float drift); one more is missed', () => {
    expect(computed(given({ telemetry: traffic({ total: 1000, s5xx: 1 }) }).when('2026-02', CLOSED)).availability).toMatchObject({ ratio: 0.999, met: true, error_budget: { consumed: 1 } });
    expect(computed(given({ telemetry: traffic({ total: 1000, s5xx: 2 }) }).when('2026-02', CLOSED)).availability).toMatchObject({ met: false, error_budget: { consumed: 2 } });
  });
  it('ratios are floored and budgets ceiled to 6 decimals: a statement never flatters', () => {
    const s = computed(given({ telemetry: traffic({ total: 3, s5xx: 1 }), events: [created('starter')] }).when('2026-02', CLOSED));
    expect(s.availability.ratio).toBe(0.666666);
    // allowed 3 x 0.01 = 0.03; 1 / 0.03 = 33.333...4 ceiled
    expect(s.availability.error_budget).toEqual({ allowed_bad: 0.03, consumed: 33.333334, remaining: -32.333334 });
  });
  it('without traffic there is no ratio and no verdict (never a false 100%)', () => {
    const s = computed(given().when('2026-02', CLOSED));
    expect(s.availability).toEqual({ requests: 0, good: 0, bad: 0, ratio: null, target: 0.999, met: null, error_budget: { allowed_bad: 0, consumed: 0, remaining: 1 } });
    expect(s.latency).toMatchObject({ ratio: null, met: null, p50_ms: null, p95_ms: null, p99_ms: null });
  });
});

describe('SLO statement: latency (the share within the tier threshold; percentiles from the histogram)', () => {
  it('given enterprise (250 ms, 99%): requests over 250 ms are slow; p50/p95/p99 are bucket bounds', () => {
    // bounds 5,10,25,50,100,250,500,1000,2500,5000,+inf
    const buckets = [500, 300, 100, 50, 20, 10, 10, 5, 3, 1, 1];
    const s = computed(given({ telemetry: traffic({ total: 1000, buckets }) }).when('2026-02', CLOSED));
    expect(s.latency).toEqual({ requests: 1000, good: 980, bad: 20, ratio: 0.98, target: 0.99, met: false, error_budget: { allowed_bad: 10, consumed: 2, remaining: -1 }, threshold_ms: 250, p50_ms: 5, p95_ms: 50, p99_ms: 500 });
  });
  it('a p99 beyond the last bound is ">5000"', () => {
    const s = computed(given({ telemetry: traffic({ total: 10, buckets: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10] }) }).when('2026-02', CLOSED));
    expect(s.latency).toMatchObject({ p50_ms: '>5000', p99_ms: '>5000', good: 0, met: false });
  });
});

describe('SLO statement: targets in effect (tier and overrides at the end of the period; changes listed)', () => {
  it('given a tier change and an override during the month: the month-end targets apply and both changes are listed', () => {
    const events = [
      created('starter'),
      ev('TenantTierChanged', '2026-02-10T00:00:00.000Z', { tenant_id: 'acme', from: 'starter', to: 'growth' }),
      ev('TenantSloOverridesSet', '2026-02-20T00:00:00.000Z', { tenant_id: 'acme', overrides: { availability_target: 0.99 } }),
      // after the month: ignored
      ev('TenantTierChanged', '2026-03-02T00:00:00.000Z', { tenant_id: 'acme', from: 'growth', to: 'enterprise' }),
    ];
    const s = computed(given({ events, telemetry: traffic({ total: 100 }) }).when('2026-02', CLOSED));
    expect(s.targets).toEqual({
      tier: 'growth',
      availability_target: 0.99,
      latency_threshold_ms: 500,
      latency_target: 0.99,
      overridden: ['availability_target'],
      basis: 'at_period_end',
      changes: [
        { at: '2026-02-10T00:00:00.000Z', change: 'tier', from: 'starter', to: 'growth' },
        { at: '2026-02-20T00:00:00.000Z', change: 'overrides', from: {}, to: { availability_target: 0.99 } },
      ],
    });
  });
  it('overrides cleared before the month count from the start; a clear during it is listed', () => {
    const events = [created('growth'), ev('TenantSloOverridesSet', '2026-01-05T00:00:00.000Z', { overrides: { latency_threshold_ms: 1000 } }), ev('TenantSloOverridesCleared', '2026-02-03T00:00:00.000Z', { tenant_id: 'acme' })];
    const s = computed(given({ events }).when('2026-02', CLOSED));
    expect(s.targets).toMatchObject({ latency_threshold_ms: 500, overridden: [], changes: [{ change: 'overrides', from: { latency_threshold_ms: 1000 }, to: {} }] });
  });
  it('a tenant created after the period is measured against the targets it was created with (basis at_creation)', () => {
    const s = computed(given({ events: [created('growth', '2026-03-03T00:00:00.000Z')] }).when('2026-02', CLOSED));
    expect(s.targets).toMatchObject({ tier: 'growth', basis: 'at_creation', changes: [] });
    expect(s.tenant.created_at).toBe('2026-03-03T00:00:00.000Z');
  });
  it('without a TenantCreated event there is no statement', () => {
    expect(() => given({ events: [] }).when('2026-02', CLOSED)).toThrow(TenantNeverCreatedError);
  });
});

describe('SLO statement: incidents (alerts of the tenant, durations clipped to the period)', () => {
  const events = [
    created(),
    fired('before', '2026-01-20T00:00:00.000Z', 'slo-latency-slow-burn', 'ticket'),
    resolved('before', '2026-01-25T00:00:00.000Z', 'slo-latency-slow-burn'), // over before February: not listed
    fired('straddle', '2026-01-31T23:00:00.000Z'),
    resolved('straddle', '2026-02-01T01:00:00.000Z'), // 1 h inside February
    fired('inside', '2026-02-10T10:00:00.000Z'),
    resolved('inside', '2026-02-10T10:30:00.500Z'),
    fired('open', '2026-02-28T23:00:00.000Z', 'slo-availability-medium-burn'),
    resolved('open', '2026-03-01T02:00:00.000Z', 'slo-availability-medium-burn'), // after the month: still open at its end
    fired('after', '2026-03-02T00:00:00.000Z'),
  ];
  it('given alerts around the month: only those overlapping it, clipped to [start, end), the still-firing one flagged open', () => {
    const s = computed(given({ events }).when('2026-02', CLOSED));
    expect(s.incidents.items.map((i) => [i.alert_id, i.duration_seconds, i.open, i.started_before_period, i.resolved_at])).toEqual([
      ['straddle', 3600, false, true, '2026-02-01T01:00:00.000Z'],
      ['inside', 1800.5, false, false, '2026-02-10T10:30:00.500Z'],
      ['open', 3600, true, false, null],
    ]);
    expect(s.incidents).toMatchObject({ count: 3, open: 1, page: 3, ticket: 0, total_duration_seconds: 9000.5 });
    expect(s.incidents.items[0]).toMatchObject({ rule: 'slo-availability-fast-burn', severity: 'page', sli: 'availability' });
  });
  it('in a month in progress an open alert is clipped at as_of', () => {
    const s = computed(given({ events: [created(), fired('now', '2026-03-05T11:00:00.000Z')] }).when('2026-03', '2026-03-05T12:00:30.000Z'));
    expect(s.incidents.items).toEqual([expect.objectContaining({ alert_id: 'now', open: true, duration_seconds: 3600 })]);
  });
});

describe('SLO statement: data completeness, retention, migrations, maintenance', () => {
  it('minutes without rollups are reported against the minutes of the period', () => {
    const s = computed(given({ telemetry: traffic({ total: 500, minutes: 100 }) }).when('2026-02', CLOSED));
    expect(s.data).toEqual({ minutes_in_period: 40_320, minutes_with_rollups: 100, minutes_without_rollups: 40_220, coverage: 0.00248 });
  });
  it('a month beyond the telemetry retention cannot be computed (no numbers at all)', () => {
    const s = given({ telemetry: traffic({ total: 100 }), retention_days: 7 }).when('2026-02', '2026-03-08T00:00:00.000Z');
    expect(s.computable).toBe(false);
  });
  it('a closed month stays computable for MONTH_CLOSE_HOLD_DAYS days whatever the retention (its rollups are held for its statement)', () => {
    expect(given({ telemetry: traffic({ total: 100 }), retention_days: 1 }).when('2026-02', '2026-03-01T00:10:00.000Z').computable).toBe(true);
    expect(given({ telemetry: traffic({ total: 100 }), retention_days: 7 }).when('2026-02', '2026-03-07T23:59:00.000Z').computable).toBe(true);
    const s = given({ telemetry: traffic({ total: 100 }), retention_days: 7 }).when('2026-02', '2026-03-08T00:00:00.000Z');
    expect(s.computable).toBe(false);
    expect(s).toMatchObject({ reason: 'beyond_telemetry_retention' });
    expect(s).not.toHaveProperty('availability');
    expect(renderSloStatementMarkdown(s)).toContain('**Cannot be computed**');
  });
  it('placement changes in the period are listed as migrations; there are no maintenance windows', () => {
    const events = [created(), ev('TenantPlacementChanged', '2026-02-14T00:00:00.000Z', { tenant_id: 'acme', shard: 's2', generation: 2 }), ev('TenantPlacementChanged', '2026-03-14T00:00:00.000Z', { tenant_id: 'acme' })];
    const s = computed(given({ events }).when('2026-02', CLOSED));
    expect(s.migrations).toEqual([{ at: '2026-02-14T00:00:00.000Z', type: 'TenantPlacementChanged', data: { tenant_id: 'acme', shard: 's2', generation: 2 } }]);
    expect(s.maintenance).toEqual({ windows: [], excluded_minutes: 0 });
  });
});

describe('SLO statement: determinism', () => {
  it('the same input gives byte-identical canonical JSON, whatever the key order of event data', () => {
    const a = given({ events: [created(), fired('x', '2026-02-01T00:00:00.000Z')], telemetry: traffic({ total: 10, s5xx: 1 }) }).when('2026-02', CLOSED);
    const reordered = { ...fired('x', '2026-02-01T00:00:00.000Z'), data: { numbers: { sli: 'availability' }, severity: 'page', tenant_id: 'acme', rule: 'slo-availability-fast-burn', alert_id: 'x' } };
    const b = given({ events: [created(), reordered], telemetry: traffic({ total: 10, s5xx: 1 }) }).when('2026-02', CLOSED);
    expect(statementBytes(b).equals(statementBytes(a))).toBe(true);
    const text = statementBytes(a).toString('utf8');
    expect(text.endsWith('}\n')).toBe(true);
    expect(text).not.toMatch(/\n./); // one line: no whitespace
    const keys = Object.keys(JSON.parse(text) as object);
    expect(keys).toEqual([...keys].sort());
  });
  it('a closed month computed later (another now within retention) gives the same bytes', () => {
    const g = given({ telemetry: traffic({ total: 10 }) });
    expect(statementBytes(g.when('2026-02', CLOSED)).equals(statementBytes(g.when('2026-02', '2026-04-20T08:00:00.000Z')))).toBe(true);
  });
  it('renders Markdown with the verdicts', () => {
    const md = renderSloStatementMarkdown(given({ telemetry: traffic({ total: 1000, s5xx: 5 }) }).when('2026-03', '2026-03-02T00:00:00.000Z'));
    expect(md).toContain('# SLO statement: acme, 2026-03 (PROVISIONAL)');
    expect(md).toContain('| availability (not 5xx) | 99.9000% | 99.5000% | 995 / 1000 | 500.0000% | **missed** |');
  });
});

describe('SLO statement issues (stream slostatements-<tenant>)', () => {
  const issues: (events: readonly SloStatementEvent[]) => Given<IssueSloStatement, SloStatementEvent, SloStatementsState> = deciderSpec(sloStatementDecider);
  const issue = (sha: string, over: Partial<IssueSloStatement> = {}): IssueSloStatement => ({ type: 'IssueSloStatement', tenant_exists: true, computable: true, tenant_id: 'acme', month: '2026-02', bundle_id: `b-${sha}`, statement_sha256: sha, provisional: false, as_of: '2026-03-01T00:00:00.000Z', ...over });
  const issued = (sha: string, month = '2026-02'): SloStatementEvent => ({ type: 'SloStatementIssued', data: { tenant_id: 'acme', month, bundle_id: `b-${sha}`, statement_sha256: sha, provisional: false, as_of: '2026-03-01T00:00:00.000Z' } });
  it('issues a statement; the same statement again records nothing; a changed one is a new issue', () => {
    issues([]).when(issue('aa')).then([issued('aa')]);
    issues([issued('aa')]).when(issue('aa')).then([]);
    issues([issued('aa')]).when(issue('bb')).then([issued('bb')]);
    issues([issued('aa'), issued('bb')]).when(issue('aa')).then([issued('aa')]); // the latest issue differs
    issues([issued('aa', '2026-01')]).when(issue('aa')).then([issued('aa')]); // another month
  });
  it('refuses a statement that cannot be computed and an unknown tenant', () => {
    issues([]).when(issue('aa', { computable: false })).thenThrows('slo_statement_not_computable');
    issues([]).when(issue('aa', { tenant_exists: false })).thenThrows('tenant_not_found');
  });
  it('its stream id is no prefix of the SLO overrides stream slo-<tenant>', () => {
    expect(sloStatementStreamId('acme')).toBe('slostatements-acme');
    expect(sloStatementStreamId('acme').startsWith('slo-')).toBe(false);
  });
});
