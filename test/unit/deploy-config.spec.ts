import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ALERTS_FILE, allPanels, loadDashboard, loadRuleGroups, referencedMetrics, ROOT, shippedExpressions } from '../support/deploy-config';
import { familyOf, metricNamesIn, parseExposition } from '../support/promql';
import { onlyIf } from '../support/skips';

/**
 * The shipped Prometheus rules and Grafana dashboard, checked structurally: the YAML parses, every
 * alert has what on-call needs (expr, for, severity, summary, a runbook that exists), every
 * recording rule an alert uses is defined. PromQL itself cannot be evaluated here (no Prometheus
 * server or promtool in CI): expressions are only checked for balanced brackets, and the metric
 * names they read are checked against a real /metrics scrape in test/e2e/metrics.e2e-spec.ts.
 */

const hasPromtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
const withPromtool = onlyIf(hasPromtool, 'promtool is not installed (Debian package prometheus): the rules are checked structurally only');

const DURATION = /^([0-9]+(ms|s|m|h|d|w|y))+$/;
const SEVERITIES = ['page', 'ticket'];

/** GitHub's anchor for a Markdown heading. */
const slug = (heading: string): string =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

function anchorsOf(file: string): Set<string> {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return new Set(text.split('\n').flatMap((l) => (/^#{1,6} /.test(l) ? [slug(l.replace(/^#+ /, ''))] : [])));
}

function balanced(expr: string): boolean {
  const stripped = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
  const open: string[] = [];
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  for (const c of stripped) {
    if ('([{'.includes(c)) open.push(c);
    else if (c in pairs && open.pop() !== pairs[c]) return false;
  }
  return open.length === 0;
}

describe('deploy/prometheus/alerts.yml', () => {
  const groups = loadRuleGroups();
  const rules = groups.flatMap((g) => g.rules);
  const alerts = rules.filter((r) => r.alert !== undefined);
  const records = rules.filter((r) => r.record !== undefined);

  it('parses into named groups of rules, each rule either an alert or a recording rule', () => {
    expect(groups.length).toBeGreaterThan(0);
    for (const g of groups) {
      expect(typeof g.name).toBe('string');
      expect(Array.isArray(g.rules) && g.rules.length > 0).toBe(true);
    }
    for (const r of rules) expect([r.alert, r.record].filter((x) => x !== undefined)).toHaveLength(1);
    expect(new Set(groups.map((g) => g.name)).size).toBe(groups.length);
  });

  it('every alert has expr, for, labels.severity, annotations.summary and a runbook_url that exists, down to its anchor', () => {
    expect(alerts.length).toBeGreaterThanOrEqual(8);
    expect(new Set(alerts.map((a) => a.alert)).size).toBe(alerts.length);
    for (const a of alerts) {
      const where = String(a.alert);
      expect({ where, ok: typeof a.alert === 'string' && /^[A-Za-z][A-Za-z0-9_]*$/.test(a.alert) }).toEqual({ where, ok: true });
      expect({ where, expr: typeof a.expr === 'string' && a.expr.trim() !== '' }).toEqual({ where, expr: true });
      expect({ where, for: DURATION.test(String(a.for)) }).toEqual({ where, for: true });
      expect({ where, severity: SEVERITIES.includes(String(a.labels?.severity)) }).toEqual({ where, severity: true });
      expect({ where, summary: typeof a.annotations?.summary === 'string' && a.annotations.summary !== '' }).toEqual({ where, summary: true });
      const url = String(a.annotations?.runbook_url);
      const [file = '', anchor] = url.split('#');
      expect({ where, url, file: file.startsWith('runbooks/') && existsSync(join(ROOT, file)) }).toEqual({ where, url, file: true });
      expect({ where, url, anchor: anchor !== undefined && anchorsOf(file).has(anchor) }).toEqual({ where, url, anchor: true });
    }
  });

  it('recording rules are named level:metric:operation, have an expr and nothing an alert has', () => {
    for (const r of records) {
      expect(String(r.record)).toMatch(/^[a-zA-Z_]+:[a-zA-Z0-9_]+:[a-zA-Z0-9_]+$/);
      expect(typeof r.expr).toBe('string');
      expect([r.for, r.annotations]).toEqual([undefined, undefined]);
    }
    expect(new Set(records.map((r) => r.record)).size).toBe(records.length);
  });

  it('the recording rules the alerts use are defined in the file, and every expression has balanced brackets', () => {
    const defined = new Set(records.map((r) => r.record));
    for (const a of alerts) for (const name of metricNamesIn(String(a.expr)).filter((n) => n.includes(':'))) expect({ alert: a.alert, name, defined: defined.has(name) }).toEqual({ alert: a.alert, name, defined: true });
    for (const { where, expr } of shippedExpressions()) expect({ where, balanced: balanced(expr) }).toEqual({ where, balanced: true });
  });

  it('covers the SLO burn pairs and the platform alerts on-call needs', () => {
    expect(alerts.map((a) => a.alert)).toEqual(
      expect.arrayContaining(['AionisAvailabilityBurnFast', 'AionisAvailabilityBurnSlow', 'AionisLatencyBurnFast', 'AionisLatencyBurnSlow', 'AionisOutboxBacklogOld', 'AionisOutboxDeadLetters', 'AionisOldestWriteTransaction', 'AionisProjectionLag']),
    );
    const fast = String(alerts.find((a) => a.alert === 'AionisAvailabilityBurnFast')?.expr);
    for (const part of ['ratio_rate1h > (14.4', 'ratio_rate5m > (14.4', 'ratio_rate6h > (6', 'ratio_rate30m > (6']) expect(fast).toContain(part);
    const slow = String(alerts.find((a) => a.alert === 'AionisAvailabilityBurnSlow')?.expr);
    for (const part of ['ratio_rate1d > (3', 'ratio_rate2h > (3', 'ratio_rate3d > (1', 'ratio_rate6h > (1']) expect(slow).toContain(part);
  });
});

describe('deploy/prometheus/alerts.yml with promtool (where installed)', () => {
  withPromtool.it('promtool check rules accepts it, and its unit tests (alerts.test.yml and alerts-slow.test.yml: burn pairs, platform alerts, max() across instances) pass', () => {
    const check = spawnSync('promtool', ['check', 'rules', ALERTS_FILE], { cwd: ROOT, encoding: 'utf8' });
    expect({ status: check.status, out: check.stdout + check.stderr }).toEqual({ status: 0, out: expect.stringContaining('SUCCESS') });
    const test = spawnSync('promtool', ['test', 'rules', 'deploy/prometheus/alerts.test.yml', 'deploy/prometheus/alerts-slow.test.yml'], { cwd: ROOT, encoding: 'utf8' });
    expect({ status: test.status, out: test.stdout + test.stderr }).toEqual({ status: 0, out: expect.stringContaining('SUCCESS') });
  }, 90_000);
});

describe('deploy/grafana/aionis-dashboard.json', () => {
  const dash = loadDashboard();
  const panels = allPanels(dash.panels);

  it('is a dashboard with a uid, a Prometheus data-source variable and unique panel ids, every query a PromQL expr', () => {
    expect(dash.uid).toBe('aionis-hosted');
    expect(dash.templating?.list).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'datasource', type: 'datasource' })]));
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    const queried = panels.filter((p) => p.type !== 'row');
    expect(queried.length).toBeGreaterThanOrEqual(10);
    for (const p of queried) {
      expect(p.targets?.length).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(typeof t.expr === 'string' && t.expr !== '').toBe(true);
    }
  });

  it('shows request rate by status class, error rate, latency p50/p95/p99, outbox backlog, age and dead letters, projection lag, the oldest write transaction', () => {
    const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => String(t.expr))).join('\n');
    for (const q of ['0.5', '0.95', '0.99']) expect(exprs).toContain(`histogram_quantile(${q}, sum by (le)`);
    for (const m of ['aionis_http_requests_total', 'aionis_outbox_backlog_jobs', 'aionis_outbox_backlog_oldest_age_seconds', 'aionis_outbox_dead_letter_jobs', 'aionis_projection_lag_ms', 'aionis_db_oldest_write_transaction_age_seconds'])
      {expect(exprs).toContain(m);}
    expect(exprs).toContain('status_class');
  });
});

