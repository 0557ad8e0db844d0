import { sql, type RawBuilder } from 'kysely';
import { recomputeCommit, type StoredCommit } from '../../data-plane/memory/domain/commit';
import { scopeKey } from '../../data-plane/memory/domain/ids';
import { type ChainCommit, rulesAsOf } from '../../data-plane/memory/domain/rule-history';
import type { Database } from '../../platform/db/database';
import type { CheckResult } from './check-result';

export type { CheckResult } from './check-result';

export interface ScopeCheckOptions {
  /** Only this tenant's scopes. */
  readonly tenantId?: string | undefined;
  /** Only scopes with this name (in every project of the selected tenants). */
  readonly scope?: string | undefined;
  /** The configured OUTBOX_MAX_ATTEMPTS: a job is over the limit at min(its own max_attempts, this). Default 8. */
  readonly maxAttempts?: number | undefined;
  /** The configured OUTBOX_CLAIM_TIMEOUT_MS: a claim older than this is stale. Default 300000. */
  readonly claimTimeoutMs?: number | undefined;
  readonly sampleSize?: number | undefined;
}

interface Ctx {
  readonly filter: (alias: string) => RawBuilder<unknown>;
  /** The tenant filter alone (for tables without a scope). */
  readonly tenantFilter: (alias: string) => RawBuilder<unknown>;
  readonly maxAttempts: number;
  readonly claimTimeoutMs: number;
  readonly vectorColumn: boolean;
}

interface SqlCheck {
  readonly name: string;
  readonly severity: 'error' | 'warning';
  readonly detail: string;
  readonly violations: (ctx: Ctx) => RawBuilder<Record<string, unknown>>;
}

interface JsCheck {
  readonly name: string;
  readonly severity: 'error' | 'warning';
  readonly detail: string;
  /** Counts the violations and keeps the first `sampleSize` of them. */
  readonly run: (database: Database, ctx: Ctx, sampleSize: number) => Promise<{ count: number; sample: unknown[] }>;
}

type CheckDef = SqlCheck | JsCheck;

/** A jsonb array member of a diff or payload, or [] when it is not an array (a corrupt row must not abort the check). */
const arrayOf = (value: RawBuilder<unknown>) => sql`(CASE WHEN jsonb_typeof(${value}) = 'array' THEN ${value} ELSE '[]'::jsonb END)`;
const sameNsOf = (a: string, n: { tenantId: string; projectKey: string; scope: string }) =>
  sql`${sql.ref(`${a}.tenant_id`)} = ${n.tenantId} AND ${sql.ref(`${a}.project_key`)} = ${n.projectKey} AND ${sql.ref(`${a}.scope`)} = ${n.scope}`;
const sameNs = (a: string, b: string) => sql.raw(`${a}.tenant_id = ${b}.tenant_id AND ${a}.project_key = ${b}.project_key AND ${a}.scope = ${b}.scope`);

/**
 * The scope-level invariants of the memory data plane. Each SQL check is one statement (one
 * snapshot); commit_hash_valid recomputes hashes in the process with the product's own commitHash().
 * The cross-tenant set (cross-tenant.ts) proves rows point at existing commits of their own
 * namespace; these prove the content of each scope's chain and the state derived from it. Read-only.
 */
