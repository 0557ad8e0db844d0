import { Inject, Injectable } from '@nestjs/common';
import { type Kysely, sql, type Transaction } from 'kysely';
import { DATABASE, type Database } from '../../platform/db/database';
import type { DB } from '../../platform/db/schema';
import type { Namespace } from './domain/ids';
import type { MemoryLane, RuleScope, RuleState } from './domain/model';

type Executor = Kysely<DB> | Transaction<DB>;

/** A rule definition with what its node contributes (summary, slots, lane and owners), as evaluation reads it. */
export interface RuleRow {
  readonly rule_node_id: string;
  readonly state: RuleState;
  readonly rule_scope: RuleScope;
  readonly target_agent_id: string | null;
  readonly target_team_id: string | null;
  readonly if_json: unknown;
  readonly then_json: unknown;
  readonly exceptions_json: unknown;
  readonly positive_count: number;
  readonly negative_count: number;
  readonly commit_id: string;
  readonly updated_at: string;
  readonly summary: string | null;
  readonly node_slots: Record<string, unknown>;
  readonly memory_lane: MemoryLane;
  readonly owner_agent_id: string | null;
  readonly owner_team_id: string | null;
}

export interface DecisionRow {
  readonly decision_id: string;
  readonly kind: 'tools_select' | 'created_from_feedback';
  readonly run_id: string | null;
  readonly selected_tool: string | null;
  readonly candidates: string[];
  readonly context: unknown;
  readonly context_sha256: string;
  readonly policy: unknown;
  readonly policy_sha256: string;
  readonly source_rule_ids: string[];
  readonly evaluation: Record<string, unknown>;
  readonly metadata: Record<string, unknown>;
  readonly rules_head_commit_id: string | null;
  readonly rules_head_seq: number;
  readonly commit_id: string | null;
  readonly key_id: string;
  readonly decision_hash: string;
  readonly created_at: string;
  readonly created_at_pg: string;
}

export type NewDecision = Omit<DecisionRow, 'created_at_pg'>;

const inNs = (a: string, n: Namespace) => sql`${sql.ref(`${a}.tenant_id`)} = ${n.tenantId} AND ${sql.ref(`${a}.project_key`)} = ${n.projectKey} AND ${sql.ref(`${a}.scope`)} = ${n.scope}`;
const iso = (d: Date | string): string => new Date(d).toISOString();

const RULE_COLUMNS = sql`
  d.rule_node_id::text AS rule_node_id, d.state, d.rule_scope, d.target_agent_id, d.target_team_id, d.if_json, d.then_json, d.exceptions_json,
  d.positive_count, d.negative_count, d.commit_id::text AS commit_id, d.updated_at, n.text_summary AS summary, n.slots AS node_slots,
  n.memory_lane, n.owner_agent_id, n.owner_team_id`;

type RuleSqlRow = Omit<RuleRow, 'positive_count' | 'negative_count' | 'updated_at'> & { positive_count: number | string; negative_count: number | string; updated_at: Date | string };
const toRule = (r: RuleSqlRow): RuleRow => ({ ...r, positive_count: Number(r.positive_count), negative_count: Number(r.negative_count), updated_at: iso(r.updated_at), node_slots: r.node_slots ?? {} });

const DECISION_COLUMNS = sql`
  decision_id::text AS decision_id, kind, run_id, selected_tool, candidates, context, context_sha256, policy, policy_sha256, source_rule_ids, evaluation, metadata,
  rules_head_commit_id::text AS rules_head_commit_id, rules_head_seq, commit_id::text AS commit_id, key_id, decision_hash, created_at,
  ((created_at AT TIME ZONE 'UTC')::text || '+00') AS created_at_pg`;
type DecisionSqlRow = Omit<DecisionRow, 'rules_head_seq' | 'created_at'> & { rules_head_seq: number | string; created_at: Date | string };
const toDecision = (r: DecisionSqlRow): DecisionRow => ({ ...r, rules_head_seq: Number(r.rules_head_seq), created_at: iso(r.created_at) });

