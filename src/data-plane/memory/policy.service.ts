import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Counter } from '@opentelemetry/api';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config';
import { AppError } from '../../platform/errors/app-error';
import { sha256Hex } from '../../platform/event-store/canonical-json';
import { eventMetadata, newCommandId, requestCommandContext } from '../../platform/event-store/command-context';
import { EVENT_STORE, type EventStore } from '../../platform/event-store/event-store';
import { METRICS, type Metrics } from '../../platform/telemetry/metrics';
import { kindCommitHash, nextCommit } from './domain/commit';
import { decisionHash } from './domain/decision';
import { type Namespace, scopeKey } from './domain/ids';
import type { Principal } from './domain/identity';
import type { RuleState } from './domain/model';
import { prepareText, type RedactionCounts } from './domain/text';
import { MemoryRepository, type ScopeHead } from './memory.repository';
import { PolicyRepository } from './policy.repository';
import { injectPolicyIdentity } from './policy/context';
import { evaluateRules, type EvaluateInput, forRecall } from './policy/evaluate';
import { type DecisionSnapshot, linkDecision, newDecisionFromFeedback, normalizeFeedback, planAttribution, ruleFeedbackDiff, toolFeedbackDiff } from './policy/feedback';
import { planRuleStateChange } from './policy/rule-state';
import { decisionFields, selectTools } from './policy/select';
import type { Outcome } from './policy/types';
import type { RequestFacts } from './write.handler';

/** The stream of a tenant's policy changes: every rule state change is a governance fact in the log. */
export const rulesStreamId = (tenantId: string): string => `rules-${tenantId}`;

const snapshotOf = (d: { decision_id: string; run_id: string | null; selected_tool: string | null; candidates: unknown; policy_sha256: string }): DecisionSnapshot => ({
  decision_id: d.decision_id,
  run_id: d.run_id,
  selected_tool: d.selected_tool,
  candidates: d.candidates,
  policy_sha256: d.policy_sha256,
});

/**
 * Memory -> Policy (contract §2.11-§2.15, §5, §6). Each route loads the scope's rules, lets the
 * pure engine (policy/) decide, and stores the outcome: a decision row for tools/select, a commit
 * on the scope's chain for feedback and state changes (with the rule statistics), and for a state
 * change also a RuleStateChanged event in the log, in the same transaction.
 */
@Injectable()
export class PolicyService {
  private readonly logger = new Logger('Policy');
  private readonly exhausted: Counter;
  private readonly regexSkipped: Counter;

  constructor(
    private readonly policy: PolicyRepository,
    private readonly memory: MemoryRepository,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(METRICS) metrics: Metrics,
  ) {
    this.exhausted = metrics.meter.createCounter('aionis_policy_rules_budget_exhausted', { description: 'Rule conditions that ran out of their evaluation budget (treated as not matching), by route' });
    this.regexSkipped = metrics.meter.createCounter('aionis_policy_regex_skipped', { description: '$regex operators evaluated as false because the linear engine refused them (too long, lookaround, backreferences), by route' });
  }

  /**
   * The pure engine, with what it could not evaluate made visible: a rule whose condition ran out
   * of budget silently does not match, so operators see it in a metric and a warning naming the rules.
   */
  private run(route: string, ns: Namespace, input: EvaluateInput) {
    const { response, diagnostics } = evaluateRules(input);
    const exhausted = diagnostics.budget_exhausted_rule_ids.length;
    if (exhausted > 0) this.exhausted.add(exhausted, { route });
    if (diagnostics.regex_skipped > 0) this.regexSkipped.add(diagnostics.regex_skipped, { route });
    if (exhausted > 0 || diagnostics.regex_skipped > 0) {
      this.logger.warn({ msg: 'rules not fully evaluated', route, tenant_id: ns.tenantId, scope: ns.scope, budget_exhausted_rule_ids: diagnostics.budget_exhausted_rule_ids, regex_skipped: diagnostics.regex_skipped });
    }
    return response;
  }