const CHECKS: readonly CheckDef[] = [
  {
    name: 'commit_chain_continuous',
    severity: 'error',
    detail: "each scope's commits form one linear chain: seq 1..n without gaps, each link (chain_prev_hash) the previous commit's chain hash, exactly one root",
    violations: (ctx) => sql`
      SELECT tenant_id, project_key, scope, commit_id::text AS commit_id, seq,
             CASE WHEN seq <> rn THEN 'seq_gap' WHEN chain_prev_hash IS NULL AND rn > 1 THEN 'extra_root' ELSE 'chain_link_mismatch' END AS problem
      FROM (SELECT c.tenant_id, c.project_key, c.scope, c.commit_id, c.seq, c.chain_prev_hash,
                   row_number() OVER w AS rn, lag(c.chain_hash) OVER w AS prev_hash
            FROM memory_commits c WHERE ${ctx.filter('c')}
            WINDOW w AS (PARTITION BY c.tenant_id, c.project_key, c.scope ORDER BY c.seq)) AS x
      WHERE seq <> rn OR chain_prev_hash IS DISTINCT FROM prev_hash`,
  },
  {
    name: 'scope_head_matches_chain',
    severity: 'error',
    detail: "each scope's head (memory_scopes: head commit, head chain hash, commit count) is the last commit of its chain; no chain without a scope row",
    violations: (ctx) => sql`
      SELECT coalesce(s.tenant_id, l.tenant_id) AS tenant_id, coalesce(s.project_key, l.project_key) AS project_key, coalesce(s.scope, l.scope) AS scope,
             s.head_commit_id::text AS head_commit_id, l.commit_id::text AS last_commit_id, s.commit_count, coalesce(l.n, 0) AS commits,
             CASE WHEN s.tenant_id IS NULL THEN 'no_scope_row' WHEN s.head_commit_id IS DISTINCT FROM l.commit_id THEN 'head_commit_mismatch'
                  WHEN s.head_hash IS DISTINCT FROM l.chain_hash THEN 'head_hash_mismatch' ELSE 'commit_count_mismatch' END AS problem
      FROM (SELECT * FROM memory_scopes s WHERE ${ctx.filter('s')}) AS s
      FULL JOIN (SELECT DISTINCT ON (c.tenant_id, c.project_key, c.scope) c.tenant_id, c.project_key, c.scope, c.commit_id, c.chain_hash,
                        count(*) OVER (PARTITION BY c.tenant_id, c.project_key, c.scope) AS n
                 FROM memory_commits c WHERE ${ctx.filter('c')}
                 ORDER BY c.tenant_id, c.project_key, c.scope, c.seq DESC) AS l
        ON ${sameNs('s', 'l')}
      WHERE s.tenant_id IS NULL OR s.head_commit_id IS DISTINCT FROM l.commit_id OR s.head_hash IS DISTINCT FROM l.chain_hash
         OR s.commit_count IS DISTINCT FROM coalesce(l.n, 0)`,
  },
  {
    name: 'commit_hash_valid',
    severity: 'error',
    detail: "every commit's diff_sha256, commit_hash (the contract's, from its parent's stored hash) and chain_hash equal the hashes recomputed with the product's own functions (domain/commit.ts recomputeCommit)",
    run: verifyCommitHashes,
  },
  {
    name: 'node_written_by_commit',
    severity: 'error',
    detail: "every node's commit is a commit of its tenant and project (a write may place nodes in other scopes) whose diff names the node",
    violations: (ctx) => sql`
      SELECT n.tenant_id, n.project_key, n.scope, n.node_id::text AS node_id, n.commit_id::text AS commit_id,
             CASE WHEN c.commit_id IS NULL THEN 'commit_not_in_tenant_project' ELSE 'not_in_commit_diff' END AS problem
      FROM memory_nodes n
      LEFT JOIN memory_commits c ON c.commit_id = n.commit_id AND c.tenant_id = n.tenant_id AND c.project_key = n.project_key
      WHERE ${ctx.filter('n')} AND (c.commit_id IS NULL OR NOT EXISTS (
        SELECT 1 FROM (
          SELECT d->>'id' AS id FROM jsonb_array_elements(${arrayOf(sql`c.diff->'nodes'`)}) AS d
          UNION ALL SELECT d->>'node_id' FROM jsonb_array_elements(${arrayOf(sql`c.diff->'nodes'`)}) AS d
          UNION ALL SELECT d->>'node_id' FROM jsonb_array_elements(${arrayOf(sql`c.diff->'archive_rehydrate'`)}) AS d
          UNION ALL SELECT d->>'node_id' FROM jsonb_array_elements(${arrayOf(sql`c.diff->'nodes_activate'`)}) AS d) AS named
        WHERE lower(named.id) = n.node_id::text))`,
  },
  {
    name: 'edge_written_by_commit',
    severity: 'error',
    detail: "every edge's commit (the last write that upserted it) is a commit of its tenant and project whose diff names an edge of the same type, source and target",
    violations: (ctx) => sql`
      SELECT e.tenant_id, e.project_key, e.scope, e.edge_id::text AS edge_id, e.commit_id::text AS commit_id,
             CASE WHEN c.commit_id IS NULL THEN 'commit_not_in_tenant_project' ELSE 'not_in_commit_diff' END AS problem
      FROM memory_edges e
      LEFT JOIN memory_commits c ON c.commit_id = e.commit_id AND c.tenant_id = e.tenant_id AND c.project_key = e.project_key
      WHERE ${ctx.filter('e')} AND (c.commit_id IS NULL OR NOT EXISTS (
        SELECT 1 FROM jsonb_array_elements(${arrayOf(sql`c.diff->'edges'`)}) AS d
        WHERE d->>'type' = e.type AND lower(d->>'src_id') = e.src_id::text AND lower(d->>'dst_id') = e.dst_id::text))`,
  },
  {
    name: 'commit_diff_rows_exist',
    severity: 'error',
    detail: "every node and edge a commit's diff records exists in the commit's tenant and project (memory rows are never deleted, except by a perf-tenant teardown)",
    violations: (ctx) => sql`
      SELECT c.tenant_id, c.project_key, c.scope, c.commit_id::text AS commit_id, c.seq, 'node' AS kind, coalesce(d->>'id', d->>'node_id') AS id
      FROM memory_commits c CROSS JOIN LATERAL jsonb_array_elements(${arrayOf(sql`c.diff->'nodes'`)}) AS d
      WHERE ${ctx.filter('c')} AND NOT EXISTS (
        SELECT 1 FROM memory_nodes n WHERE n.tenant_id = c.tenant_id AND n.project_key = c.project_key AND n.node_id::text = lower(coalesce(d->>'id', d->>'node_id')))
      UNION ALL
      SELECT c.tenant_id, c.project_key, c.scope, c.commit_id::text, c.seq, 'edge', coalesce(d->>'id', d->>'edge_id')
      FROM memory_commits c CROSS JOIN LATERAL jsonb_array_elements(${arrayOf(sql`c.diff->'edges'`)}) AS d
      WHERE ${ctx.filter('c')} AND NOT EXISTS (
        SELECT 1 FROM memory_edges e WHERE e.tenant_id = c.tenant_id AND e.project_key = c.project_key
          AND e.type = d->>'type' AND e.src_id::text = lower(d->>'src_id') AND e.dst_id::text = lower(d->>'dst_id'))`,
  },
  {
    name: 'rule_definitions_match_nodes',
    severity: 'error',
    detail: 'every rule definition belongs to a rule node of its scope and names a commit of its tenant and project; every rule node written by a contract commit has its definition',
    violations: (ctx) => sql`
      SELECT d.tenant_id, d.project_key, d.scope, d.rule_node_id::text AS node_id,
             CASE WHEN n.type IS DISTINCT FROM 'rule' THEN 'definition_of_non_rule_node' ELSE 'commit_not_in_tenant_project' END AS problem
      FROM memory_rule_defs d
      LEFT JOIN memory_nodes n ON ${sameNs('n', 'd')} AND n.node_id = d.rule_node_id
      LEFT JOIN memory_commits c ON c.commit_id = d.commit_id AND c.tenant_id = d.tenant_id AND c.project_key = d.project_key
      WHERE ${ctx.filter('d')} AND (n.type IS DISTINCT FROM 'rule' OR c.commit_id IS NULL)
      UNION ALL
      SELECT n.tenant_id, n.project_key, n.scope, n.node_id::text, 'rule_node_without_definition'
      FROM memory_nodes n JOIN memory_commits c ON c.commit_id = n.commit_id AND c.tenant_id = n.tenant_id AND c.project_key = n.project_key
      WHERE ${ctx.filter('n')} AND n.type = 'rule' AND c.format = 2
        AND NOT EXISTS (SELECT 1 FROM memory_rule_defs d WHERE ${sameNs('d', 'n')} AND d.rule_node_id = n.node_id)`,
  },
  {
    name: 'private_rules_have_owners',
    severity: 'error',
    detail: 'every private rule node has an owner agent or owner team (refused at write: a private rule without owner would bind no one)',
    violations: (ctx) => sql`
      SELECT n.tenant_id, n.project_key, n.scope, n.node_id::text AS node_id FROM memory_nodes n
      WHERE ${ctx.filter('n')} AND n.type = 'rule' AND n.memory_lane = 'private' AND n.owner_agent_id IS NULL AND n.owner_team_id IS NULL`,
  },
  {
    name: 'session_nodes_well_formed',
    severity: 'error',
    detail: "session topics (client id session:<id>) carry system_kind 'session'; session events (session_event:<session>:<event>) carry system_kind 'session_event' and a part_of edge to their session's node",
    violations: (ctx) => sql`
      SELECT n.tenant_id, n.project_key, n.scope, n.node_id::text AS node_id, n.client_id, 'session_slots' AS problem
      FROM memory_nodes n
      WHERE ${ctx.filter('n')} AND n.client_id LIKE 'session:%' AND n.type = 'topic' AND n.slots->>'system_kind' IS DISTINCT FROM 'session'
      UNION ALL
      SELECT n.tenant_id, n.project_key, n.scope, n.node_id::text, n.client_id,
             CASE WHEN n.slots->>'system_kind' IS DISTINCT FROM 'session_event' THEN 'event_slots' ELSE 'no_part_of_edge_to_session' END
      FROM memory_nodes n
      WHERE ${ctx.filter('n')} AND n.client_id LIKE 'session\_event:%' AND n.type = 'event' AND (n.slots->>'system_kind' IS DISTINCT FROM 'session_event' OR NOT EXISTS (
        SELECT 1 FROM memory_edges e JOIN memory_nodes s ON ${sameNs('s', 'e')} AND s.node_id = e.dst_id
        WHERE ${sameNs('e', 'n')} AND e.src_id = n.node_id AND e.type = 'part_of'
          AND s.client_id = 'session:' || split_part(substr(n.client_id, length('session_event:') + 1), ':', 1)))`,
  },
  {
    name: 'pack_imports_have_commits',
    severity: 'error',
    detail: 'every recorded pack import names a write commit of its own scope',
    violations: (ctx) => sql`
      SELECT i.tenant_id, i.project_key, i.scope, i.pack_sha256, i.commit_id::text AS commit_id FROM memory_pack_imports i
      WHERE ${ctx.filter('i')} AND NOT EXISTS (SELECT 1 FROM memory_commits c WHERE ${sameNs('c', 'i')} AND c.commit_id = i.commit_id AND c.kind = 'write')`,
  },
  {
    name: 'stored_node_counter_matches',
    severity: 'error',
    detail: "each tenant's stored-node counter (memory_tenant_counters, kept in each write's transaction and read by the stored-node limit) equals its number of nodes",
    violations: (ctx) => sql`
      SELECT coalesce(k.tenant_id, n.tenant_id) AS tenant_id, k.nodes AS counter, coalesce(n.nodes, 0) AS nodes
      FROM (SELECT * FROM memory_tenant_counters k WHERE ${ctx.tenantFilter('k')}) AS k
      FULL JOIN (SELECT n.tenant_id, count(*) AS nodes FROM memory_nodes n WHERE ${ctx.tenantFilter('n')} GROUP BY n.tenant_id) AS n ON n.tenant_id = k.tenant_id
      WHERE coalesce(k.nodes, 0) <> coalesce(n.nodes, 0)`,
  },
  {
    name: 'feedback_links_decision',
    severity: 'error',
    detail: 'every tools/feedback row names a decision of its own scope (feedback is always linked: provided, inferred or created from the feedback)',
    violations: (ctx) => sql`
      SELECT f.tenant_id, f.project_key, f.scope, f.feedback_id::text AS feedback_id, f.rule_node_id::text AS rule_node_id, f.decision_id::text AS decision_id
      FROM memory_rule_feedback f
      WHERE ${ctx.filter('f')} AND f.source = 'tools_feedback'
        AND (f.decision_id IS NULL OR NOT EXISTS (SELECT 1 FROM memory_decisions d WHERE ${sameNs('d', 'f')} AND d.decision_id = f.decision_id))`,
  },
  {
    name: 'feedback_run_id_agrees_with_decision',
    severity: 'error',
    detail: "a tools/feedback row's run id is its decision's when both have one (a decision adopts a feedback's run id only when it had none)",
    violations: (ctx) => sql`
      SELECT f.tenant_id, f.project_key, f.scope, f.feedback_id::text AS feedback_id, f.run_id, d.decision_id::text AS decision_id, d.run_id AS decision_run_id
      FROM memory_rule_feedback f JOIN memory_decisions d ON ${sameNs('d', 'f')} AND d.decision_id = f.decision_id
      WHERE ${ctx.filter('f')} AND f.run_id IS NOT NULL AND d.run_id IS NOT NULL AND f.run_id <> d.run_id`,
  },
  {
    name: 'decision_source_rules_exist',
    severity: 'error',
    detail: "every source rule id of a decision is a rule node of the decision's scope, and every decision's head commit is a commit of its scope",
    violations: (ctx) => sql`
      SELECT d.tenant_id, d.project_key, d.scope, d.decision_id::text AS decision_id, r.id AS rule_node_id, 'source_rule_missing' AS problem
      FROM memory_decisions d CROSS JOIN LATERAL jsonb_array_elements_text(${arrayOf(sql`d.source_rule_ids`)}) AS r(id)
      WHERE ${ctx.filter('d')} AND NOT EXISTS (SELECT 1 FROM memory_nodes n WHERE ${sameNs('n', 'd')} AND n.node_id::text = lower(r.id) AND n.type = 'rule')
      UNION ALL
      SELECT d.tenant_id, d.project_key, d.scope, d.decision_id::text, d.rules_head_commit_id::text, 'head_commit_missing'
      FROM memory_decisions d
      WHERE ${ctx.filter('d')} AND d.rules_head_commit_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM memory_commits c WHERE ${sameNs('c', 'd')} AND c.commit_id = d.rules_head_commit_id AND c.seq = d.rules_head_seq)`,
  },
  {
    name: 'rule_definitions_match_history',
    severity: 'error',
    detail: "every rule definition's state, statistics and commit are what the scope's commit chain says (write commits create, rule_state_change commits move, feedback commits count: src/data-plane/memory/domain/rule-history.ts)",
    run: verifyRuleHistory,
  },
  {
    name: 'embedding_status_matches_vector',
    severity: 'error',
    detail: "a node is 'ready' exactly when it has a vector, and a ready vector names its model (and, with pgvector, embedding_vec mirrors embedding)",
    violations: (ctx) => {
      const vec = ctx.vectorColumn ? sql`(embedding IS NULL) <> (embedding_vec IS NULL)` : sql`false`;
      return sql`
        SELECT tenant_id, project_key, scope, node_id::text AS node_id, embedding_status, embedding IS NOT NULL AS has_vector, embedding_model,
               CASE WHEN embedding_status = 'ready' AND embedding IS NULL THEN 'ready_without_vector'
                    WHEN embedding_status <> 'ready' AND embedding IS NOT NULL THEN 'vector_without_ready'
                    WHEN embedding_status = 'ready' AND embedding_model IS NULL THEN 'ready_without_model'
                    ELSE 'vector_column_out_of_sync' END AS problem
        FROM memory_nodes n
        WHERE ${ctx.filter('n')} AND ((embedding_status = 'ready') <> (embedding IS NOT NULL) OR (embedding_status = 'ready' AND embedding_model IS NULL) OR ${vec})`;
    },
  },
  {
    name: 'embedding_dimensions_valid',
    severity: 'error',
    detail: "every stored vector is one-dimensional with exactly the deployment's dimension of finite components (memory_settings.embedding_dimension, which the service checks against EMBEDDING_DIM at boot)",
    violations: (ctx) => sql`
      SELECT tenant_id, project_key, scope, node_id::text AS node_id, embedding_model, array_ndims(embedding) AS ndims, cardinality(embedding) AS dimensions
      FROM memory_nodes n
      WHERE ${ctx.filter('n')} AND embedding IS NOT NULL AND (array_ndims(embedding) IS DISTINCT FROM 1
        OR cardinality(embedding) IS DISTINCT FROM (SELECT (value #>> '{}')::int FROM memory_settings WHERE name = 'embedding_dimension')
        OR EXISTS (SELECT 1 FROM unnest(embedding) AS v(x) WHERE x IS NULL OR x = 'NaN'::real OR x IN ('Infinity'::real, '-Infinity'::real)))`,
  },
  {
    name: 'pending_embeddings_queued',
    severity: 'error',
    detail: "every node whose embedding is 'pending' is listed by an open (pending or processing) embed_nodes job of its tenant and project for its scope, so it will be embedded",
    violations: (ctx) => sql`
      SELECT n.tenant_id, n.project_key, n.scope, n.node_id::text AS node_id, n.commit_id::text AS commit_id
      FROM memory_nodes n
      WHERE ${ctx.filter('n')} AND n.embedding_status = 'pending' AND NOT EXISTS (
        SELECT 1 FROM memory_outbox o
        CROSS JOIN LATERAL (
          SELECT x->>'id' AS id, x->>'scope' AS scope FROM jsonb_array_elements(${arrayOf(sql`o.payload->'nodes'`)}) AS x
          UNION ALL SELECT x, o.scope FROM jsonb_array_elements_text(${arrayOf(sql`o.payload->'node_ids'`)}) AS x) AS listed
        WHERE o.tenant_id = n.tenant_id AND o.project_key = n.project_key AND o.type = 'embed_nodes' AND o.status IN ('pending', 'processing')
          AND lower(listed.id) = n.node_id::text AND listed.scope = n.scope)`,
  },
  {
    name: 'outbox_attempts_within_max',
    severity: 'error',
    detail: 'no outbox job is still open after using up its attempts: a pending job has attempts < max, a processing one attempts <= max (max = the smaller of the job max_attempts and --max-attempts); past that it must be dead-lettered',
    violations: (ctx) => sql`
      SELECT job_id::text AS job_id, tenant_id, project_key, scope, type, status, attempts, max_attempts, least(max_attempts, ${ctx.maxAttempts}::int) AS limit_applied
      FROM memory_outbox o
      WHERE ${ctx.filter('o')} AND ((status = 'pending' AND attempts >= least(max_attempts, ${ctx.maxAttempts}::int))
                                 OR (status = 'processing' AND attempts > least(max_attempts, ${ctx.maxAttempts}::int)))`,
  },
  {
    name: 'outbox_claims_within_timeout',
    severity: 'warning',
    detail: 'no outbox job has been claimed (processing) for longer than the claim timeout (--claim-timeout-ms, OUTBOX_CLAIM_TIMEOUT_MS): a worker died holding it or it is hanging',
    violations: (ctx) => sql`
      SELECT job_id::text AS job_id, tenant_id, project_key, scope, type, attempts, claimed_by,
             (extract(epoch FROM clock_timestamp() - claimed_at) * 1000)::bigint AS claimed_ms
      FROM memory_outbox o
      WHERE ${ctx.filter('o')} AND status = 'processing'
        AND (claimed_at IS NULL OR claimed_at < clock_timestamp() - make_interval(secs => ${ctx.claimTimeoutMs / 1000}))`,
  },
];