/**
 * The policy tables of the memory graph: memory_rule_defs (state and statistics of each rule),
 * memory_decisions (tools/select outcomes) and memory_rule_feedback (one row per credited rule).
 */
@Injectable()
export class PolicyRepository {
  constructor(@Inject(DATABASE) private readonly database: Database) {}

  get db(): Kysely<DB> {
    return this.database.db;
  }

  /**
   * The shadow and active rules of a scope, newest `updated_at` first (ties by id), at most
   * `limit`, with the scope's head at the same snapshot (a decision records what it saw).
   */
  async liveRules(ex: Executor, n: Namespace, limit: number): Promise<{ rules: RuleRow[]; head: { commit_id: string | null; seq: number } }> {
    const r = await sql<RuleSqlRow & { head_commit_id: string | null; head_seq: number | string | null }>`
      WITH head AS (SELECT s.head_commit_id, s.commit_count FROM memory_scopes s WHERE ${inNs('s', n)})
      SELECT ${RULE_COLUMNS}, (SELECT head_commit_id::text FROM head) AS head_commit_id, (SELECT commit_count FROM head) AS head_seq
      FROM memory_rule_defs d
      JOIN memory_nodes n ON n.tenant_id = d.tenant_id AND n.project_key = d.project_key AND n.scope = d.scope AND n.node_id = d.rule_node_id
      WHERE ${inNs('d', n)} AND d.state IN ('shadow', 'active')
      ORDER BY d.updated_at DESC, d.rule_node_id
      LIMIT ${limit}`.execute(ex);
    if (r.rows.length === 0) {
      const h = await sql<{ id: string | null; seq: number | string }>`SELECT s.head_commit_id::text AS id, s.commit_count AS seq FROM memory_scopes s WHERE ${inNs('s', n)}`.execute(ex);
      return { rules: [], head: { commit_id: h.rows[0]?.id ?? null, seq: Number(h.rows[0]?.seq ?? 0) } };
    }
    const first = r.rows[0]!;
    return { rules: r.rows.map(toRule), head: { commit_id: first.head_commit_id, seq: Number(first.head_seq ?? 0) } };
  }

  /** A rule node of the scope and its definition (null when the node has none yet). */
  async ruleNode(ex: Executor, n: Namespace, ruleNodeId: string): Promise<{ node: { slots: Record<string, unknown>; memory_lane: MemoryLane; owner_agent_id: string | null; owner_team_id: string | null }; def: RuleRow | null } | null> {
    const r = await sql<{ slots: Record<string, unknown> | null; memory_lane: MemoryLane; owner_agent_id: string | null; owner_team_id: string | null; has_def: boolean } & Partial<RuleSqlRow>>`
      SELECT n.slots, n.memory_lane, n.owner_agent_id, n.owner_team_id, d.rule_node_id IS NOT NULL AS has_def,
             d.state, d.rule_scope, d.target_agent_id, d.target_team_id, d.if_json, d.then_json, d.exceptions_json, d.positive_count, d.negative_count,
             d.commit_id::text AS commit_id, d.updated_at, n.text_summary AS summary, n.slots AS node_slots, n.node_id::text AS rule_node_id
      FROM memory_nodes n
      LEFT JOIN memory_rule_defs d ON d.tenant_id = n.tenant_id AND d.project_key = n.project_key AND d.scope = n.scope AND d.rule_node_id = n.node_id
      WHERE ${inNs('n', n)} AND n.node_id = ${ruleNodeId}::uuid AND n.type = 'rule'`.execute(ex);
    const row = r.rows[0];
    if (!row) return null;
    const node = { slots: row.slots ?? {}, memory_lane: row.memory_lane, owner_agent_id: row.owner_agent_id, owner_team_id: row.owner_team_id };
    return { node, def: row.has_def ? toRule(row as RuleSqlRow) : null };
  }

