import type { RecordedEvent } from '../../platform/event-store/event-store';
import type { CheckResult } from '../../ops/checks/check-result';
import type { IsoWeek } from './iso-week';

/**
 * The governance weekly report (docs/governance-report.md): a pure function of the event log up
 * to one position plus a few operational measurements, so the same week and position always give
 * the same bytes. Ages are measured at the end of the week, never at "now".
 */
export const WEEKLY_REPORT_SCHEMA = 'aionis-governance-weekly/1';
/** Revocation must reach every API instance within this bound (the product's tested promise). */
export const PROPAGATION_BOUND_MS = 5000;
/**
 * Policy thresholds (docs/governance.md). Feedback should name its decision (by decision_id or
 * run_id); below this share of linked feedback, outcomes cannot be traced to the policy they rate.
 * Above this share of negative outcomes, a tenant's active rules are doing harm. Both apply only
 * from POLICY_MIN_FEEDBACK feedback in the week (fewer says nothing).
 */
export const POLICY_MIN_LINK_COVERAGE = 0.5;
export const POLICY_MAX_NEGATIVE_RATIO = 0.5;
export const POLICY_MIN_FEEDBACK = 10;

/** A tenant's policy facts of the week, measured from the data plane within the week's bounds. */
export interface PolicyFacts {
  readonly tenant_id: string;
  readonly decisions: { readonly tools_select: number; readonly created_from_feedback: number };
  readonly tool_feedback_links: { readonly provided: number; readonly inferred: number; readonly created_from_feedback: number };
  readonly feedback_outcomes: { readonly positive: number; readonly negative: number; readonly neutral: number };
  readonly rule_nodes: number;
  readonly private_rules_without_owner: number;
}

export interface PropagationSample {
  readonly event_id: string;
  readonly key_id: string;
  readonly change: 'ApiKeyRevoked' | 'ApiKeyRotated';
  /** API instances that recorded when they stopped trusting their cache for this change. */
  readonly instances: number;
  readonly max_ms: number;
}

export interface LagIncident {
  readonly projection: string;
  readonly started_at: string;
  readonly ended_at: string | null;
  readonly peak_lag_ms: number;
}

export interface WeeklyReportInput {
  readonly week: IsoWeek;
  readonly position: string;
  readonly rotationPolicyDays: number;
  /** Every event up to the position, in commit order. */
  readonly events: readonly RecordedEvent[];
  readonly chain: { readonly events: number; readonly breaks: readonly { stream_id: string; stream_position: number; reason: string }[] };
  readonly seals: { readonly checked: number; readonly failures: readonly string[] } | null;
  /** Outbox jobs dead-lettered before the end of the week and still dead, per tenant. */
  readonly outboxDeadLetters: readonly { tenant_id: string; open: number }[];
  readonly propagation: readonly PropagationSample[];
  readonly lagIncidents: readonly LagIncident[];
  readonly policy: readonly PolicyFacts[];
}

interface KeyState {
  key_id: string;
  tenant_id: string;
  created_at: string;
  rotated_from: string | null;
  status: 'active' | 'rotated' | 'revoked';
  rotated_at: string | null;
}

const DAY = 86_400_000;
const byString = <T>(f: (x: T) => string) => (a: T, b: T) => (f(a) < f(b) ? -1 : f(a) > f(b) ? 1 : 0);
const ageDays = (from: string, to: string) => Math.floor((Date.parse(to) - Date.parse(from)) / DAY);

function data<T>(e: RecordedEvent): T {
  return e.data as T;
}

export type WeeklyReport = ReturnType<typeof buildWeeklyReport>;

