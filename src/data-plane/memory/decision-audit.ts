import type { Database } from '../../platform/db/database';
import type { StoredCommit } from './domain/commit';
import { type DecisionVerification, verifyDecision } from './domain/decision-verify';
import { scopeKey } from './domain/ids';
import { MemoryRepository } from './memory.repository';
import { PolicyRepository } from './policy.repository';

export interface DecisionAuditReport extends DecisionVerification {
  readonly decision: {
    readonly decision_id: string;
    readonly tenant_id: string;
    readonly project_id: string | null;
    readonly scope: string;
    readonly kind: string;
    readonly run_id: string | null;
    readonly selected_tool: string | null;
    readonly policy_sha256: string;
    readonly source_rule_ids: readonly string[];
    readonly rules_head_commit_id: string | null;
    readonly rules_head_seq: number;
    readonly feedback_commit_id: string | null;
    readonly created_at: string;
  };
}

/**
 * Verify one recorded decision of a tenant (audit:decision, GET .../decisions/:id/verify): load
 * it, the scope's chain up to its head and the scope's rule nodes, and let the pure verifier
 * recompute. Read-only. Null when the tenant has no such decision.
 */
export async function auditDecision(database: Database, tenantId: string, decisionId: string): Promise<DecisionAuditReport | null> {
  const policy = new PolicyRepository(database);
  const memory = new MemoryRepository(database);
  const d = await policy.decisionAnywhere(tenantId, decisionId.toLowerCase());
  if (!d) return null;
  const ns = { tenantId, projectKey: d.project_key, scope: d.scope };
  const commits: StoredCommit[] = [];
  for (let after = 0; after < d.rules_head_seq; ) {
    const page = await memory.commits(ns, after, 1000);
    commits.push(...page.filter((c) => c.seq <= d.rules_head_seq));
    const last = page.at(-1);
    if (!last || page.length < 1000) break;
    after = last.seq;
  }
  const nodes = await policy.ruleNodes(ns);
  const v = verifyDecision({ ...d, tenant_id: tenantId, project_key: d.project_key, scope: d.scope, candidates: d.candidates }, commits, nodes, scopeKey(ns));
  return {
    ...v,
    decision: {
      decision_id: d.decision_id,
      tenant_id: tenantId,
      project_id: d.project_key === '' ? null : d.project_key,
      scope: d.scope,
      kind: d.kind,
      run_id: d.run_id,
      selected_tool: d.selected_tool,
      policy_sha256: d.policy_sha256,
      source_rule_ids: d.source_rule_ids,
      rules_head_commit_id: d.rules_head_commit_id,
      rules_head_seq: d.rules_head_seq,
      feedback_commit_id: d.commit_id,
      created_at: d.created_at,
    },
  };
}