  /**
   * A policy context with the caller's identity injected and checked (§1.4; hosted, every identity
   * claim in it must agree). Controllers call it before admission, as the contract orders identity
   * before the buckets; it is idempotent, and the routes apply it again for direct callers.
   */
  policyContext(p: Principal, raw: unknown, field: 'context' | 'rules_context' = 'context'): unknown {
    return this.context(p, raw, field);
  }

  private context(p: Principal, raw: unknown, field: 'context' | 'rules_context' = 'context'): unknown {
    const injected = injectPolicyIdentity(raw, { agentId: p.agentId, teamId: p.teamId });
    if (!injected.ok) {
      const m = { ...injected.mismatch, field: injected.mismatch.field.replace(/^context\b/, field) };
      throw new AppError('identity_mismatch', `${m.field} "${m.provided}" contradicts the API key's identity ("${m.expected}")`, { ...m });
    }
    return injected.context;
  }

  private textPolicy() {
    return { maxLen: this.config.memory.maxTextLen, redaction: this.config.memory.piiRedaction };
  }

  /** input_sha256, or the SHA-256 of the input text (normalised and redacted unless `raw`). */
  private inputSha(r: { input_text?: string | undefined; input_sha256?: string | undefined }, raw: boolean): string {
    if (r.input_sha256 !== undefined) return r.input_sha256;
    const text = raw ? (r.input_text ?? '') : prepareText(r.input_text ?? '', this.textPolicy(), {});
    if (text.trim() === '') throw new AppError('validation_failed', '1 invalid field(s): body.input_text', { errors: [{ field: 'body.input_text', message: 'must contain text other than whitespace' }] });
    return sha256Hex(text);
  }

  /** rules/evaluate (§2.11): read-only. */
  async evaluate(p: Principal, ns: Namespace, r: { context?: unknown; include_shadow?: boolean | undefined; limit?: number | undefined }) {
    const context = this.context(p, r.context);
    const { rules } = await this.policy.liveRules(this.policy.db, ns, r.limit ?? 50);
    const response = this.run('rules/evaluate', ns, { rules, context, includeShadow: r.include_shadow ?? true });
    return { tenant_id: p.tenantId, scope: ns.scope, ...response };
  }

  /** The `rules` block of recall (§2.3): the evaluation without active, shadow and the visibility summary. */
  async forRecall(ns: Namespace, rulesContext: unknown, includeShadow: boolean, limit: number) {
    const { rules } = await this.policy.liveRules(this.policy.db, ns, limit);
    const response = this.run('recall', ns, { rules, context: rulesContext, includeShadow });
    return { scope: ns.scope, ...forRecall(response) };
  }

  /** tools/select (§2.12, §6.1): the selection under the active policy, recorded as a decision. */
  async select(
    p: Principal,
    ns: Namespace,
    r: { context?: unknown; candidates: string[]; run_id?: string | undefined; include_shadow?: boolean | undefined; rules_limit?: number | undefined; strict?: boolean | undefined },
    facts: RequestFacts,
  ) {
    const context = this.context(p, r.context);
    const includeShadow = r.include_shadow ?? false;
    const rulesLimit = r.rules_limit ?? 50;
    const strict = r.strict ?? true;
    const { rules, head } = await this.policy.liveRules(this.policy.db, ns, rulesLimit);
    const response = this.run('tools/select', ns, { rules, context, includeShadow });
    const outcome = selectTools({ candidates: r.candidates, evaluation: response, strict, includeShadow });
    if (!outcome.ok) throw new AppError('no_tools_allowed', outcome.error.message, { ...outcome.error.details });
    const f = decisionFields(context, response);
    const decisionId = randomUUID();
    const createdAt = facts.now.toISOString();
    const evaluation = { include_shadow: includeShadow, rules_limit: rulesLimit, strict, run_id: r.run_id ?? null };
    const row = {
      decision_id: decisionId,
      kind: 'tools_select' as const,
      run_id: r.run_id ?? null,
      selected_tool: outcome.selection.selected,
      candidates: outcome.candidates.slice(),
      context: context === undefined ? null : context,
      context_sha256: f.context_sha256,
      policy: response.applied.policy,
      policy_sha256: f.policy_sha256,
      source_rule_ids: f.source_rule_ids.slice(),
      evaluation,
      metadata: { route: 'tools/select' },
      rules_head_commit_id: head.commit_id,
      rules_head_seq: head.seq,
      commit_id: null,
      key_id: p.keyId,
      created_at: createdAt,
    };
    const hash = decisionHash({ ...row, tenant_id: ns.tenantId, project_key: ns.projectKey, scope: ns.scope });
    const createdPg = await this.policy.insertDecision(this.policy.db, ns, { ...row, decision_hash: hash });
    return {
      tenant_id: p.tenantId,
      scope: ns.scope,
      candidates: outcome.candidates,
      selection: outcome.selection,
      rules: outcome.rules,
      decision: { decision_id: decisionId, run_id: row.run_id, selected_tool: row.selected_tool, policy_sha256: f.policy_sha256, source_rule_ids: f.source_rule_ids, created_at: createdPg },
    };
  }