export function buildWeeklyReport(input: WeeklyReportInput) {
  const { week } = input;
  const inWeek = (e: RecordedEvent) => e.recordedAt >= week.start && e.recordedAt < week.end;
  const upToEnd = input.events.filter((e) => e.recordedAt < week.end);
  const tenants = new Map<string, { tenant_id: string; status: string; tier: string; created_at: string }>();
  const keys = new Map<string, KeyState>();
  const operators = new Map<string, { operator_id: string; role: string; status: string }>();
  const week_ = {
    tenantsSuspended: [] as { tenant_id: string; at: string; reason: string | null; actor: string }[],
    tenantsReactivated: [] as { tenant_id: string; at: string }[],
    rotations: [] as { tenant_id: string; key_id: string; successor_key_id: string; at: string; actor: string; event_id: string }[],
    revocations: [] as { tenant_id: string; key_id: string; at: string; reason: string | null; cascade_from: string | null; actor: string; event_id: string }[],
    quotaChanges: [] as { tenant_id: string; at: string; change: string; detail: unknown; actor: string }[],
    roleChanges: [] as { operator_id: string; at: string; from: string; to: string; actor: string }[],
    operatorsCreated: [] as { operator_id: string; at: string; role: string; actor: string }[],
    operatorsDisabled: [] as { operator_id: string; at: string; actor: string }[],
    deadLetterActions: [] as { tenant_id: string | null; at: string; action: 'replayed' | 'discarded'; count: number; reason: string; actor: string }[],
    gateRuns: [] as { gate: string; at: string; ok: boolean; errors: number; warnings: number; failing: string[]; actor: string }[],
    ruleChanges: [] as { tenant_id: string; scope: string; rule_node_id: string; from: string; to: string; at: string; actor: string; commit_id: string }[],
  };
  /** Each rule's state by the end of the week, from the RuleStateChanged events (rules never moved are draft). */
  const ruleStates = new Map<string, { tenant_id: string; state: string }>();
  const actorOf = (e: RecordedEvent) => `${e.metadata.actor.type}:${e.metadata.actor.id}`;
  for (const e of upToEnd) {
    const w = inWeek(e);
    switch (e.type) {
      case 'TenantCreated': {
        const d = data<{ tenant_id: string; tier: string }>(e);
        tenants.set(d.tenant_id, { tenant_id: d.tenant_id, status: 'active', tier: d.tier, created_at: e.recordedAt });
        break;
      }
      case 'TenantSuspended': {
        const d = data<{ tenant_id: string; reason: string | null }>(e);
        const t = tenants.get(d.tenant_id);
        if (t) t.status = 'suspended';
        if (w) week_.tenantsSuspended.push({ tenant_id: d.tenant_id, at: e.recordedAt, reason: d.reason, actor: actorOf(e) });
        break;
      }
      case 'TenantReactivated': {
        const d = data<{ tenant_id: string }>(e);
        const t = tenants.get(d.tenant_id);
        if (t) t.status = 'active';
        if (w) week_.tenantsReactivated.push({ tenant_id: d.tenant_id, at: e.recordedAt });
        break;
      }
      case 'PerfTenantTornDown': {
        const d = data<{ tenant_id: string }>(e);
        const t = tenants.get(d.tenant_id);
        if (t) t.status = 'closed';
        break;
      }
      case 'TenantTierChanged': {
        const d = data<{ tenant_id: string; from: string; to: string }>(e);
        const t = tenants.get(d.tenant_id);
        if (t) t.tier = d.to;
        if (w) week_.quotaChanges.push({ tenant_id: d.tenant_id, at: e.recordedAt, change: 'tier_changed', detail: { from: d.from, to: d.to }, actor: actorOf(e) });
        break;
      }
      case 'TenantQuotaOverridesSet':
      case 'TenantQuotaOverridesCleared': {
        const d = data<{ tenant_id: string; overrides?: unknown }>(e);
        if (w) week_.quotaChanges.push({ tenant_id: d.tenant_id, at: e.recordedAt, change: e.type === 'TenantQuotaOverridesSet' ? 'overrides_set' : 'overrides_cleared', detail: d.overrides ?? null, actor: actorOf(e) });
        break;
      }
      case 'ApiKeyCreated': {
        const d = data<{ key_id: string; tenant_id: string; rotated_from: string | null }>(e);
        keys.set(d.key_id, { key_id: d.key_id, tenant_id: d.tenant_id, created_at: e.recordedAt, rotated_from: d.rotated_from, status: 'active', rotated_at: null });
        break;
      }
      case 'ApiKeyRotated': {
        const d = data<{ key_id: string; tenant_id: string; successor_key_id: string }>(e);
        const k = keys.get(d.key_id);
        if (k) {
          k.status = 'rotated';
          k.rotated_at = e.recordedAt;
        }
        if (w) week_.rotations.push({ tenant_id: d.tenant_id, key_id: d.key_id, successor_key_id: d.successor_key_id, at: e.recordedAt, actor: actorOf(e), event_id: e.eventId });
        break;
      }
      case 'ApiKeyRevoked': {
        const d = data<{ key_id: string; tenant_id: string; reason: string | null; cascade_from: string | null }>(e);
        const k = keys.get(d.key_id);
        if (k) k.status = 'revoked';
        if (w) week_.revocations.push({ tenant_id: d.tenant_id, key_id: d.key_id, at: e.recordedAt, reason: d.reason, cascade_from: d.cascade_from, actor: actorOf(e), event_id: e.eventId });
        break;
      }
      case 'OperatorCreated': {
        const d = data<{ operator_id: string; role: string }>(e);
        operators.set(d.operator_id, { operator_id: d.operator_id, role: d.role, status: 'active' });
        if (w) week_.operatorsCreated.push({ operator_id: d.operator_id, at: e.recordedAt, role: d.role, actor: actorOf(e) });
        break;
      }
      case 'OperatorRoleChanged': {
        const d = data<{ operator_id: string; from: string; to: string }>(e);
        const o = operators.get(d.operator_id);
        if (o) o.role = d.to;
        if (w) week_.roleChanges.push({ operator_id: d.operator_id, at: e.recordedAt, from: d.from, to: d.to, actor: actorOf(e) });
        break;
      }
      case 'OperatorDisabled': {
        const d = data<{ operator_id: string }>(e);
        const o = operators.get(d.operator_id);
        if (o) o.status = 'disabled';
        if (w) week_.operatorsDisabled.push({ operator_id: d.operator_id, at: e.recordedAt, actor: actorOf(e) });
        break;
      }
      case 'OutboxJobsReplayed':
      case 'OutboxJobsDiscarded': {
        const d = data<{ count: number; reason: string; tenants?: string[] }>(e);
        if (w) week_.deadLetterActions.push({ tenant_id: e.tenantId, at: e.recordedAt, action: e.type === 'OutboxJobsReplayed' ? 'replayed' : 'discarded', count: d.count, reason: d.reason, actor: actorOf(e) });
        break;
      }
      case 'RuleStateChanged': {
        const d = data<{ tenant_id: string; project_id: string | null; scope: string; rule_node_id: string; from_state: string; to_state: string; commit_id: string }>(e);
        ruleStates.set(`${d.tenant_id}\u0000${d.project_id ?? ''}\u0000${d.scope}\u0000${d.rule_node_id}`, { tenant_id: d.tenant_id, state: d.to_state });
        if (w) week_.ruleChanges.push({ tenant_id: d.tenant_id, scope: d.scope, rule_node_id: d.rule_node_id, from: d.from_state, to: d.to_state, at: e.recordedAt, actor: actorOf(e), commit_id: d.commit_id });
        break;
      }
      case 'GateRunRecorded': {
        const d = data<{ gate: string; ok: boolean; errors: number; warnings: number; failing: string[] }>(e);
        if (w) week_.gateRuns.push({ gate: d.gate, at: e.recordedAt, ok: d.ok, errors: d.errors, warnings: d.warnings, failing: d.failing, actor: actorOf(e) });
        break;
      }
      default:
        break;
    }
  }

  const propagationByEvent = new Map(input.propagation.map((p) => [p.event_id, p]));
  const activeKeys = [...keys.values()].filter((k) => k.status === 'active' && tenants.has(k.tenant_id));
  const keyView = (k: KeyState) => ({ key_id: k.key_id, age_days: ageDays(k.created_at, week.end), issued_by_rotation: k.rotated_from !== null });
  const pastPolicy = activeKeys.filter((k) => ageDays(k.created_at, week.end) > input.rotationPolicyDays);
  const neverRotated = activeKeys.filter((k) => k.rotated_from === null && ageDays(k.created_at, week.end) > input.rotationPolicyDays / 2);
  const openDead = new Map(input.outboxDeadLetters.map((d) => [d.tenant_id, d.open]));

  const policyOf = new Map(input.policy.map((p) => [p.tenant_id, p]));
  const policyRow = (tenantId: string) => {
    const f = policyOf.get(tenantId);
    const moved = [...ruleStates.values()].filter((r) => r.tenant_id === tenantId);
    const count = (state: string) => moved.filter((r) => r.state === state).length;
    const links = f?.tool_feedback_links ?? { provided: 0, inferred: 0, created_from_feedback: 0 };
    const linked = links.provided + links.inferred;
    const toolFeedback = linked + links.created_from_feedback;
    const outcomes = f?.feedback_outcomes ?? { positive: 0, negative: 0, neutral: 0 };
    const rated = outcomes.positive + outcomes.negative;
    return {
      rules: {
        total: f?.rule_nodes ?? moved.length,
        by_state: { draft: Math.max(0, (f?.rule_nodes ?? 0) - moved.length), shadow: count('shadow'), active: count('active'), disabled: count('disabled') },
        changes_this_week: week_.ruleChanges.filter((c) => c.tenant_id === tenantId).map(({ tenant_id: _t, ...c }) => c),
        private_without_owner: f?.private_rules_without_owner ?? 0,
      },
      decisions: { made: f?.decisions.tools_select ?? 0, created_from_feedback: f?.decisions.created_from_feedback ?? 0 },
      feedback: {
        tool_feedback: toolFeedback,
        links,
        link_coverage: toolFeedback === 0 ? null : Math.round((linked / toolFeedback) * 10_000) / 10_000,
        outcomes,
        negative_ratio: rated === 0 ? null : Math.round((outcomes.negative / rated) * 10_000) / 10_000,
      },
    };
  };

  const tenantRows = [...tenants.values()].sort(byString((t) => t.tenant_id)).map((t) => {
    const mine = activeKeys.filter((k) => k.tenant_id === t.tenant_id);
    const ages = mine.map((k) => ageDays(k.created_at, week.end));
    return {
      tenant_id: t.tenant_id,
      status: t.status,
      tier: t.tier,
      keys: {
        active: mine.length,
        oldest_age_days: ages.length ? Math.max(...ages) : null,
        past_rotation_policy: pastPolicy.filter((k) => k.tenant_id === t.tenant_id).map(keyView).sort(byString((k) => k.key_id)),
        without_recent_rotation: neverRotated.filter((k) => k.tenant_id === t.tenant_id).map(keyView).sort(byString((k) => k.key_id)),
      },
      rotations: week_.rotations
        .filter((r) => r.tenant_id === t.tenant_id)
        .map((r) => ({ key_id: r.key_id, successor_key_id: r.successor_key_id, at: r.at, actor: r.actor, propagation_ms: propagationByEvent.get(r.event_id)?.max_ms ?? null })),
      revocations: week_.revocations
        .filter((r) => r.tenant_id === t.tenant_id)
        .map((r) => ({ key_id: r.key_id, at: r.at, reason: r.reason, cascade_from: r.cascade_from, actor: r.actor, propagation_ms: propagationByEvent.get(r.event_id)?.max_ms ?? null, instances: propagationByEvent.get(r.event_id)?.instances ?? 0 })),
      quota_changes: week_.quotaChanges.filter((q) => q.tenant_id === t.tenant_id).map(({ tenant_id: _t, ...q }) => q),
      dead_letters: {
        open: openDead.get(t.tenant_id) ?? 0,
        replayed: week_.deadLetterActions.filter((a) => a.tenant_id === t.tenant_id && a.action === 'replayed').reduce((n, a) => n + a.count, 0),
        discarded: week_.deadLetterActions.filter((a) => a.tenant_id === t.tenant_id && a.action === 'discarded').reduce((n, a) => n + a.count, 0),
      },
      policy: policyRow(t.tenant_id),
    };
  });
  const policyByTenant = tenantRows.map((t) => ({ tenant_id: t.tenant_id, ...t.policy }));
  const enoughFeedback = (p: (typeof policyByTenant)[number]) => p.feedback.outcomes.positive + p.feedback.outcomes.negative + p.feedback.outcomes.neutral >= POLICY_MIN_FEEDBACK;

  const measured = [...week_.revocations, ...week_.rotations].map((r) => propagationByEvent.get(r.event_id)).filter((p): p is PropagationSample => p !== undefined);
  const sortedMs = measured.map((p) => p.max_ms).sort((a, b) => a - b);
  const pct = (q: number) => (sortedMs.length ? sortedMs[Math.min(sortedMs.length - 1, Math.ceil(q * sortedMs.length) - 1)]! : null);
  const byRole: Record<string, number> = {};
  for (const o of operators.values()) if (o.status === 'active') byRole[o.role] = (byRole[o.role] ?? 0) + 1;
  const incidents = [...input.lagIncidents].sort(byString((i) => `${i.started_at}|${i.projection}`));
  const failedGates = week_.gateRuns.filter((g) => !g.ok);
  const unmeasured = week_.revocations.filter((r) => !propagationByEvent.has(r.event_id));
  const slow = measured.filter((p) => p.max_ms > PROPAGATION_BOUND_MS);
  const openDeadTotal = input.outboxDeadLetters.reduce((n, d) => n + d.open, 0);

  const checks: CheckResult[] = [
    mk('log_not_empty', 'error', 'the report covers a system with at least one tenant (an empty database proves nothing)', tenants.size === 0 ? [{ events: upToEnd.length, tenants: 0 }] : []),
    mk('audit_chain_intact', 'error', `every per-stream hash chain up to ${input.position} verifies (${input.chain.events} events)`, [...input.chain.breaks]),
    mk('audit_seals_valid', 'error', input.seals ? `every signed global seal up to the position verifies (${input.seals.checked} seals)` : 'no global seals were available to check', input.seals ? input.seals.failures.map((f) => ({ failure: f })) : []),
    mk('gates_passed_this_week', 'error', 'every gate and consistency check run recorded this week passed', failedGates),
    mk('gates_ran_this_week', 'warning', 'at least one gate or consistency run was recorded this week', week_.gateRuns.length === 0 ? [{ gate_runs: 0 }] : []),
    mk('revocation_propagation_bounded', 'error', `every measured revocation and rotation reached every API instance within ${PROPAGATION_BOUND_MS} ms`, slow),
    mk('revocation_propagation_measured', 'warning', 'every revocation of the week has a propagation measurement', unmeasured.map((r) => ({ key_id: r.key_id, at: r.at }))),
    mk('keys_within_rotation_policy', 'warning', `no active key is older than the rotation policy (${input.rotationPolicyDays} days)`, pastPolicy.map((k) => ({ tenant_id: k.tenant_id, ...keyView(k) }))),
    mk('dead_letters_resolved', 'warning', 'no outbox job is left in the dead-letter state', input.outboxDeadLetters.filter((d) => d.open > 0)),
    mk('no_projection_lag_incidents', 'warning', 'no projection exceeded its lag threshold this week', incidents),
    mk('policy_private_rules_owned', 'error', 'no private rule node is without an owner agent or team (it would bind no one; the write path refuses it)', policyByTenant.filter((p) => p.rules.private_without_owner > 0).map((p) => ({ tenant_id: p.tenant_id, private_without_owner: p.rules.private_without_owner }))),
    mk(
      'policy_feedback_linked',
      'warning',
      `at least ${POLICY_MIN_LINK_COVERAGE * 100}% of each tenant's tool feedback names its decision (by decision_id or run_id), for tenants with ${POLICY_MIN_FEEDBACK} or more feedback this week`,
      policyByTenant.filter((p) => p.feedback.tool_feedback >= POLICY_MIN_FEEDBACK && (p.feedback.link_coverage ?? 1) < POLICY_MIN_LINK_COVERAGE).map((p) => ({ tenant_id: p.tenant_id, link_coverage: p.feedback.link_coverage, links: p.feedback.links })),
    ),
    mk(
      'policy_negative_feedback_bounded',
      'warning',
      `no tenant's rated feedback is more than ${POLICY_MAX_NEGATIVE_RATIO * 100}% negative this week (tenants with ${POLICY_MIN_FEEDBACK} or more feedback)`,
      policyByTenant.filter((p) => enoughFeedback(p) && (p.feedback.negative_ratio ?? 0) > POLICY_MAX_NEGATIVE_RATIO).map((p) => ({ tenant_id: p.tenant_id, negative_ratio: p.feedback.negative_ratio, outcomes: p.feedback.outcomes })),
    ),
  ];
  const errors = checks.filter((c) => !c.pass && c.severity === 'error').length;
  const warnings = checks.filter((c) => !c.pass && c.severity === 'warning').length;

  return {
    schema: WEEKLY_REPORT_SCHEMA,
    report_id: `weekly-${week.label}@${input.position}`,
    week,
    log_position: input.position,
    rotation_policy_days: input.rotationPolicyDays,
    status: errors > 0 ? ('failed' as const) : warnings > 0 ? ('passed_with_warnings' as const) : ('passed' as const),
    errors,
    warnings,
    checks,
    overall: {
      tenants: {
        total: tenants.size,
        active: [...tenants.values()].filter((t) => t.status === 'active').length,
        suspended: [...tenants.values()].filter((t) => t.status === 'suspended').map((t) => t.tenant_id).sort(),
        suspended_this_week: week_.tenantsSuspended,
        reactivated_this_week: week_.tenantsReactivated,
      },
      keys: {
        active: activeKeys.length,
        past_rotation_policy: pastPolicy.length,
        without_recent_rotation: neverRotated.length,
        oldest_age_days: activeKeys.length ? Math.max(...activeKeys.map((k) => ageDays(k.created_at, week.end))) : null,
      },
      rotations: week_.rotations.length,
      revocations: week_.revocations.length,
      propagation: { measured: measured.length, unmeasured_revocations: unmeasured.length, p50_ms: pct(0.5), p99_ms: pct(0.99), max_ms: sortedMs.at(-1) ?? null, bound_ms: PROPAGATION_BOUND_MS },
      operators: { active_by_role: Object.fromEntries(Object.entries(byRole).sort()), created: week_.operatorsCreated, role_changes: week_.roleChanges, disabled: week_.operatorsDisabled },
      quota_changes: week_.quotaChanges,
      dead_letters: {
        open: openDeadTotal,
        replayed: week_.deadLetterActions.filter((a) => a.action === 'replayed').reduce((n, a) => n + a.count, 0),
        discarded: week_.deadLetterActions.filter((a) => a.action === 'discarded').reduce((n, a) => n + a.count, 0),
        actions: week_.deadLetterActions,
      },
      gate_runs: week_.gateRuns,
      audit_chain: { events_verified: input.chain.events, breaks: input.chain.breaks.length, seals_checked: input.seals?.checked ?? 0, seal_failures: input.seals?.failures.length ?? 0 },
      projection_lag_incidents: incidents,
      policy: {
        rule_changes: week_.ruleChanges,
        decisions: policyByTenant.reduce((n, p) => n + p.decisions.made, 0),
        tool_feedback: policyByTenant.reduce((n, p) => n + p.feedback.tool_feedback, 0),
        private_rules_without_owner: policyByTenant.reduce((n, p) => n + p.rules.private_without_owner, 0),
      },
    },
    tenants: tenantRows,
  };
}

