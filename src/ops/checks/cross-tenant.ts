import { sql, type RawBuilder } from 'kysely';
import type { Database } from '../../platform/db/database';
import type { CheckResult } from './check-result';
import { compareWithReplay, type ReplayComparison, replayMatches } from './projection-replay';

export type { CheckResult } from './check-result';

interface CheckDef {
  readonly name: string;
  readonly severity: 'error' | 'warning';
  readonly detail: string;
  /** Rows that violate the invariant (each a small JSON object). */
  readonly violations: RawBuilder<Record<string, unknown>>;
}

/**
 * The cross-tenant invariants: each query returns the rows that break one. Read-only.
 * Tenant ids of streams are taken from es_streams (fixed at a stream's first append).
 */
const CHECKS: readonly CheckDef[] = [
  {
    name: 'api_key_project_in_key_tenant',
    severity: 'error',
    detail: "every API key bound to a project is bound to a project of the key's own tenant",
    violations: sql`SELECT k.key_id, k.tenant_id, p.tenant_id AS project_tenant FROM rm_api_keys k JOIN rm_projects p ON p.project_id = k.project_id WHERE p.tenant_id <> k.tenant_id`,
  },
  {
    name: 'api_key_project_exists',
    severity: 'error',
    detail: 'every API key bound to a project names a project that exists',
    violations: sql`SELECT k.key_id, k.project_id FROM rm_api_keys k LEFT JOIN rm_projects p ON p.project_id = k.project_id WHERE k.project_id IS NOT NULL AND p.project_id IS NULL`,
  },
  {
    name: 'read_model_tenant_matches_stream',
    severity: 'error',
    detail: "every tenant-owned read-model row carries the tenant of the stream it came from",
    violations: sql`
      SELECT 'rm_tenants' AS model, r.tenant_id AS row_tenant, s.tenant_id AS stream_tenant FROM rm_tenants r JOIN es_streams s ON s.stream_id = 'tenant-' || r.tenant_id WHERE s.tenant_id IS DISTINCT FROM r.tenant_id
      UNION ALL SELECT 'rm_projects', r.tenant_id, s.tenant_id FROM rm_projects r JOIN es_streams s ON s.stream_id = 'project-' || r.project_id WHERE s.tenant_id IS DISTINCT FROM r.tenant_id
      UNION ALL SELECT 'rm_api_keys', r.tenant_id, s.tenant_id FROM rm_api_keys r JOIN es_streams s ON s.stream_id = 'apikey-' || r.key_id WHERE s.tenant_id IS DISTINCT FROM r.tenant_id`,
  },
  {
    name: 'memory_rows_match_commit_tenant',
    severity: 'error',
    detail:
      'every memory node, edge and rule definition belongs to the tenant and project of the commit that wrote it (a write may place nodes in other scopes of its project), every outbox job, pack import, policy decision and rule feedback to the tenant, project and scope of its commit',
    violations: sql`
      SELECT 'node' AS kind, n.node_id::text AS id, n.tenant_id, c.tenant_id AS commit_tenant FROM memory_nodes n JOIN memory_commits c ON c.commit_id = n.commit_id
        WHERE (c.tenant_id, c.project_key) IS DISTINCT FROM (n.tenant_id, n.project_key)
      UNION ALL SELECT 'edge', e.edge_id::text, e.tenant_id, c.tenant_id FROM memory_edges e JOIN memory_commits c ON c.commit_id = e.commit_id
        WHERE (c.tenant_id, c.project_key) IS DISTINCT FROM (e.tenant_id, e.project_key)
      UNION ALL SELECT 'rule_definition', d.rule_node_id::text, d.tenant_id, c.tenant_id FROM memory_rule_defs d JOIN memory_commits c ON c.commit_id = d.commit_id
        WHERE (c.tenant_id, c.project_key) IS DISTINCT FROM (d.tenant_id, d.project_key)
      UNION ALL SELECT 'outbox', o.job_id::text, o.tenant_id, c.tenant_id FROM memory_outbox o JOIN memory_commits c ON c.commit_id = o.commit_id
        WHERE (c.tenant_id, c.project_key, c.scope) IS DISTINCT FROM (o.tenant_id, o.project_key, o.scope)
      UNION ALL SELECT 'pack_import', i.pack_sha256, i.tenant_id, c.tenant_id FROM memory_pack_imports i JOIN memory_commits c ON c.commit_id = i.commit_id
        WHERE (c.tenant_id, c.project_key, c.scope) IS DISTINCT FROM (i.tenant_id, i.project_key, i.scope)
      UNION ALL SELECT 'decision', d.decision_id::text, d.tenant_id, c.tenant_id FROM memory_decisions d JOIN memory_commits c ON c.commit_id = d.commit_id
        WHERE (c.tenant_id, c.project_key, c.scope) IS DISTINCT FROM (d.tenant_id, d.project_key, d.scope)
      UNION ALL SELECT 'rule_feedback', f.feedback_id::text, f.tenant_id, c.tenant_id FROM memory_rule_feedback f JOIN memory_commits c ON c.commit_id = f.commit_id
        WHERE (c.tenant_id, c.project_key, c.scope) IS DISTINCT FROM (f.tenant_id, f.project_key, f.scope)`,
  },
  {
    name: 'memory_rows_have_commits',
    severity: 'error',
    detail: 'every memory node, edge, rule definition, outbox job, pack import and rule feedback, and every decision that names a commit, names a commit that exists',
    violations: sql`
      SELECT 'node' AS kind, n.node_id::text AS id FROM memory_nodes n LEFT JOIN memory_commits c ON c.commit_id = n.commit_id WHERE c.commit_id IS NULL
      UNION ALL SELECT 'edge', e.edge_id::text FROM memory_edges e LEFT JOIN memory_commits c ON c.commit_id = e.commit_id WHERE c.commit_id IS NULL
      UNION ALL SELECT 'rule_definition', d.rule_node_id::text FROM memory_rule_defs d LEFT JOIN memory_commits c ON c.commit_id = d.commit_id WHERE c.commit_id IS NULL
      UNION ALL SELECT 'outbox', o.job_id::text FROM memory_outbox o LEFT JOIN memory_commits c ON c.commit_id = o.commit_id WHERE c.commit_id IS NULL
      UNION ALL SELECT 'pack_import', i.pack_sha256 FROM memory_pack_imports i LEFT JOIN memory_commits c ON c.commit_id = i.commit_id WHERE c.commit_id IS NULL
      UNION ALL SELECT 'decision', d.decision_id::text FROM memory_decisions d LEFT JOIN memory_commits c ON c.commit_id = d.commit_id WHERE d.commit_id IS NOT NULL AND c.commit_id IS NULL
      UNION ALL SELECT 'rule_feedback', f.feedback_id::text FROM memory_rule_feedback f LEFT JOIN memory_commits c ON c.commit_id = f.commit_id WHERE c.commit_id IS NULL`,
  },
  {
    name: 'memory_key_owned_by_tenant',
    severity: 'error',
    detail: "every commit was written by an API key of its own tenant (and, for a project's memory, of that project)",
    violations: sql`
      SELECT c.commit_id::text AS commit_id, c.tenant_id, c.project_key, c.key_id, k.tenant_id AS key_tenant, k.project_id AS key_project
      FROM memory_commits c JOIN rm_api_keys k ON k.key_id = c.key_id
      WHERE k.tenant_id <> c.tenant_id OR coalesce(k.project_id, '') <> c.project_key`,
  },
  {
    name: 'commit_parent_same_namespace',
    severity: 'error',
    detail: "every commit's parent is a commit of the same tenant, project and scope",
    violations: sql`
      SELECT c.commit_id::text AS commit_id, c.tenant_id, p.tenant_id AS parent_tenant FROM memory_commits c JOIN memory_commits p ON p.commit_id = c.parent_id
      WHERE (p.tenant_id, p.project_key, p.scope) IS DISTINCT FROM (c.tenant_id, c.project_key, c.scope)`,
  },
  {
    name: 'telemetry_tenant_exists',
    severity: 'warning',
    detail: 'no telemetry for tenants that do not exist',
    violations: sql`SELECT DISTINCT t.tenant_id FROM telemetry_rollups t LEFT JOIN rm_tenants r ON r.tenant_id = t.tenant_id WHERE r.tenant_id IS NULL`,
  },
  {
    name: 'memory_tenant_exists',
    severity: 'error',
    detail: 'no memory rows for tenants that do not exist',
    violations: sql`
      SELECT DISTINCT m.tenant_id FROM (SELECT tenant_id FROM memory_scopes UNION SELECT tenant_id FROM memory_tenant_counters) AS m
      LEFT JOIN rm_tenants r ON r.tenant_id = m.tenant_id WHERE r.tenant_id IS NULL`,
  },
];