  /** The commit of a policy route, appended to the scope's chain (parent: the scope's newest commit). */
  private async commit(
    trx: Parameters<Parameters<MemoryRepository['transaction']>[0]>[0],
    head: ScopeHead,
    p: Principal,
    ns: Namespace,
    kind: 'rule_state_change' | 'rule_feedback' | 'tool_feedback',
    diff: unknown,
    inputSha: string,
    actor: string,
    facts: RequestFacts,
  ): Promise<{ commit_id: string; commit_hash: string; created_at: string }> {
    const parentHash = head.head_commit_hash ?? '';
    const { commitHash, diffSha } = kindCommitHash({ parentHash, inputSha, diff, scopeKey: scopeKey(ns), actor, kind });
    const commitId = randomUUID();
    const createdAt = facts.now.toISOString();
    await this.memory.appendCommit(
      trx,
      ns,
      nextCommit(head, {
        commit_id: commitId,
        kind,
        parent_id: head.head_commit_id,
        parent_hash: parentHash,
        input_sha256: inputSha,
        diff,
        diff_sha256: diffSha,
        actor,
        model_version: null,
        prompt_version: null,
        commit_hash: commitHash,
        key_id: p.keyId,
        request_id: facts.requestId,
        created_at: createdAt,
      }),
    );
    return { commit_id: commitId, commit_hash: commitHash, created_at: createdAt };
  }

  /** rules/state (§2.14, §5.3), and the RuleStateChanged event in the same transaction. */
  async setState(p: Principal, ns: Namespace, r: { rule_node_id: string; state: RuleState; input_text?: string | undefined; input_sha256?: string | undefined; actor?: string | undefined }, facts: RequestFacts) {
    const ruleId = r.rule_node_id.toLowerCase();
    const inputSha = this.inputSha(r, true);
    return this.memory.transaction(async (trx) => {
      // The head first: state changes of one scope are serialised with its other commits.
      const head = await this.memory.lockHead(trx, ns);
      const found = await this.policy.ruleNode(trx, ns, ruleId);
      if (!found) throw new AppError('rule_not_found_in_scope', `rule node ${ruleId} does not exist in this scope`, { rule_node_id: ruleId, scope: ns.scope, tenant_id: p.tenantId });
      const plan = planRuleStateChange({ rule_node_id: ruleId, state: r.state, node: found.node, definition: found.def });
      if (!plan.ok) throw new AppError(plan.error.code, plan.error.message, { ...(plan.error.details ?? {}) });
      const c = await this.commit(trx, head, p, ns, 'rule_state_change', plan.diff, inputSha, r.actor ?? 'system', facts);
      const seed = plan.create ?? found.def!;
      await this.policy.setRuleState(trx, ns, { rule_node_id: ruleId, state: r.state, seed }, c.commit_id, c.created_at);
      if (plan.touchLastActivated) await this.memory.updateNodes(trx, ns, [{ id: ruleId, activate: true }], c.created_at, null);
      await this.store.append(
        rulesStreamId(p.tenantId),
        [
          {
            type: 'RuleStateChanged',
            data: {
              tenant_id: p.tenantId,
              project_id: p.projectKey === '' ? null : p.projectKey,
              scope: ns.scope,
              rule_node_id: ruleId,
              from_state: found.def?.state ?? 'draft',
              to_state: r.state,
              commit_id: c.commit_id,
              commit_hash: c.commit_hash,
              key_id: p.keyId,
            },
          },
        ],
        {
          expectedRevision: 'any',
          tenantId: p.tenantId,
          trx,
          metadata: eventMetadata(requestCommandContext(facts, { type: 'api_key', id: p.keyId, display: p.keyDisplay }, { now: () => facts.now }), newCommandId()),
        },
      );
      return { tenant_id: p.tenantId, scope: ns.scope, commit_id: c.commit_id, commit_hash: c.commit_hash };
    });
  }

