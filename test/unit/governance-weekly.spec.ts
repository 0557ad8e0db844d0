import { loadConfig } from '../../src/platform/config/config';
import { lastFireAtOrBefore, parseCron, cronProblem } from '../../src/platform/config/cron';
import { isoWeekOf, parseIsoWeek, previousIsoWeek } from '../../src/governance/reports/iso-week';
import { type PolicyFacts, buildWeeklyReport, renderWeeklyMarkdown, type WeeklyReportInput } from '../../src/governance/reports/weekly-report';
import { metadataFor, recorded } from './support/recorded-events';

describe('ISO weeks', () => {
  it.each([
    ['2026-W48', '2026-11-23T00:00:00.000Z', '2026-11-30T00:00:00.000Z'],
    ['2026-W01', '2025-12-29T00:00:00.000Z', '2026-01-05T00:00:00.000Z'],
    ['2020-W53', '2020-12-28T00:00:00.000Z', '2021-01-04T00:00:00.000Z'],
  ])('%s runs from %s to %s', (label, start, end) => {
    expect(parseIsoWeek(label)).toEqual({ label, start, end });
    expect(isoWeekOf(new Date(start)).label).toBe(label);
    expect(isoWeekOf(new Date(Date.parse(end) - 1)).label).toBe(label);
  });
  it('refuses weeks that do not exist', () => {
    expect(() => parseIsoWeek('2027-W53')).toThrow('2027 has 52 weeks');
    expect(parseIsoWeek('2026-W53').start).toBe('2026-12-28T00:00:00.000Z');
    expect(() => parseIsoWeek('2026-W00')).toThrow();
    expect(() => parseIsoWeek('2026-48')).toThrow('invalid ISO week');
  });
  it('a Monday-morning run reports on the week that just ended', () => {
    expect(previousIsoWeek(new Date('2026-11-30T04:00:00Z')).label).toBe('2026-W48');
  });
});