  /** Set a definition's state (creating it from its seed when absent), stamped with the state-change commit. */
  async setRuleState(
    trx: Executor,
    n: Namespace,
    r: { rule_node_id: string; state: RuleState; seed: { if_json: unknown; then_json: unknown; exceptions_json: unknown; rule_scope: RuleScope; target_agent_id: string | null; target_team_id: string | null } },
    commitId: string,
    at: string,
  ): Promise<void> {
    const s = r.seed;
    await sql`
      INSERT INTO memory_rule_defs AS d (tenant_id, project_key, scope, rule_node_id, state, if_json, then_json, exceptions_json, rule_scope, target_agent_id, target_team_id, commit_id, updated_at)
      VALUES (${n.tenantId}, ${n.projectKey}, ${n.scope}, ${r.rule_node_id}::uuid, ${r.state}, ${JSON.stringify(s.if_json ?? null)}::jsonb, ${JSON.stringify(s.then_json ?? null)}::jsonb,
              ${JSON.stringify(s.exceptions_json ?? null)}::jsonb, ${s.rule_scope}, ${s.target_agent_id}, ${s.target_team_id}, ${commitId}::uuid, ${at}::timestamptz)
      ON CONFLICT (tenant_id, project_key, scope, rule_node_id) DO UPDATE SET state = EXCLUDED.state, commit_id = EXCLUDED.commit_id, updated_at = EXCLUDED.updated_at`.execute(trx);
  }

  /** Count an outcome on these rules' definitions (those that exist). */
  async addOutcome(trx: Executor, n: Namespace, ruleIds: readonly string[], outcome: 'positive' | 'negative' | 'neutral'): Promise<void> {
    if (ruleIds.length === 0 || outcome === 'neutral') return;
    const col = outcome === 'positive' ? sql`positive_count = positive_count + 1` : sql`negative_count = negative_count + 1`;
    await sql`UPDATE memory_rule_defs d SET ${col} WHERE ${inNs('d', n)} AND d.rule_node_id = ANY(${sql.val([...ruleIds])}::uuid[])`.execute(trx);
  }

  async insertFeedback(
    trx: Executor,
    n: Namespace,
    rows: readonly { feedback_id: string; rule_node_id: string; run_id: string | null; outcome: string; note: string | null; source: 'rule_feedback' | 'tools_feedback'; decision_id: string | null; decision_link_mode: string | null }[],
    commitId: string,
    at: string,
  ): Promise<void> {
    if (rows.length === 0) return;
    await sql`
      INSERT INTO memory_rule_feedback (tenant_id, project_key, scope, feedback_id, rule_node_id, run_id, outcome, note, source, decision_id, decision_link_mode, commit_id, created_at)
      SELECT ${n.tenantId}, ${n.projectKey}, ${n.scope}, x.feedback_id, x.rule_node_id, x.run_id, x.outcome, x.note, x.source, x.decision_id, x.decision_link_mode, ${commitId}::uuid, ${at}::timestamptz
      FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS x(feedback_id uuid, rule_node_id uuid, run_id text, outcome text, note text, source text, decision_id uuid, decision_link_mode text)`.execute(trx);
  }

  async insertDecision(ex: Executor, n: Namespace, d: NewDecision): Promise<string> {
    const r = await sql<{ created_at_pg: string }>`
      INSERT INTO memory_decisions (tenant_id, project_key, scope, decision_id, kind, run_id, selected_tool, candidates, context, context_sha256, policy, policy_sha256,
                                    source_rule_ids, evaluation, metadata, rules_head_commit_id, rules_head_seq, commit_id, key_id, decision_hash, created_at)
      VALUES (${n.tenantId}, ${n.projectKey}, ${n.scope}, ${d.decision_id}::uuid, ${d.kind}, ${d.run_id}, ${d.selected_tool}, ${JSON.stringify(d.candidates)}::jsonb,
              ${JSON.stringify(d.context ?? null)}::jsonb, ${d.context_sha256}, ${JSON.stringify(d.policy ?? null)}::jsonb, ${d.policy_sha256}, ${JSON.stringify(d.source_rule_ids)}::jsonb,
              ${JSON.stringify(d.evaluation)}::jsonb, ${JSON.stringify(d.metadata)}::jsonb, ${d.rules_head_commit_id}::uuid, ${d.rules_head_seq}, ${d.commit_id}::uuid, ${d.key_id},
              ${d.decision_hash}, ${d.created_at}::timestamptz)
      RETURNING ((created_at AT TIME ZONE 'UTC')::text || '+00') AS created_at_pg`.execute(ex);
    return r.rows[0]?.created_at_pg ?? d.created_at;
  }