  /** /feedback (§2.15): direct feedback on one rule. */
  async ruleFeedback(
    p: Principal,
    ns: Namespace,
    r: { rule_node_id: string; outcome: Outcome; run_id?: string | undefined; note?: string | undefined; input_text?: string | undefined; input_sha256?: string | undefined; actor?: string | undefined },
    facts: RequestFacts,
  ) {
    const ruleId = r.rule_node_id.toLowerCase();
    const inputSha = this.inputSha(r, false);
    const counts: RedactionCounts = {};
    const note = r.note !== undefined ? prepareText(r.note, this.textPolicy(), counts) : null;
    return this.memory.transaction(async (trx) => {
      const head = await this.memory.lockHead(trx, ns);
      const found = await this.policy.ruleNode(trx, ns, ruleId);
      if (!found) throw new AppError('rule_not_found_in_scope', `rule node ${ruleId} does not exist in this scope`, { rule_node_id: ruleId, scope: ns.scope, tenant_id: p.tenantId });
      const feedbackId = randomUUID();
      const c = await this.commit(trx, head, p, ns, 'rule_feedback', ruleFeedbackDiff({ id: feedbackId, rule_node_id: ruleId, outcome: r.outcome, run_id: r.run_id ?? null }), inputSha, r.actor ?? 'system', facts);
      await this.policy.insertFeedback(
        trx,
        ns,
        [{ feedback_id: feedbackId, rule_node_id: ruleId, run_id: r.run_id ?? null, outcome: r.outcome, note, source: 'rule_feedback', decision_id: null, decision_link_mode: null }],
        c.commit_id,
        c.created_at,
      );
      await this.policy.addOutcome(trx, ns, [ruleId], r.outcome);
      return { tenant_id: p.tenantId, scope: ns.scope, commit_id: c.commit_id, commit_hash: c.commit_hash, feedback_id: feedbackId };
    });
  }