export const SCOPE_CHECKS: readonly string[] = CHECKS.map((c) => c.name);

type CommitRow = Omit<StoredCommit, 'created_at' | 'seq' | 'format'> & {
  tenant_id: string;
  project_key: string;
  scope: string;
  seq: number | string;
  format: number | string;
  created_at: Date | string;
  parent_row_hash: string | null;
};

/**
 * Recompute every commit's hashes with the product's own recomputeCommit(). The parent hash
 * hashed in is the parent commit's own stored commit_hash (so a tampered parent_hash column shows
 * as a hash failure of its commit); a commit whose parent is not in its scope falls back to its
 * stored parent_hash. Pages through the commits by key.
 */
async function verifyCommitHashes(database: Database, ctx: Ctx, sampleSize: number): Promise<{ count: number; sample: unknown[] }> {
  const violations: Record<string, unknown>[] = [];
  let count = 0;
  let after: { tenant_id: string; project_key: string; scope: string; seq: number } | null = null;
  for (;;) {
    const page: { rows: CommitRow[] } = await sql<CommitRow>`
      SELECT c.tenant_id, c.project_key, c.scope, c.commit_id::text AS commit_id, c.seq, c.format, c.kind, c.parent_id::text AS parent_id, c.parent_hash,
             p.commit_hash AS parent_row_hash, c.commit_hash, c.input_sha256, c.diff, c.diff_sha256, c.actor, c.model_version, c.prompt_version,
             c.key_id, c.chain_prev_hash, c.chain_hash, c.created_at
      FROM memory_commits c
      LEFT JOIN memory_commits p ON p.commit_id = c.parent_id AND ${sameNs('p', 'c')}
      WHERE ${ctx.filter('c')} ${after ? sql`AND (c.tenant_id, c.project_key, c.scope, c.seq) > (${after.tenant_id}, ${after.project_key}, ${after.scope}, ${after.seq}::bigint)` : sql``}
      ORDER BY c.tenant_id, c.project_key, c.scope, c.seq LIMIT 500`.execute(database.db);
    for (const c of page.rows) {
      const ns = { tenantId: c.tenant_id, projectKey: c.project_key, scope: c.scope };
      const stored: StoredCommit = {
        ...c,
        seq: Number(c.seq),
        format: Number(c.format),
        diff: typeof c.diff === 'string' ? (JSON.parse(c.diff) as unknown) : c.diff,
        created_at: new Date(c.created_at).toISOString(),
      };
      let problems: string[];
      try {
        problems = recomputeCommit({ ...ns, scopeKey: scopeKey(ns) }, stored, c.parent_row_hash);
      } catch (err) {
        problems = [`unhashable: ${err instanceof Error ? err.message : String(err)}`];
      }
      if (problems.length > 0) {
        count++;
        if (violations.length < sampleSize) violations.push({ tenant_id: c.tenant_id, project_key: c.project_key, scope: c.scope, commit_id: c.commit_id, seq: stored.seq, problem: problems.join(',') });
      }
    }
    const last = page.rows.at(-1);
    if (!last || page.rows.length < 500) break;
    after = { tenant_id: last.tenant_id, project_key: last.project_key, scope: last.scope, seq: Number(last.seq) };
  }
  return { count, sample: violations };
}