  async decision(ex: Executor, n: Namespace, decisionId: string): Promise<DecisionRow | null> {
    const r = await sql<DecisionSqlRow>`SELECT ${DECISION_COLUMNS} FROM memory_decisions d WHERE ${inNs('d', n)} AND d.decision_id = ${decisionId}::uuid`.execute(ex);
    return r.rows[0] ? toDecision(r.rows[0]) : null;
  }

  /** The newest tools_select decision of the run with this tool, candidates and context hash (§6.2 inferred, with run_id). */
  async decisionByRun(ex: Executor, n: Namespace, m: { run_id: string; selected_tool: string; candidates: readonly string[]; context_sha256: string }): Promise<DecisionRow | null> {
    const r = await sql<DecisionSqlRow>`
      SELECT ${DECISION_COLUMNS} FROM memory_decisions d
      WHERE ${inNs('d', n)} AND d.kind = 'tools_select' AND d.run_id = ${m.run_id} AND d.selected_tool = ${m.selected_tool}
        AND d.candidates = ${JSON.stringify(m.candidates)}::jsonb AND d.context_sha256 = ${m.context_sha256}
      ORDER BY d.created_at DESC, d.decision_id DESC LIMIT 1`.execute(ex);
    return r.rows[0] ? toDecision(r.rows[0]) : null;
  }

  /** The newest matching tools_select decision of the last 24 hours with no run id on at least one side (§6.2 inferred). */
  async recentDecision(ex: Executor, n: Namespace, m: { run_id: string | null; selected_tool: string; candidates: readonly string[]; context_sha256: string; now: string }): Promise<DecisionRow | null> {
    const r = await sql<DecisionSqlRow>`
      SELECT ${DECISION_COLUMNS} FROM memory_decisions d
      WHERE ${inNs('d', n)} AND d.kind = 'tools_select' AND d.selected_tool = ${m.selected_tool}
        AND d.candidates = ${JSON.stringify(m.candidates)}::jsonb AND d.context_sha256 = ${m.context_sha256}
        AND d.created_at > ${m.now}::timestamptz - interval '24 hours'
        AND (${m.run_id}::text IS NULL OR d.run_id IS NULL)
      ORDER BY d.created_at DESC, d.decision_id DESC LIMIT 1`.execute(ex);
    return r.rows[0] ? toDecision(r.rows[0]) : null;
  }

  /** Link a decision to the feedback commit that credited it (and adopt the feedback's run id when it had none). */
  async linkDecision(trx: Executor, n: Namespace, decisionId: string, commitId: string, runId: string | null): Promise<void> {
    await sql`
      UPDATE memory_decisions d SET commit_id = ${commitId}::uuid, run_id = coalesce(d.run_id, ${runId})
      WHERE ${inNs('d', n)} AND d.decision_id = ${decisionId}::uuid`.execute(trx);
  }

  /** A decision found by id alone within a tenant (auditors: the id is what a client or a log line names). */
  async decisionAnywhere(tenantId: string, decisionId: string): Promise<(DecisionRow & { project_key: string; scope: string }) | null> {
    const r = await sql<DecisionSqlRow & { project_key: string; scope: string }>`
      SELECT ${DECISION_COLUMNS}, project_key, scope FROM memory_decisions d WHERE d.tenant_id = ${tenantId} AND d.decision_id = ${decisionId}::uuid`.execute(this.db);
    return r.rows[0] ? { ...toDecision(r.rows[0]), project_key: r.rows[0].project_key, scope: r.rows[0].scope } : null;
  }