  /** tools/feedback (§2.13, §6.2): attribution by re-evaluation, decision linking, the commit and the statistics. */
  async toolsFeedback(
    p: Principal,
    ns: Namespace,
    r: {
      outcome: Outcome;
      context?: unknown;
      candidates: string[];
      selected_tool: string;
      run_id?: string | undefined;
      decision_id?: string | undefined;
      include_shadow?: boolean | undefined;
      rules_limit?: number | undefined;
      target?: 'tool' | 'all' | undefined;
      note?: string | undefined;
      input_text?: string | undefined;
      input_sha256?: string | undefined;
      actor?: string | undefined;
    },
    facts: RequestFacts,
  ) {
    const context = this.context(p, r.context);
    const norm = normalizeFeedback({ candidates: r.candidates, selected_tool: r.selected_tool });
    const inputSha = this.inputSha(r, false);
    const note = r.note !== undefined ? prepareText(r.note, this.textPolicy(), {}) : null;
    const includeShadow = r.include_shadow ?? false;
    const target = r.target ?? 'tool';
    const rulesLimit = r.rules_limit ?? 50;
    const runId = r.run_id ?? null;
    const decisionId = r.decision_id?.toLowerCase() ?? null;
    return this.memory.transaction(async (trx) => {
      const scopeHead = await this.memory.lockHead(trx, ns);
      const { rules, head } = await this.policy.liveRules(trx, ns, rulesLimit);
      const response = this.run('tools/feedback', ns, { rules, context, includeShadow });
      const plan = planAttribution(response, { tenant_id: p.tenantId, scope: ns.scope, includeShadow, target, decision_id: decisionId, run_id: runId });
      if (plan.kind === 'nothing_attributable') {
        await this.memory.unlockUnused(trx, ns, scopeHead);
        return plan.response;
      }

      const f = decisionFields(context, response);
      const found: { byId?: DecisionSnapshot | null; byRun?: DecisionSnapshot | null; recent?: DecisionSnapshot | null } = {};
      for (const lookup of plan.lookups) {
        const m = { selected_tool: norm.selected_tool, candidates: norm.candidates, context_sha256: f.context_sha256 };
        const d =
          lookup === 'byId'
            ? await this.policy.decision(trx, ns, decisionId!)
            : lookup === 'byRun'
              ? await this.policy.decisionByRun(trx, ns, { ...m, run_id: runId! })
              : await this.policy.recentDecision(trx, ns, { ...m, run_id: runId, now: facts.now.toISOString() });
        found[lookup] = d ? snapshotOf(d) : null;
        if (d) break;
      }
      const link = linkDecision({ decision_id: decisionId, run_id: runId, selected_tool: norm.selected_tool, candidates: norm.candidates, tenant_id: p.tenantId, scope: ns.scope }, found);
      if (!link.ok) throw new AppError(link.error.code, link.error.message, { ...link.error.details });

      let linked: { decision_id: string; policy_sha256: string };
      if (link.mode === 'created_from_feedback') {
        const created = newDecisionFromFeedback({ run_id: runId, selected_tool: norm.selected_tool, candidates: norm.candidates, context_sha256: f.context_sha256, policy_sha256: f.policy_sha256, rule_node_ids: plan.rule_node_ids });
        const id = randomUUID();
        const createdAt = facts.now.toISOString();
        const row = {
          decision_id: id,
          kind: 'created_from_feedback' as const,
          run_id: created.run_id,
          selected_tool: created.selected_tool,
          candidates: [...created.candidates],
          context: context === undefined ? null : context,
          context_sha256: created.context_sha256,
          policy: response.applied.policy,
          policy_sha256: created.policy_sha256,
          source_rule_ids: [...created.source_rule_ids],
          evaluation: { include_shadow: includeShadow, rules_limit: rulesLimit, target, run_id: runId },
          metadata: { ...created.metadata },
          rules_head_commit_id: head.commit_id,
          rules_head_seq: head.seq,
          commit_id: null,
          key_id: p.keyId,
          created_at: createdAt,
        };
        await this.policy.insertDecision(trx, ns, { ...row, decision_hash: decisionHash({ ...row, tenant_id: ns.tenantId, project_key: ns.projectKey, scope: ns.scope }) });
        linked = { decision_id: id, policy_sha256: created.policy_sha256 };
      } else {
        linked = { decision_id: link.decision.decision_id, policy_sha256: link.decision.policy_sha256 };
      }
      const diff = toolFeedbackDiff({
        decision_id: linked.decision_id,
        decision_link_mode: link.mode,
        run_id: runId,
        outcome: r.outcome,
        selected_tool: norm.selected_tool,
        candidates: norm.candidates,
        rule_node_ids: plan.rule_node_ids,
        target,
      });
      const c = await this.commit(trx, scopeHead, p, ns, 'tool_feedback', diff, inputSha, r.actor ?? 'system', facts);
      const feedbackId = randomUUID();
      await this.policy.insertFeedback(
        trx,
        ns,
        plan.rule_node_ids.map((id) => ({ feedback_id: feedbackId, rule_node_id: id, run_id: runId, outcome: r.outcome, note, source: 'tools_feedback' as const, decision_id: linked.decision_id, decision_link_mode: link.mode })),
        c.commit_id,
        c.created_at,
      );
      await this.policy.addOutcome(trx, ns, plan.rule_node_ids, r.outcome);
      await this.policy.linkDecision(trx, ns, linked.decision_id, c.commit_id, link.adopt_run_id);
      return {
        ok: true,
        tenant_id: p.tenantId,
        scope: ns.scope,
        updated_rules: plan.rule_node_ids.length,
        rule_node_ids: plan.rule_node_ids,
        commit_id: c.commit_id,
        commit_hash: c.commit_hash,
        decision_id: linked.decision_id,
        decision_link_mode: link.mode,
        decision_policy_sha256: linked.policy_sha256,
      };
    });
  }
}