/**
 * Fold each scope's chain into its rule definitions (the product's own rulesAsOf) and compare with
 * memory_rule_defs: a definition edited in place (state, counts, commit) or missing is named.
 * Scopes are read one at a time (commits paged), so memory stays bounded by the largest scope.
 */
async function verifyRuleHistory(database: Database, ctx: Ctx, sampleSize: number): Promise<{ count: number; sample: unknown[] }> {
  const scopes = await sql<{ tenant_id: string; project_key: string; scope: string }>`
    SELECT DISTINCT d.tenant_id, d.project_key, d.scope FROM memory_rule_defs d WHERE ${ctx.filter('d')} ORDER BY 1, 2, 3`.execute(database.db);
  const violations: Record<string, unknown>[] = [];
  let count = 0;
  for (const s of scopes.rows) {
    const ns = { tenantId: s.tenant_id, projectKey: s.project_key, scope: s.scope };
    const commits: ChainCommit[] = [];
    for (let after = 0; ; ) {
      const page = await sql<{ seq: number | string; commit_id: string; kind: ChainCommit['kind']; format: number | string; diff: unknown; created_at: Date | string }>`
        SELECT c.seq, c.commit_id::text AS commit_id, c.kind, c.format, c.diff, c.created_at FROM memory_commits c
        WHERE c.tenant_id = ${s.tenant_id} AND c.project_key = ${s.project_key} AND c.scope = ${s.scope} AND c.seq > ${after}
        ORDER BY c.seq LIMIT 1000`.execute(database.db);
      commits.push(...page.rows.map((c) => ({ ...c, seq: Number(c.seq), format: Number(c.format), created_at: new Date(c.created_at).toISOString() })));
      if (page.rows.length < 1000) break;
      after = Number(page.rows.at(-1)!.seq);
    }
    const nodes = await sql<{ id: string; slots: Record<string, unknown> | null }>`
      SELECT n.node_id::text AS id, n.slots FROM memory_nodes n WHERE ${sameNsOf('n', ns)} AND n.type = 'rule'`.execute(database.db);
    const folded = rulesAsOf(commits, new Map(nodes.rows.map((n) => [n.id, { slots: n.slots ?? {} }])), Number.MAX_SAFE_INTEGER);
    const defs = await sql<{ rule_node_id: string; state: string; positive_count: number | string; negative_count: number | string; commit_id: string; updated_at: Date | string }>`
      SELECT d.rule_node_id::text AS rule_node_id, d.state, d.positive_count, d.negative_count, d.commit_id::text AS commit_id, d.updated_at
      FROM memory_rule_defs d WHERE ${sameNsOf('d', ns)}`.execute(database.db);
    for (const d of defs.rows) {
      const f = folded.get(d.rule_node_id);
      const actual = { state: d.state, positive: Number(d.positive_count), negative: Number(d.negative_count), commit_id: d.commit_id, updated_at: new Date(d.updated_at).toISOString() };
      const expected = f ? { state: f.state, positive: f.positive_count, negative: f.negative_count, commit_id: f.commit_id, updated_at: f.updated_at } : null;
      if (JSON.stringify(expected) !== JSON.stringify(actual)) {
        count++;
        if (violations.length < sampleSize) violations.push({ tenant_id: s.tenant_id, project_key: s.project_key, scope: s.scope, rule_node_id: d.rule_node_id, expected, actual });
      }
    }
  }
  return { count, sample: violations };
}