function mk(name: string, severity: 'error' | 'warning', detail: string, violations: readonly unknown[]): CheckResult {
  return { name, severity, pass: violations.length === 0, count: violations.length, sample: violations.slice(0, 5) as unknown[], detail };
}

/** The report as Markdown for humans: the same content, section by section. */
export function renderWeeklyMarkdown(r: WeeklyReport): string {
  const lines: string[] = [];
  const o = r.overall;
  lines.push(`# Governance weekly report ${r.week.label}`, '');
  lines.push(`- Period: ${r.week.start} to ${r.week.end} (UTC)`, `- Event-log position: \`${r.log_position}\``, `- Report id: \`${r.report_id}\``);
  lines.push(`- **Status: ${r.status.toUpperCase()}** (${r.errors} error-level and ${r.warnings} warning-level check(s) failing)`, '');
  lines.push('## Checks', '', '| check | severity | result | count | what it proves |', '| --- | --- | --- | --- | --- |');
  for (const c of r.checks) lines.push(`| ${c.name} | ${c.severity} | ${c.pass ? 'pass' : '**FAIL**'} | ${c.count} | ${c.detail} |`);
  lines.push('', '## Tenants', '', `${o.tenants.total} tenants, ${o.tenants.active} active; suspended: ${o.tenants.suspended.join(', ') || 'none'}.`);
  for (const s of o.tenants.suspended_this_week) lines.push(`- suspended this week: ${s.tenant_id} at ${s.at} by ${s.actor}${s.reason ? ` (${s.reason})` : ''}`);
  lines.push('', '## API keys', '', `${o.keys.active} active keys; oldest ${o.keys.oldest_age_days ?? '-'} days; ${o.keys.past_rotation_policy} past the ${r.rotation_policy_days}-day rotation policy; ${o.keys.without_recent_rotation} never rotated and older than half the policy.`);
  lines.push(`${o.rotations} rotation(s) and ${o.revocations} revocation(s) this week. Propagation to every API instance: p50 ${o.propagation.p50_ms ?? '-'} ms, p99 ${o.propagation.p99_ms ?? '-'} ms, max ${o.propagation.max_ms ?? '-'} ms (bound ${o.propagation.bound_ms} ms; ${o.propagation.unmeasured_revocations} revocation(s) without a measurement).`, '');
  lines.push('| tenant | status | tier | active keys | oldest (days) | past policy | rotations | revocations | max propagation (ms) | quota changes | dead letters open/replayed/discarded |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const t of r.tenants) {
    const maxProp = [...t.rotations, ...t.revocations].map((x) => x.propagation_ms).filter((x): x is number => x !== null);
    lines.push(`| ${t.tenant_id} | ${t.status} | ${t.tier} | ${t.keys.active} | ${t.keys.oldest_age_days ?? '-'} | ${t.keys.past_rotation_policy.length} | ${t.rotations.length} | ${t.revocations.length} | ${maxProp.length ? Math.max(...maxProp) : '-'} | ${t.quota_changes.length} | ${t.dead_letters.open}/${t.dead_letters.replayed}/${t.dead_letters.discarded} |`);
  }
  lines.push('', '## Operators', '', `Active by role: ${Object.entries(o.operators.active_by_role).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}.`);
  for (const c of o.operators.created) lines.push(`- created ${c.operator_id} (${c.role}) at ${c.at} by ${c.actor}`);
  for (const c of o.operators.role_changes) lines.push(`- role of ${c.operator_id}: ${c.from} -> ${c.to} at ${c.at} by ${c.actor}`);
  for (const c of o.operators.disabled) lines.push(`- disabled ${c.operator_id} at ${c.at} by ${c.actor}`);
  lines.push('', '## Quota changes', '');
  if (o.quota_changes.length === 0) lines.push('None.');
  for (const q of o.quota_changes) lines.push(`- ${q.tenant_id}: ${q.change} at ${q.at} by ${q.actor}: \`${JSON.stringify(q.detail)}\``);
  lines.push('', '## Dead letters', '', `${o.dead_letters.open} outbox job(s) dead-lettered and still open; ${o.dead_letters.replayed} replayed and ${o.dead_letters.discarded} discarded this week.`);
  for (const a of o.dead_letters.actions) lines.push(`- ${a.action} ${a.count} job(s)${a.tenant_id ? ` of ${a.tenant_id}` : ''} at ${a.at} by ${a.actor}: "${a.reason}"`);
  lines.push('', '## Gates and consistency checks this week', '');
  if (o.gate_runs.length === 0) lines.push('No gate run was recorded this week.');
  for (const g of o.gate_runs) lines.push(`- ${g.at} ${g.gate}: ${g.ok ? 'passed' : `**FAILED** (${g.failing.join(', ')})`} by ${g.actor}`);
  lines.push('', '## Audit chain', '', `${o.audit_chain.events_verified} events verified, ${o.audit_chain.breaks} chain break(s); ${o.audit_chain.seals_checked} global seal(s) checked, ${o.audit_chain.seal_failures} failure(s).`);
  lines.push('', '## Policy (Memory -> Policy)', '', `${o.policy.rule_changes.length} rule state change(s), ${o.policy.decisions} tool decision(s), ${o.policy.tool_feedback} tool feedback this week; ${o.policy.private_rules_without_owner} private rule(s) without an owner.`, '');
  lines.push('| tenant | rules (draft/shadow/active/disabled) | changes | decisions | tool feedback | linked | negative ratio |', '| --- | --- | --- | --- | --- | --- | --- |');
  for (const t of r.tenants) {
    const p = t.policy;
    lines.push(`| ${t.tenant_id} | ${p.rules.total} (${p.rules.by_state.draft}/${p.rules.by_state.shadow}/${p.rules.by_state.active}/${p.rules.by_state.disabled}) | ${p.rules.changes_this_week.length} | ${p.decisions.made} | ${p.feedback.tool_feedback} | ${p.feedback.link_coverage ?? '-'} | ${p.feedback.negative_ratio ?? '-'} |`);
  }
  for (const c of o.policy.rule_changes) lines.push(`- ${c.tenant_id}/${c.scope}: rule ${c.rule_node_id} ${c.from} -> ${c.to} at ${c.at} by ${c.actor} (commit ${c.commit_id})`);
  lines.push('', '## Projection lag incidents', '');
  if (o.projection_lag_incidents.length === 0) lines.push('None.');
  for (const i of o.projection_lag_incidents) lines.push(`- ${i.projection}: from ${i.started_at} to ${i.ended_at ?? '(still open)'}, peak ${i.peak_lag_ms} ms`);
  lines.push('');
  return lines.join('\n');
}