export const CROSS_TENANT_CHECKS = [...CHECKS.map((c) => c.name), 'projection_equals_replay'];

/**
 * Run every cross-tenant check (read-only, one snapshot per check). `replay: false` skips the
 * replay comparison (it needs its own transaction, so callers already inside one must skip it).
 */
export async function runCrossTenantChecks(database: Database, sampleSize = 5, opts: { replay?: boolean } = {}): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const c of CHECKS) {
    try {
      const count = await sql<{ n: number }>`SELECT count(*)::int AS n FROM (${c.violations}) AS v`.execute(database.db);
      const sample = await sql<Record<string, unknown>>`SELECT * FROM (${c.violations}) AS v LIMIT ${sampleSize}`.execute(database.db);
      const n = count.rows[0]?.n ?? 0;
      results.push({ name: c.name, severity: c.severity, pass: n === 0, count: n, sample: sample.rows, detail: c.detail });
    } catch (err) {
      // A read model that does not exist yet (the projector never ran) fails the check; it is not a runtime error.
      if ((err as { code?: string }).code !== '42P01') throw err;
      results.push({ name: c.name, severity: c.severity, pass: false, count: 1, sample: [{ error: (err as Error).message }], detail: `${c.detail} (cannot be checked: a table is missing; has the projector ever run?)` });
    }
  }
  if (opts.replay !== false) results.push(replayCheck(await compareWithReplay(database), sampleSize));
  return results;
}