describe('PromQL metric names (test/support/promql.ts)', () => {
  it('finds names followed by { or [ or bare, never functions, keywords, label names, strings or durations', () => {
    expect(metricNamesIn('sum by (type, status) (rate(foo_total{status=~"5..",le="0.5"}[5m])) / on (job) group_left (x) bar > 14.4 * 0.001')).toEqual(['bar', 'foo_total']);
    expect(metricNamesIn('histogram_quantile(0.99, sum by (le) (rate(h_bucket{route!~"/metrics"}[$__rate_interval])))')).toEqual(['h_bucket']);
    expect(metricNamesIn('label_replace(rate(a[1m]), "status_class", "${1}xx", "status", "(.)..") or vector(0)')).toEqual(['a']);
    expect(metricNamesIn('aionis:slo_errors:ratio_rate1h > (14.4 * 0.001) and x offset 5m unless max without (instance) (y)')).toEqual(['aionis:slo_errors:ratio_rate1h', 'x', 'y']);
  });

  it('resolves histogram series to their histogram and parses the text format', () => {
    const e = parseExposition('# HELP h x\n# TYPE h histogram\nh_bucket{le="0.5",route="/a \\"b\\""} 3\nh_sum 1.5\nh_count 3\n# TYPE c_total counter\nc_total 2 1700000000\n');
    expect(familyOf('h_bucket', e.types)).toBe('h');
    expect(familyOf('h_count', e.types)).toBe('h');
    expect(familyOf('c_total', e.types)).toBe('c_total');
    expect(familyOf('c_bucket', e.types)).toBeUndefined();
    expect(e.samples[0]).toEqual({ name: 'h_bucket', labels: { le: '0.5', route: '/a "b"' }, value: 3 });
    expect(e.samples).toHaveLength(4);
  });

  it('the shipped files reference at least the request, latency and outbox metrics', () => {
    expect([...referencedMetrics().keys()]).toEqual(expect.arrayContaining(['aionis_http_requests_total', 'aionis_http_request_duration_seconds_bucket', 'aionis_http_request_duration_seconds_count', 'aionis_outbox_dead_letter_jobs']));
  });
});

it('alerts.yml is named in docs/observability.md', () => {
  expect(readFileSync(join(ROOT, 'docs/observability.md'), 'utf8')).toContain(ALERTS_FILE);
});
