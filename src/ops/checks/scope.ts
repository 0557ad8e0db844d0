import { sql, type RawBuilder } from 'kysely';
import { commitHash, type CommitDiff } from '../../data-plane/memory.domain';
import { EMBEDDING_DIMENSIONS } from '../../data-plane/memory.schemas';
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
    detail: "each scope's commits form one linear chain: seq 1..n without gaps, exactly one root, each parent (id and hash) the previous commit",
    violations: (ctx) => sql`
      SELECT tenant_id, project_key, scope, commit_id::text AS commit_id, seq,
             CASE WHEN seq <> rn THEN 'seq_gap'
                  WHEN parent_commit_id IS NULL AND rn > 1 THEN 'extra_root'
                  WHEN parent_commit_id IS DISTINCT FROM prev_id THEN 'parent_mismatch'
                  ELSE 'parent_hash_mismatch' END AS problem
      FROM (SELECT c.tenant_id, c.project_key, c.scope, c.commit_id, c.seq, c.parent_commit_id, c.parent_hash,
                   row_number() OVER w AS rn, lag(c.commit_id) OVER w AS prev_id, lag(c.commit_hash) OVER w AS prev_hash
            FROM memory_commits c WHERE ${ctx.filter('c')}
            WINDOW w AS (PARTITION BY c.tenant_id, c.project_key, c.scope ORDER BY c.seq)) AS x
      WHERE seq <> rn OR parent_commit_id IS DISTINCT FROM prev_id OR parent_hash IS DISTINCT FROM prev_hash`,
  },
  {
    name: 'scope_head_matches_chain',
    severity: 'error',
    detail: "each scope's head (memory_scopes: head commit, head hash, commit count) is the last commit of its chain; no chain without a scope row",
    violations: (ctx) => sql`
      SELECT coalesce(s.tenant_id, l.tenant_id) AS tenant_id, coalesce(s.project_key, l.project_key) AS project_key, coalesce(s.scope, l.scope) AS scope,
             s.head_commit_id::text AS head_commit_id, l.commit_id::text AS last_commit_id, s.commit_count, coalesce(l.n, 0) AS commits,
             CASE WHEN s.tenant_id IS NULL THEN 'no_scope_row' WHEN s.head_commit_id IS DISTINCT FROM l.commit_id THEN 'head_commit_mismatch'
                  WHEN s.head_hash IS DISTINCT FROM l.commit_hash THEN 'head_hash_mismatch' ELSE 'commit_count_mismatch' END AS problem
      FROM (SELECT * FROM memory_scopes s WHERE ${ctx.filter('s')}) AS s
      FULL JOIN (SELECT DISTINCT ON (c.tenant_id, c.project_key, c.scope) c.tenant_id, c.project_key, c.scope, c.commit_id, c.commit_hash,
                        count(*) OVER (PARTITION BY c.tenant_id, c.project_key, c.scope) AS n
                 FROM memory_commits c WHERE ${ctx.filter('c')}
                 ORDER BY c.tenant_id, c.project_key, c.scope, c.seq DESC) AS l
        ON ${sameNs('s', 'l')}
      WHERE s.tenant_id IS NULL OR s.head_commit_id IS DISTINCT FROM l.commit_id OR s.head_hash IS DISTINCT FROM l.commit_hash
         OR s.commit_count IS DISTINCT FROM coalesce(l.n, 0)`,
  },
  {
    name: 'commit_hash_valid',
    severity: 'error',
    detail: "every commit's diff_sha256 and commit_hash equal the hashes recomputed (memory.domain commitHash) from its content and its parent commit's stored hash",
    run: verifyCommitHashes,
  },
  {
    name: 'node_written_by_scope_commit',
    severity: 'error',
    detail: "every node's commit is a commit of its own scope whose diff records the node with its current content hash, and no later commit of the scope changed it",
    violations: (ctx) => sql`
      WITH listed AS (
        SELECT c.tenant_id, c.project_key, c.scope, lower(d->>'node_id') AS node_id, max(c.seq) AS last_seq
        FROM memory_commits c CROSS JOIN LATERAL jsonb_array_elements(${arrayOf(sql`c.diff->'nodes'`)}) AS d
        WHERE ${ctx.filter('c')} GROUP BY 1, 2, 3, 4)
      SELECT n.tenant_id, n.project_key, n.scope, n.node_id::text AS node_id, n.commit_id::text AS commit_id, c.seq AS commit_seq, l.last_seq,
             CASE WHEN c.commit_id IS NULL THEN 'commit_not_in_scope' WHEN l.last_seq IS NULL THEN 'in_no_commit_diff'
                  WHEN l.last_seq > c.seq THEN 'changed_by_later_commit' WHEN l.last_seq < c.seq THEN 'not_in_commit_diff'
                  ELSE 'content_hash_mismatch' END AS problem
      FROM memory_nodes n
      LEFT JOIN memory_commits c ON c.commit_id = n.commit_id AND ${sameNs('c', 'n')}
      LEFT JOIN listed l ON ${sameNs('l', 'n')} AND l.node_id = n.node_id::text
      WHERE ${ctx.filter('n')} AND (c.commit_id IS NULL OR l.last_seq IS DISTINCT FROM c.seq OR NOT EXISTS (
        SELECT 1 FROM jsonb_array_elements(${arrayOf(sql`c.diff->'nodes'`)}) AS d
        WHERE lower(d->>'node_id') = n.node_id::text AND d->>'content_sha256' = n.content_sha256))`,
  },
  {
    name: 'edge_written_by_scope_commit',
    severity: 'error',
    detail: "every edge's commit is a commit of its own scope whose diff records the edge with its current type, endpoints and weight, and no later commit of the scope changed it",
    violations: (ctx) => sql`
      WITH listed AS (
        SELECT c.tenant_id, c.project_key, c.scope, lower(d->>'edge_id') AS edge_id, max(c.seq) AS last_seq
        FROM memory_commits c CROSS JOIN LATERAL jsonb_array_elements(${arrayOf(sql`c.diff->'edges'`)}) AS d
        WHERE ${ctx.filter('c')} GROUP BY 1, 2, 3, 4)
      SELECT e.tenant_id, e.project_key, e.scope, e.edge_id::text AS edge_id, e.commit_id::text AS commit_id, c.seq AS commit_seq, l.last_seq,
             CASE WHEN c.commit_id IS NULL THEN 'commit_not_in_scope' WHEN l.last_seq IS NULL THEN 'in_no_commit_diff'
                  WHEN l.last_seq > c.seq THEN 'changed_by_later_commit' WHEN l.last_seq < c.seq THEN 'not_in_commit_diff'
                  ELSE 'content_mismatch' END AS problem
      FROM memory_edges e
      LEFT JOIN memory_commits c ON c.commit_id = e.commit_id AND ${sameNs('c', 'e')}
      LEFT JOIN listed l ON ${sameNs('l', 'e')} AND l.edge_id = e.edge_id::text
      WHERE ${ctx.filter('e')} AND (c.commit_id IS NULL OR l.last_seq IS DISTINCT FROM c.seq OR NOT EXISTS (
        SELECT 1 FROM jsonb_array_elements(${arrayOf(sql`c.diff->'edges'`)}) AS d
        WHERE lower(d->>'edge_id') = e.edge_id::text AND d->>'type' = e.type
          AND lower(d->>'src_id') = e.src_id::text AND lower(d->>'dst_id') = e.dst_id::text
          AND CASE WHEN jsonb_typeof(d->'weight') = 'number' THEN (d->>'weight')::real = e.weight ELSE false END))`,
  },
  {
    name: 'commit_diff_rows_exist',
    severity: 'error',
    detail: "every node and edge a commit's diff records exists in that commit's scope (memory rows are never deleted)",
    violations: (ctx) => sql`
      SELECT c.tenant_id, c.project_key, c.scope, c.commit_id::text AS commit_id, c.seq, 'node' AS kind, d->>'node_id' AS id
      FROM memory_commits c CROSS JOIN LATERAL jsonb_array_elements(${arrayOf(sql`c.diff->'nodes'`)}) AS d
      WHERE ${ctx.filter('c')} AND NOT EXISTS (SELECT 1 FROM memory_nodes n WHERE ${sameNs('n', 'c')} AND n.node_id::text = lower(d->>'node_id'))
      UNION ALL
      SELECT c.tenant_id, c.project_key, c.scope, c.commit_id::text, c.seq, 'edge', d->>'edge_id'
      FROM memory_commits c CROSS JOIN LATERAL jsonb_array_elements(${arrayOf(sql`c.diff->'edges'`)}) AS d
      WHERE ${ctx.filter('c')} AND NOT EXISTS (SELECT 1 FROM memory_edges e WHERE ${sameNs('e', 'c')} AND e.edge_id::text = lower(d->>'edge_id'))`,
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
    detail: `every stored vector is one-dimensional with exactly ${EMBEDDING_DIMENSIONS} finite components (EMBEDDING_DIMENSIONS, the only dimension any model is used with)`,
    violations: (ctx) => sql`
      SELECT tenant_id, project_key, scope, node_id::text AS node_id, embedding_model, array_ndims(embedding) AS ndims, cardinality(embedding) AS dimensions
      FROM memory_nodes n
      WHERE ${ctx.filter('n')} AND embedding IS NOT NULL AND (array_ndims(embedding) IS DISTINCT FROM 1 OR cardinality(embedding) <> ${EMBEDDING_DIMENSIONS}
        OR EXISTS (SELECT 1 FROM unnest(embedding) AS v(x) WHERE x IS NULL OR x = 'NaN'::real OR x IN ('Infinity'::real, '-Infinity'::real)))`,
  },
  {
    name: 'pending_embeddings_queued',
    severity: 'error',
    detail: "every node whose embedding is 'pending' is listed by an open (pending or processing) embed_nodes job of its scope, so it will be embedded",
    violations: (ctx) => sql`
      SELECT n.tenant_id, n.project_key, n.scope, n.node_id::text AS node_id, n.commit_id::text AS commit_id
      FROM memory_nodes n
      WHERE ${ctx.filter('n')} AND n.embedding_status = 'pending' AND NOT EXISTS (
        SELECT 1 FROM memory_outbox o CROSS JOIN LATERAL jsonb_array_elements_text(${arrayOf(sql`o.payload->'node_ids'`)}) AS x(id)
        WHERE ${sameNs('o', 'n')} AND o.type = 'embed_nodes' AND o.status IN ('pending', 'processing') AND lower(x.id) = n.node_id::text)`,
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

interface CommitRow {
  tenant_id: string;
  project_key: string;
  scope: string;
  commit_id: string;
  seq: number;
  parent_hash: string | null;
  parent_row_hash: string | null;
  commit_hash: string;
  input_sha256: string;
  diff: unknown;
  diff_sha256: string;
  actor_key_id: string;
}

/**
 * Recompute every commit's diff and commit hash with the product's commitHash(). The parent hash
 * hashed in is the parent commit's own stored commit_hash (so a tampered parent_hash column is a
 * chain break, reported by commit_chain_continuous, not a hash failure); a commit whose parent row
 * is not in its scope falls back to its stored parent_hash. Pages through the commits by key.
 */
async function verifyCommitHashes(database: Database, ctx: Ctx, sampleSize: number): Promise<{ count: number; sample: unknown[] }> {
  const violations: Record<string, unknown>[] = [];
  let count = 0;
  let after: { tenant_id: string; project_key: string; scope: string; seq: number } | null = null;
  for (;;) {
    const page: { rows: CommitRow[] } = await sql<CommitRow>`
      SELECT c.tenant_id, c.project_key, c.scope, c.commit_id::text AS commit_id, c.seq, c.parent_hash, p.commit_hash AS parent_row_hash,
             c.commit_hash, c.input_sha256, c.diff, c.diff_sha256, c.actor_key_id
      FROM memory_commits c
      LEFT JOIN memory_commits p ON p.commit_id = c.parent_commit_id AND ${sameNs('p', 'c')}
      WHERE ${ctx.filter('c')} ${after ? sql`AND (c.tenant_id, c.project_key, c.scope, c.seq) > (${after.tenant_id}, ${after.project_key}, ${after.scope}, ${after.seq}::bigint)` : sql``}
      ORDER BY c.tenant_id, c.project_key, c.scope, c.seq LIMIT 500`.execute(database.db);
    for (const c of page.rows) {
      const diff = (typeof c.diff === 'string' ? JSON.parse(c.diff) : c.diff) as CommitDiff;
      let problem: string | null = null;
      try {
        const recomputed = commitHash({
          namespace: { tenantId: c.tenant_id, projectKey: c.project_key, scope: c.scope },
          parentHash: c.parent_row_hash ?? c.parent_hash,
          inputSha256: c.input_sha256,
          actorKeyId: c.actor_key_id,
          diff,
        });
        if (recomputed.diffSha256 !== c.diff_sha256) problem = 'diff_hash_mismatch';
        else if (recomputed.commitHash !== c.commit_hash) problem = 'commit_hash_mismatch';
      } catch (err) {
        problem = `unhashable: ${err instanceof Error ? err.message : String(err)}`;
      }
      if (problem) {
        count++;
        if (violations.length < sampleSize) violations.push({ tenant_id: c.tenant_id, project_key: c.project_key, scope: c.scope, commit_id: c.commit_id, seq: c.seq, problem });
      }
    }
    const last = page.rows.at(-1);
    if (!last || page.rows.length < 500) break;
    after = { tenant_id: last.tenant_id, project_key: last.project_key, scope: last.scope, seq: last.seq };
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