describe('cron', () => {
  it('fires Mondays 04:00 UTC by default', () => {
    const cron = parseCron('0 4 * * 1');
    expect(cron.matches(new Date('2026-11-30T04:00:00Z'))).toBe(true);
    expect(cron.matches(new Date('2026-11-30T04:01:00Z'))).toBe(false);
    expect(cron.matches(new Date('2026-12-01T04:00:00Z'))).toBe(false);
    expect(lastFireAtOrBefore(cron, new Date('2026-12-03T10:17:00Z'), 8)?.toISOString()).toBe('2026-11-30T04:00:00.000Z');
  });
  it('supports lists, ranges, steps and Sunday as 0 or 7', () => {
    expect(parseCron('*/15 8-10 * * 7').matches(new Date('2026-11-29T09:45:00Z'))).toBe(true);
    expect(parseCron('0 0 1,15 * *').matches(new Date('2026-12-15T00:00:00Z'))).toBe(true);
    expect(cronProblem('0 4 * *')).toBe('a cron expression has five fields');
    expect(cronProblem('61 * * * *')).toMatch(/invalid value for minute: 61/i);
  });
  it('keeps classic cron semantics: both day fields restricted means either day; names; UTC whatever the local zone', () => {
    const either = parseCron('0 12 13 * 5'); // the 13th, or any Friday
    expect(either.matches(new Date('2026-11-13T12:00:00Z'))).toBe(true); // Friday the 13th
    expect(either.matches(new Date('2026-12-13T12:00:00Z'))).toBe(true); // a Sunday, the 13th
    expect(either.matches(new Date('2026-12-04T12:00:00Z'))).toBe(true); // a Friday, the 4th
    expect(either.matches(new Date('2026-12-05T12:00:00Z'))).toBe(false);
    expect(parseCron('30 4 * * mon').matches(new Date('2026-11-30T04:30:00Z'))).toBe(true);
  });
  it('the last fire at or before a time: the same minute counts, the window is bounded', () => {
    const cron = parseCron('0 4 * * 1');
    expect(lastFireAtOrBefore(cron, new Date('2026-11-30T04:00:00Z'), 8)?.toISOString()).toBe('2026-11-30T04:00:00.000Z');
    expect(lastFireAtOrBefore(cron, new Date('2026-11-30T04:00:59.999Z'), 8)?.toISOString()).toBe('2026-11-30T04:00:00.000Z');
    expect(lastFireAtOrBefore(cron, new Date('2026-11-30T03:59:59Z'), 8)?.toISOString()).toBe('2026-11-23T04:00:00.000Z');
    expect(lastFireAtOrBefore(parseCron('0 0 1 1 *'), new Date('2026-11-30T04:00:00Z'), 8)).toBeNull();
    expect(lastFireAtOrBefore(parseCron('0 0 1 1 *'), new Date('2026-11-30T04:00:00Z'), 366)?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
  });
  it('only five fields: seconds and years are refused, and so is the configuration at boot', () => {
    expect(cronProblem('0 0 4 * * 1')).toBe('a cron expression has five fields');
    expect(cronProblem('0 4 * * 1 2027')).toBe('a cron expression has five fields');
    expect(cronProblem('0 4 * * 8')).not.toBeNull();
    expect(cronProblem('x 4 * * 1')).not.toBeNull();
    expect(() => loadConfig({ GOVERNANCE_WEEKLY_REPORT_CRON: '0 25 * * 1' })).toThrow(/GOVERNANCE_WEEKLY_REPORT_CRON: must be a five-field cron expression/);
    expect(loadConfig({ GOVERNANCE_WEEKLY_REPORT_CRON: 'off' }).governance.weeklyReportCron).toBe('off');
  });
});

const WEEK = parseIsoWeek('2026-W48');
const IN = '2026-11-25T12:00:00.000Z';
const BEFORE = '2026-08-01T00:00:00.000Z'; // 121 days before the end of the week
let gp = 0;
function ev(type: string, streamId: string, tenantId: string | null, data: unknown, recordedAt: string, actor = 'op_alice') {
  gp += 1;
  return recorded({ type, streamId, streamPosition: gp, globalPosition: gp, tenantId, data, recordedAt, metadata: metadataFor(recordedAt, actor) });
}

function input(over: Partial<WeeklyReportInput> = {}): WeeklyReportInput {
  gp = 0;
  const events = [
    ev('OperatorCreated', 'operator-op_bob', null, { operator_id: 'op_bob', role: 'operator' }, BEFORE),
    ev('TenantCreated', 'tenant-acme', 'acme', { tenant_id: 'acme', tier: 'growth' }, BEFORE),
    ev('TenantCreated', 'tenant-beta', 'beta', { tenant_id: 'beta', tier: 'starter' }, BEFORE),
    ev('ApiKeyCreated', 'apikey-k1', 'acme', { key_id: 'k1', tenant_id: 'acme', rotated_from: null }, BEFORE),
    ev('ApiKeyCreated', 'apikey-k2', 'acme', { key_id: 'k2', tenant_id: 'acme', rotated_from: null }, BEFORE),
    ev('ApiKeyCreated', 'apikey-k3', 'beta', { key_id: 'k3', tenant_id: 'beta', rotated_from: null }, '2026-11-20T00:00:00.000Z'),
    ev('ApiKeyRotated', 'apikey-k2', 'acme', { key_id: 'k2', tenant_id: 'acme', successor_key_id: 'k4' }, IN),
    ev('ApiKeyCreated', 'apikey-k4', 'acme', { key_id: 'k4', tenant_id: 'acme', rotated_from: 'k2' }, IN),
    ev('ApiKeyRevoked', 'apikey-k3', 'beta', { key_id: 'k3', tenant_id: 'beta', reason: 'leaked', cascade_from: null }, IN),
    ev('TenantSuspended', 'tenant-beta', 'beta', { tenant_id: 'beta', reason: 'unpaid' }, IN),
    ev('OperatorRoleChanged', 'operator-op_bob', null, { operator_id: 'op_bob', from: 'operator', to: 'auditor' }, IN),
    ev('TenantQuotaOverridesSet', 'quota-acme', 'acme', { tenant_id: 'acme', overrides: { write_per_minute: 10 } }, IN),
    ev('OutboxJobsReplayed', 'dead-letters-acme', 'acme', { count: 3, reason: 'provider back' }, IN),
    ev('GateRunRecorded', 'gate-runs', null, { gate: 'health', ok: true, errors: 0, warnings: 0, failing: [] }, IN),
    // After the end of the week: not in this report.
    ev('ApiKeyRevoked', 'apikey-k1', 'acme', { key_id: 'k1', tenant_id: 'acme', reason: null, cascade_from: null }, '2026-12-01T00:00:00.000Z'),
  ];
  return {
    week: WEEK,
    position: '2000:15',
    rotationPolicyDays: 90,
    events,
    chain: { events: events.length, breaks: [] },
    seals: { checked: 2, failures: [] },
    outboxDeadLetters: [{ tenant_id: 'acme', open: 2 }],
    propagation: [{ event_id: events[8]!.eventId, key_id: 'k3', change: 'ApiKeyRevoked', instances: 2, max_ms: 140 }],
    lagIncidents: [],
    policy: [],
    ...over,
  };
}

describe('the governance weekly report', () => {
  it('computes the hand-checked numbers', () => {
    const r = buildWeeklyReport(input());
    // Active at the week's end: k1 (121 days, past the 90-day policy), k4 (new, issued by rotation). k2 rotated, k3 revoked.
    expect(r.overall.keys).toEqual({ active: 2, past_rotation_policy: 1, without_recent_rotation: 1, oldest_age_days: 121 });
    const acme = r.tenants.find((t) => t.tenant_id === 'acme')!;
    expect(acme.keys.past_rotation_policy).toEqual([{ key_id: 'k1', age_days: 121, issued_by_rotation: false }]);
    expect(acme.rotations).toEqual([{ key_id: 'k2', successor_key_id: 'k4', at: IN, actor: 'operator:op_alice', propagation_ms: null }]);
    expect(acme.dead_letters).toEqual({ open: 2, replayed: 3, discarded: 0 });
    expect(acme.quota_changes).toEqual([{ at: IN, change: 'overrides_set', detail: { write_per_minute: 10 }, actor: 'operator:op_alice' }]);
    const beta = r.tenants.find((t) => t.tenant_id === 'beta')!;
    expect(beta.status).toBe('suspended');
    expect(beta.revocations).toEqual([{ key_id: 'k3', at: IN, reason: 'leaked', cascade_from: null, actor: 'operator:op_alice', propagation_ms: 140, instances: 2 }]);
    expect(r.overall.tenants.suspended_this_week).toEqual([{ tenant_id: 'beta', at: IN, reason: 'unpaid', actor: 'operator:op_alice' }]);
    expect(r.overall.operators.role_changes).toEqual([{ operator_id: 'op_bob', at: IN, from: 'operator', to: 'auditor', actor: 'operator:op_alice' }]);
    expect(r.overall.operators.active_by_role).toEqual({ auditor: 1 });
    expect(r.overall.rotations).toBe(1);
    expect(r.overall.revocations).toBe(1);
    expect(r.overall.propagation).toMatchObject({ measured: 1, unmeasured_revocations: 0, max_ms: 140 });
    expect(r.overall.gate_runs).toHaveLength(1);
    expect(r.status).toBe('passed_with_warnings');
    expect(r.checks.filter((c) => !c.pass).map((c) => c.name)).toEqual(['keys_within_rotation_policy', 'dead_letters_resolved']);
  });

  it('is deterministic: the same input gives the same bytes, in JSON and Markdown', () => {
    const a = buildWeeklyReport(input());
    const b = buildWeeklyReport(input());
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(renderWeeklyMarkdown(a)).toBe(renderWeeklyMarkdown(b));
    expect(renderWeeklyMarkdown(a)).toContain('| acme | active | growth | 2 | 121 | 1 | 1 | 0 |');
  });

  describe('the policy section', () => {
    const rs = (rule: string, from: string, to: string, at: string) =>
      ev('RuleStateChanged', 'rules-acme', 'acme', { tenant_id: 'acme', project_id: null, scope: 'desk', rule_node_id: rule, from_state: from, to_state: to, commit_id: `c-${rule}-${to}` }, at);
    const facts = (over: Partial<PolicyFacts> = {}): PolicyFacts => ({
      tenant_id: 'acme',
      decisions: { tools_select: 12, created_from_feedback: 3 },
      tool_feedback_links: { provided: 5, inferred: 4, created_from_feedback: 3 },
      feedback_outcomes: { positive: 8, negative: 4, neutral: 0 },
      rule_nodes: 5,
      private_rules_without_owner: 0,
      ...over,
    });
    const withPolicy = (over: Partial<PolicyFacts> = {}) => {
      const base = input();
      return input({ events: [...base.events, rs('r1', 'draft', 'shadow', BEFORE), rs('r1', 'shadow', 'active', IN), rs('r2', 'draft', 'active', IN), rs('r3', 'draft', 'disabled', IN)], policy: [facts(over)] });
    };

    it('given rule changes, decisions and feedback, then the hand-computed states, coverage and ratio', () => {
      const r = buildWeeklyReport(withPolicy());
      const acme = r.tenants.find((t) => t.tenant_id === 'acme')!;
      // Five rule nodes; r1 and r2 active, r3 disabled, the other two never moved: draft.
      expect(acme.policy.rules).toMatchObject({ total: 5, by_state: { draft: 2, shadow: 0, active: 2, disabled: 1 }, private_without_owner: 0 });
      expect(acme.policy.rules.changes_this_week.map((c) => `${c.rule_node_id}:${c.from}->${c.to}`)).toEqual(['r1:shadow->active', 'r2:draft->active', 'r3:draft->disabled']);
      expect(acme.policy.decisions).toEqual({ made: 12, created_from_feedback: 3 });
      // 9 of 12 tool feedback named their decision; 4 of 12 rated outcomes negative.
      expect(acme.policy.feedback).toMatchObject({ tool_feedback: 12, link_coverage: 0.75, negative_ratio: 0.3333 });
      expect(r.overall.policy).toMatchObject({ decisions: 12, tool_feedback: 12, private_rules_without_owner: 0 });
      expect(r.overall.policy.rule_changes).toHaveLength(3);
      expect(r.checks.filter((c) => c.name.startsWith('policy_')).every((c) => c.pass)).toBe(true);
      expect(renderWeeklyMarkdown(r)).toContain('| acme | 5 (2/0/2/1) | 3 | 12 | 12 | 0.75 | 0.3333 |');
    });

    it('given a private rule without owner, poorly linked feedback or mostly negative outcomes, then the policy checks say so', () => {
      const r = buildWeeklyReport(withPolicy({ private_rules_without_owner: 1, tool_feedback_links: { provided: 1, inferred: 1, created_from_feedback: 10 }, feedback_outcomes: { positive: 2, negative: 10, neutral: 0 } }));
      const failing = r.checks.filter((c) => !c.pass).map((c) => c.name);
      expect(failing).toEqual(expect.arrayContaining(['policy_private_rules_owned', 'policy_feedback_linked', 'policy_negative_feedback_bounded']));
      expect(r.status).toBe('failed');
      // Below ten feedback in the week, the ratios say nothing and are not checked.
      const few = buildWeeklyReport(withPolicy({ tool_feedback_links: { provided: 0, inferred: 0, created_from_feedback: 3 }, feedback_outcomes: { positive: 0, negative: 3, neutral: 0 } }));
      expect(few.checks.filter((c) => c.name === 'policy_feedback_linked' || c.name === 'policy_negative_feedback_bounded').every((c) => c.pass)).toBe(true);
    });
  });

  it('fails on an empty system, a chain break, a seal failure, a failed gate or a slow revocation', () => {
    expect(buildWeeklyReport(input({ events: [] })).checks.find((c) => c.name === 'log_not_empty')?.pass).toBe(false);
    const broken = buildWeeklyReport(input({ chain: { events: 15, breaks: [{ stream_id: 'tenant-acme', stream_position: 1, reason: 'hash_mismatch' }] } }));
    expect(broken.status).toBe('failed');
    expect(broken.checks.find((c) => c.name === 'audit_chain_intact')?.pass).toBe(false);
    expect(buildWeeklyReport(input({ seals: { checked: 2, failures: ['seal 2: signature does not verify'] } })).checks.find((c) => c.name === 'audit_seals_valid')?.pass).toBe(false);
    const slow = buildWeeklyReport(input({ propagation: [{ event_id: input().events[8]!.eventId, key_id: 'k3', change: 'ApiKeyRevoked', instances: 2, max_ms: 9000 }] }));
    expect(slow.status).toBe('failed');
    expect(slow.checks.find((c) => c.name === 'revocation_propagation_bounded')?.count).toBe(1);
    const unmeasured = buildWeeklyReport(input({ propagation: [] }));
    expect(unmeasured.checks.find((c) => c.name === 'revocation_propagation_measured')?.pass).toBe(false);
  });
});