/** Run every scope check (read-only; one snapshot per SQL check), optionally for one tenant and/or scope name. */
export async function runScopeChecks(database: Database, opts: ScopeCheckOptions = {}): Promise<CheckResult[]> {
  const sampleSize = opts.sampleSize ?? 5;
  const vec = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = 'memory_nodes' AND column_name = 'embedding_vec'`.execute(database.db);
  const ctx: Ctx = {
    filter: (alias) => {
      const parts = [sql`true`];
      if (opts.tenantId !== undefined) parts.push(sql`${sql.ref(`${alias}.tenant_id`)} = ${opts.tenantId}`);
      if (opts.scope !== undefined) parts.push(sql`${sql.ref(`${alias}.scope`)} = ${opts.scope}`);
      return sql.join(parts, sql` AND `);
    },
    tenantFilter: (alias) => (opts.tenantId !== undefined ? sql`${sql.ref(`${alias}.tenant_id`)} = ${opts.tenantId}` : sql`true`),
    maxAttempts: opts.maxAttempts ?? 8,
    claimTimeoutMs: opts.claimTimeoutMs ?? 300_000,
    vectorColumn: (vec.rows[0]?.n ?? 0) > 0,
  };
  const results: CheckResult[] = [];
  for (const c of CHECKS) {
    let found: { count: number; sample: unknown[] };
    if ('run' in c) found = await c.run(database, ctx, sampleSize);
    else {
      const violations = c.violations(ctx);
      const count = await sql<{ n: number }>`SELECT count(*)::int AS n FROM (${violations}) AS v`.execute(database.db);
      const sample = await sql<Record<string, unknown>>`SELECT * FROM (${violations}) AS v LIMIT ${sampleSize}`.execute(database.db);
      found = { count: count.rows[0]?.n ?? 0, sample: sample.rows };
    }
    results.push({ name: c.name, severity: c.severity, pass: found.count === 0, count: found.count, sample: found.sample, detail: c.detail });
  }
  return results;
}