function replayCheck(comparisons: readonly ReplayComparison[], sampleSize: number): CheckResult {
  const bad = comparisons.filter((c) => !replayMatches(c));
  const violations = bad.flatMap((c) => {
    const out: Record<string, unknown>[] = [];
    if (c.at === null) out.push({ projection: c.projection, problem: 'never ran (no checkpoint)' });
    else if (c.version.live !== c.version.code) out.push({ projection: c.projection, at: c.at, problem: `live version ${c.version.live}, code version ${c.version.code}` });
    for (const m of c.mismatches) out.push({ projection: c.projection, at: c.at, tenant: m.tenant, live: m.live, replay: m.replay });
    if (c.parked.only_live.length + c.parked.only_replay.length > 0) out.push({ projection: c.projection, at: c.at, parked_only_live: c.parked.only_live.slice(0, 5), parked_only_replay: c.parked.only_replay.slice(0, 5) });
    return out;
  });
  return {
    name: 'projection_equals_replay',
    severity: 'error',
    pass: violations.length === 0,
    count: violations.length,
    sample: violations.slice(0, sampleSize),
    // Name only the projections that differ: the list of every projection said nothing about which one failed.
    detail:
      bad.length === 0
        ? `every projection (${comparisons.length}), rebuilt from the log into a scratch schema up to its live checkpoint P, equals the live read model at P (row hashes per tenant)`
        : `${bad.map((c) => `${c.projection}@${c.at ?? '-'}`).join(', ')} ${bad.length === 1 ? 'differs' : 'differ'} from a replay of the log up to ${bad.length === 1 ? 'its' : 'their'} live checkpoint (row hashes per tenant; the other ${comparisons.length - bad.length} equal their replay); see the sample, then runbooks/projection-rebuild.md`,
  };
}
