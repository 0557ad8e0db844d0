import { existsSync, readFileSync } from 'node:fs';
import { auditProjection } from '../../projections/audit.projection';
import { recorded } from './support/recorded-events';
import { join } from 'node:path';
import { routeMatches } from '../../src/alerting/alert-route.domain';
import { slackPayload } from '../../src/alerting/alert-message';
import { slowRequests } from '../../src/alerting/burn-rate';
import { ALERT_RULES, consoleUrl, runbookPath, runbookUrl } from '../../src/alerting/rules';
import { effectiveSlo, sloOverrideProblems, TIER_SLOS } from '../../src/alerting/slo';
import { signatureHeader, verifyAionisSignature } from '../../src/alerting/webhook-signature';

const ROOT = join(__dirname, '../..');

/** GitHub-style anchors of a Markdown file's headings. */
function anchors(markdown: string): Set<string> {
  return new Set(
    markdown
      .split('\n')
      .filter((l) => /^#{1,6} /.test(l))
      .map((l) => l.replace(/^#+ /, '').trim().toLowerCase().replace(/[^a-z0-9 _-]/g, '').replace(/ /g, '-')),
  );
}

describe('alert rules and their runbooks', () => {
  it('every rule has a runbook section: its runbook URL names an existing file and anchor', () => {
    const missing: string[] = [];
    for (const r of ALERT_RULES) {
      const [file, anchor] = runbookPath(r.rule).split('#') as [string, string];
      const path = join(ROOT, file);
      if (!existsSync(path) || !anchors(readFileSync(path, 'utf8')).has(anchor)) missing.push(runbookPath(r.rule));
    }
    expect(missing).toEqual([]);
  });
  it('rule names are unique', () => {
    expect(new Set(ALERT_RULES.map((r) => r.rule)).size).toBe(ALERT_RULES.length);
  });
  it('runbook and console URLs follow RUNBOOK_BASE_URL and PUBLIC_URL', () => {
    expect(runbookUrl('https://git.example/aionis/blob/main/', 'dead-letters')).toBe('https://git.example/aionis/blob/main/runbooks/alerts.md#dead-letters');
    expect(runbookUrl(undefined, 'dead-letters')).toBe('runbooks/alerts.md#dead-letters');
    expect(consoleUrl('https://aionis.example.com/', 'a1')).toBe('https://aionis.example.com/console/alerts/a1');
  });
});

describe('webhook signatures (the receivers check)', () => {
  const secret = 'whsec_test';
  const body = JSON.stringify({ alert_id: 'a1', state: 'firing' });
  const now = 1_765_000_000;
  it('a fresh delivery verifies', () => {
    expect(verifyAionisSignature(body, signatureHeader(secret, body, now), secret, 300, now + 10)).toEqual({ ok: true });
  });
  it('a changed body, a wrong secret or a malformed header is refused', () => {
    expect(verifyAionisSignature(`${body} `, signatureHeader(secret, body, now), secret, 300, now)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifyAionisSignature(body, signatureHeader('other', body, now), secret, 300, now)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifyAionisSignature(body, 'v1=abc', secret, 300, now)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyAionisSignature(body, undefined, secret, 300, now)).toEqual({ ok: false, reason: 'malformed' });
  });
  it('a replayed old delivery (outside the tolerance) is refused even with a valid signature', () => {
    expect(verifyAionisSignature(body, signatureHeader(secret, body, now), secret, 300, now + 301)).toEqual({ ok: false, reason: 'stale' });
    expect(verifyAionisSignature(body, signatureHeader(secret, body, now + 400), secret, 300, now)).toEqual({ ok: false, reason: 'stale' });
  });
});

describe('routes, messages, SLO data', () => {
  it('the audit trail shows a Slack route URL by its origin only (the URL is the credential); a webhook URL in full', () => {
    const row = (kind: string, url: string) =>
      auditProjection.evolve(null, recorded({ streamId: 'alert-route-r', streamPosition: 1, globalPosition: 1, type: 'AlertRouteCreated', data: { route_id: 'r', kind, url } })) as { data: { url: string }; resource_type: string };
    expect(row('slack', 'https://hooks.slack.example/services/T0/B0/SECRET').data.url).toBe('https://hooks.slack.example/…');
    expect(row('webhook', 'https://oncall.example/hook').data.url).toBe('https://oncall.example/hook');
    expect(row('webhook', 'https://oncall.example/hook').resource_type).toBe('alert_route');
  });
  const route = { enabled: true, severities: ['page' as const], tenant_ids: ['acme'], include_platform: false };
  it('a route takes alerts of its severities and tenants; platform alerts only when it includes the platform; none when disabled', () => {
    expect(routeMatches(route, { severity: 'page', tenant_id: 'acme' })).toBe(true);
    expect(routeMatches(route, { severity: 'ticket', tenant_id: 'acme' })).toBe(false);
    expect(routeMatches(route, { severity: 'page', tenant_id: 'other' })).toBe(false);
    expect(routeMatches(route, { severity: 'page', tenant_id: null })).toBe(false);
    expect(routeMatches({ ...route, include_platform: true }, { severity: 'page', tenant_id: null })).toBe(true);
    expect(routeMatches({ enabled: true, severities: [], tenant_ids: [], include_platform: true }, { severity: 'ticket', tenant_id: 'x' })).toBe(true);
    expect(routeMatches({ ...route, enabled: false }, { severity: 'page', tenant_id: 'acme' })).toBe(false);
  });
  it('the Slack payload has text and blocks with the runbook and console links and the numbers', () => {
    const p = slackPayload({
      event: 'alert.fired',
      alert_id: 'a1',
      rule: 'slo-availability-fast-burn',
      severity: 'page',
      tenant_id: 'acme',
      state: 'firing',
      fired_at: '2026-12-05T10:00:00.000Z',
      resolved_at: null,
      numbers: { burn_rate_long: 15 },
      runbook_url: 'https://r/runbooks/alerts.md#slo-availability-fast-burn',
      console_url: 'https://c/console/alerts/a1',
    });
    expect(p.text).toContain('slo-availability-fast-burn');
    expect(p.text).toContain('tenant acme');
    expect(p.text).toContain('burn_rate_long=15');
    expect(JSON.stringify(p.blocks)).toContain('https://r/runbooks/alerts.md#slo-availability-fast-burn');
    expect(JSON.stringify(p.blocks)).toContain('https://c/console/alerts/a1');
  });
  it('slow requests are those above the latency threshold bucket', () => {
    // buckets: <=5, <=10, <=25, <=50, <=100, <=250, <=500, <=1000, <=2500, <=5000, +inf
    expect(slowRequests([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], 250)).toBe(5);
    expect(slowRequests([10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 5)).toBe(0);
  });
  it('every tier has SLO targets; overrides are bounded; the effective SLO applies them', () => {
    for (const t of ['starter', 'growth', 'enterprise'] as const) expect(sloOverrideProblems(TIER_SLOS[t], 'x')).toEqual([]);
    expect(sloOverrideProblems({ latency_threshold_ms: 300, availability_target: 1, nope: 1 }, 'body').map((e) => e.field).sort()).toEqual(['body.availability_target', 'body.latency_threshold_ms', 'body.nope']);
    const e = effectiveSlo('acme', 'growth', { availability_target: 0.999 }, 2);
    expect(e.targets).toEqual({ ...TIER_SLOS.growth, availability_target: 0.999 });
    expect(e.overridden).toEqual(['availability_target']);
  });
});