  /** Every rule node of a scope, with what evaluation reads of it (a decision's re-evaluation folds their definitions from the chain). */
  async ruleNodes(n: Namespace): Promise<{ id: string; summary: string | null; slots: Record<string, unknown>; memory_lane: MemoryLane; owner_agent_id: string | null; owner_team_id: string | null }[]> {
    const r = await sql<{ id: string; summary: string | null; slots: Record<string, unknown> | null; memory_lane: MemoryLane; owner_agent_id: string | null; owner_team_id: string | null }>`
      SELECT n.node_id::text AS id, n.text_summary AS summary, n.slots, n.memory_lane, n.owner_agent_id, n.owner_team_id
      FROM memory_nodes n WHERE ${inNs('n', n)} AND n.type = 'rule'`.execute(this.db);
    return r.rows.map((x) => ({ ...x, slots: x.slots ?? {} }));
  }

  /**
   * Policy facts of each tenant for the weekly report, bounded by the week: decisions and feedback
   * made in [start, end), rule nodes written before end (and the private ones without owner).
   */
  async weeklyFacts(ex: Executor, start: string, end: string): Promise<WeeklyPolicyFacts[]> {
    const r = await sql<{ tenant_id: string; kind: string; n: number | string }>`
      SELECT tenant_id, 'decision:' || kind AS kind, count(*) AS n FROM memory_decisions
        WHERE created_at >= ${start}::timestamptz AND created_at < ${end}::timestamptz GROUP BY tenant_id, kind
      UNION ALL
      SELECT tenant_id, 'link:' || coalesce(decision_link_mode, 'none'), count(DISTINCT feedback_id) FROM memory_rule_feedback
        WHERE source = 'tools_feedback' AND created_at >= ${start}::timestamptz AND created_at < ${end}::timestamptz GROUP BY tenant_id, decision_link_mode
      UNION ALL
      SELECT tenant_id, 'outcome:' || outcome, count(DISTINCT feedback_id) FROM memory_rule_feedback
        WHERE created_at >= ${start}::timestamptz AND created_at < ${end}::timestamptz GROUP BY tenant_id, outcome
      UNION ALL
      SELECT tenant_id, 'rules', count(*) FROM memory_nodes WHERE type = 'rule' AND created_at < ${end}::timestamptz GROUP BY tenant_id
      UNION ALL
      SELECT tenant_id, 'private_unowned', count(*) FROM memory_nodes
        WHERE type = 'rule' AND memory_lane = 'private' AND owner_agent_id IS NULL AND owner_team_id IS NULL AND created_at < ${end}::timestamptz GROUP BY tenant_id`.execute(ex);
    const by = new Map<string, Record<string, number>>();
    for (const row of r.rows) {
      const t = by.get(row.tenant_id) ?? {};
      t[row.kind] = (t[row.kind] ?? 0) + Number(row.n);
      by.set(row.tenant_id, t);
    }
    return [...by.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([tenant_id, t]) => ({
        tenant_id,
        decisions: { tools_select: t['decision:tools_select'] ?? 0, created_from_feedback: t['decision:created_from_feedback'] ?? 0 },
        tool_feedback_links: { provided: t['link:provided'] ?? 0, inferred: t['link:inferred'] ?? 0, created_from_feedback: t['link:created_from_feedback'] ?? 0 },
        feedback_outcomes: { positive: t['outcome:positive'] ?? 0, negative: t['outcome:negative'] ?? 0, neutral: t['outcome:neutral'] ?? 0 },
        rule_nodes: t.rules ?? 0,
        private_rules_without_owner: t.private_unowned ?? 0,
      }));
  }
}

/** One tenant's policy facts of a week (weeklyFacts). */
export interface WeeklyPolicyFacts {
  readonly tenant_id: string;
  readonly decisions: { readonly tools_select: number; readonly created_from_feedback: number };
  readonly tool_feedback_links: { readonly provided: number; readonly inferred: number; readonly created_from_feedback: number };
  readonly feedback_outcomes: { readonly positive: number; readonly negative: number; readonly neutral: number };
  readonly rule_nodes: number;
  readonly private_rules_without_owner: number;
}
