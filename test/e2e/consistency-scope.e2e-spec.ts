import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { chainHash } from '../../src/data-plane/memory/domain/commit';
import { VectorSupport } from '../../src/data-plane/vector-support';
import { type CheckResult, runScopeChecks, SCOPE_CHECKS, type ScopeCheckOptions } from '../../src/ops/checks/scope';
import { seedMemory } from '../support/memory-seed';
import { startTestService, type TestService } from '../support/service';
import { usingPostgres } from '../support/test-db';
import { onlyIf, pgOnly } from '../support/skips';

const ROOT = join(__dirname, '../..');

/** The project namespace of each tenant's scope `s` (where the seed wrote most), as SQL. */
const A = "tenant_id = 'sc-a' AND project_key = 'sc-a-p' AND scope = 's'";
const B = "tenant_id = 'sc-b' AND project_key = 'sc-b-p' AND scope = 's'";
const ZERO = `repeat('0', 64)`;
/** With pgvector, the sync trigger refuses vectors it cannot hold: disabled in the corruption's transaction only. */
const NO_VECTOR_TRIGGER = `DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'memory_nodes_sync_vector') THEN ALTER TABLE memory_nodes DISABLE TRIGGER memory_nodes_sync_vector; END IF; END $$`;

interface Corruption {
  readonly check: string;
  readonly what: string;
  /** The `problem` the check's sample names, where it names one. */
  readonly problem?: string;
  readonly statements: () => Promise<string[]> | string[];
  /** Only where the database has the pgvector column. */
  readonly pgvectorOnly?: boolean;
  /**
   * Checks whose invariant the same break necessarily violates too (named, with the reason, where
   * no corruption can separate them); each check still has another corruption that fails it alone.
   */
  readonly also?: readonly string[];
}

/**
 * Each named scope check passes on a clean system (seeded through the real API on every path that
 * writes memory) and fails, alone, when the test breaks exactly its invariant with SQL (inside a
 * transaction the checks also run in, rolled back afterwards).
 */
describe('job:consistency-check:scope', () => {
  let t: TestService;

  beforeAll(async () => {
    t = await startTestService({ env: { OUTBOX_POLL_INTERVAL_MS: '100' } });
    await seedMemory(t, ['sc-a', 'sc-b'], t.config.embeddings.dimension);
  }, 120_000);
  afterAll(async () => {
    await t.stop();
  });

  const db = () => t.tdb.database.db;
  const one = async <T>(query: string): Promise<T> => {
    const r = await sql.raw<T>(query).execute(db());
    if (!r.rows[0]) throw new Error(`no row: ${query}`);
    return r.rows[0];
  };
  const commitOf = async (ns: string, seq: number) => (await one<{ id: string }>(`SELECT commit_id::text AS id FROM memory_commits WHERE ${ns} AND seq = ${seq}`)).id;
  const lastSeq = async (ns: string) => Number((await one<{ n: number }>(`SELECT max(seq)::int AS n FROM memory_commits WHERE ${ns}`)).n);

  /**
   * Change the last commit of a scope's chain (its seq or its link) and re-hash it as the product
   * would (chain hash and the scope head's hash), so that only the chain's shape is wrong.
   */
  async function relinkLast(ns: string, change: { seq?: number; prev?: string | null }): Promise<string[]> {
    const c = await one<{ commit_id: string; seq: number; commit_hash: string; key_id: string; created_at: Date; chain_prev_hash: string | null }>(
      `SELECT commit_id::text AS commit_id, seq::int AS seq, commit_hash, key_id, created_at, chain_prev_hash FROM memory_commits WHERE ${ns} ORDER BY seq DESC LIMIT 1`,
    );
    const seq = change.seq ?? c.seq;
    const prev = 'prev' in change ? (change.prev ?? null) : c.chain_prev_hash;
    const hash = chainHash({ prevChainHash: prev, seq, commitId: c.commit_id, commitHash: c.commit_hash, keyId: c.key_id, createdAt: new Date(c.created_at).toISOString() });
    return [
      `UPDATE memory_commits SET seq = ${seq}, chain_prev_hash = ${prev === null ? 'NULL' : `'${prev}'`}, chain_hash = '${hash}' WHERE commit_id = '${c.commit_id}'`,
      `UPDATE memory_scopes SET head_hash = '${hash}' WHERE ${ns}`,
    ];
  }

  /** Run `statements` and the checks in one transaction, then roll it back. */
  async function checksWith(statements: readonly string[], opts: ScopeCheckOptions = {}): Promise<CheckResult[]> {
    let results: CheckResult[] = [];
    await db()
      .transaction()
      .execute(async (trx) => {
        for (const s of statements) await sql.raw(s).execute(trx);
        results = await runScopeChecks({ ...t.tdb.database, db: trx as unknown as ReturnType<typeof db> }, opts);
        throw new Error('rollback');
      })
      .catch((err: unknown) => {
        if ((err as Error).message !== 'rollback') throw err;
      });
    return results;
  }
  const failing = (results: readonly CheckResult[]) => results.filter((r) => !r.pass).map((r) => r.name);

  it('passes every check on a clean system that has every kind of row the checks look at', async () => {
    const results = await runScopeChecks(t.tdb.database);
    expect(results.map((r) => r.name)).toEqual(SCOPE_CHECKS);
    expect(results.filter((r) => !r.pass)).toEqual([]);
    // The clean system really has what the checks look at, in both tenants.
    const r = await sql<{ tenant_id: string; kinds: string[]; rule_defs: number; private_rules: number; sessions: number; session_events: number; pack_imports: number; jobs: number; ready: number; failed: number; edges: number; scopes: number }>`
      SELECT t.tenant_id,
        (SELECT array_agg(DISTINCT kind ORDER BY kind) FROM memory_commits c WHERE c.tenant_id = t.tenant_id) AS kinds,
        (SELECT count(*)::int FROM memory_rule_defs d WHERE d.tenant_id = t.tenant_id) AS rule_defs,
        (SELECT count(*)::int FROM memory_nodes n WHERE n.tenant_id = t.tenant_id AND n.type = 'rule' AND n.memory_lane = 'private') AS private_rules,
        (SELECT count(*)::int FROM memory_nodes n WHERE n.tenant_id = t.tenant_id AND n.client_id LIKE 'session:%') AS sessions,
        (SELECT count(*)::int FROM memory_nodes n WHERE n.tenant_id = t.tenant_id AND n.client_id LIKE 'session\\_event:%') AS session_events,
        (SELECT count(*)::int FROM memory_pack_imports i WHERE i.tenant_id = t.tenant_id) AS pack_imports,
        (SELECT count(*)::int FROM memory_outbox o WHERE o.tenant_id = t.tenant_id) AS jobs,
        (SELECT count(*)::int FROM memory_nodes n WHERE n.tenant_id = t.tenant_id AND n.embedding_status = 'ready') AS ready,
        (SELECT count(*)::int FROM memory_nodes n WHERE n.tenant_id = t.tenant_id AND n.embedding_status = 'failed') AS failed,
        (SELECT count(*)::int FROM memory_edges e WHERE e.tenant_id = t.tenant_id) AS edges,
        (SELECT count(*)::int FROM memory_scopes s WHERE s.tenant_id = t.tenant_id) AS scopes
      FROM (VALUES ('sc-a'), ('sc-b')) AS t(tenant_id)`.execute(db());
    for (const row of r.rows) {
      expect(row).toMatchObject({
        kinds: ['archive_rehydrate', 'nodes_activate', 'rule_feedback', 'rule_state_change', 'tool_feedback', 'write'],
        rule_defs: 4, // two rules in `s`, their copies in `packed`
        private_rules: 2,
        sessions: 2,
        session_events: 2,
        pack_imports: 1,
        scopes: 4, // s, other and packed of the project; s of the tenant-wide namespace
      });
      expect(row.jobs).toBeGreaterThan(0);
      expect(row.ready).toBeGreaterThan(0);
      expect(row.failed).toBeGreaterThan(0); // nodes with nothing to embed (sessions, pack copies)
      expect(row.edges).toBe(8); // s: two related_to, a derived_from, a part_of; their copies in `packed`
    }
    // An edge was upserted by a later commit, and nodes were last changed by rehydrate and activate commits.
    const shapes = await sql<{ edge_by_later: number; rehydrated: number; activated: number }>`
      SELECT (SELECT count(*)::int FROM memory_edges e JOIN memory_commits c ON c.commit_id = e.commit_id WHERE e.tenant_id = 'sc-a' AND e.scope = 's' AND c.seq = 3) AS edge_by_later,
             (SELECT count(*)::int FROM memory_nodes n JOIN memory_commits c ON c.commit_id = n.commit_id WHERE n.tenant_id = 'sc-a' AND c.kind = 'archive_rehydrate') AS rehydrated,
             (SELECT count(*)::int FROM memory_nodes n JOIN memory_commits c ON c.commit_id = n.commit_id WHERE n.tenant_id = 'sc-a' AND c.kind = 'nodes_activate') AS activated`.execute(db());
    expect(shapes.rows[0]).toEqual({ edge_by_later: 1, rehydrated: 1, activated: 2 }); // activated: n1 in `s`, n0 in `packed`
  });

  const corruptions: readonly Corruption[] = [
    // ---- the chain
    { check: 'commit_chain_continuous', what: 'a seq gap (the commit re-hashed, so only the sequence is wrong)', problem: 'seq_gap', statements: async () => relinkLast(A, { seq: (await lastSeq(A)) + 10 }) },
    { check: 'commit_chain_continuous', what: 'a second root (re-hashed)', problem: 'extra_root', statements: () => relinkLast(B, { prev: null }) },
    { check: 'commit_chain_continuous', what: "a link that is not the previous commit's chain hash (re-hashed)", problem: 'chain_link_mismatch', statements: () => relinkLast(A, { prev: 'f'.repeat(64) }) },
    { check: 'scope_head_matches_chain', what: 'a head commit count that is not the chain length', problem: 'commit_count_mismatch', statements: () => [`UPDATE memory_scopes SET commit_count = commit_count + 1 WHERE ${A}`] },
    { check: 'scope_head_matches_chain', what: 'a head hash that is not the last chain hash', problem: 'head_hash_mismatch', statements: () => [`UPDATE memory_scopes SET head_hash = ${ZERO} WHERE ${B}`] },
    {
      check: 'scope_head_matches_chain',
      what: 'a head that is not the last commit',
      problem: 'head_commit_mismatch',
      statements: async () => [`UPDATE memory_scopes SET head_commit_id = '${await commitOf(A, (await lastSeq(A)) - 1)}' WHERE ${A}`],
    },
    { check: 'scope_head_matches_chain', what: 'a chain without its scope row', problem: 'no_scope_row', statements: () => [`DELETE FROM memory_scopes WHERE ${B}`] },
    // ---- the hashes
    { check: 'commit_hash_valid', what: 'tampered commit content (input hash of a write)', problem: 'commit_hash_mismatch', statements: () => [`UPDATE memory_commits SET input_sha256 = ${ZERO} WHERE ${A} AND seq = 1`] },
    { check: 'commit_hash_valid', what: 'a diff hash that is not the hash of the diff', problem: 'diff_hash_mismatch', statements: () => [`UPDATE memory_commits SET diff_sha256 = ${ZERO} WHERE ${A} AND seq = 2`] },
    {
      check: 'commit_hash_valid',
      what: 'a tampered diff (a title the write did not write)',
      problem: 'diff_hash_mismatch,commit_hash_mismatch',
      statements: () => [`UPDATE memory_commits SET diff = jsonb_set(diff, '{nodes,0,title}', '"forged"') WHERE ${B} AND seq = 1`],
    },
    { check: 'commit_hash_valid', what: 'a tampered actor', problem: 'commit_hash_mismatch', statements: () => [`UPDATE memory_commits SET actor = 'someone-else' WHERE ${B} AND seq = 4`] },
    { check: 'commit_hash_valid', what: 'a tampered timestamp (part of the chain link)', problem: 'chain_hash_mismatch', statements: () => [`UPDATE memory_commits SET created_at = created_at - interval '1 second' WHERE ${B} AND seq = 3`] },
    { check: 'commit_hash_valid', what: 'a tampered writing key (part of the chain link)', problem: 'chain_hash_mismatch', statements: () => [`UPDATE memory_commits SET key_id = 'key_someone_else' WHERE ${A} AND seq = 5`] },
    {
      check: 'commit_hash_valid',
      what: 'tampered content of a rehydrate commit (its kind hashes differently)',
      problem: 'commit_hash_mismatch',
      statements: () => [`UPDATE memory_commits SET input_sha256 = ${ZERO} WHERE ${A} AND kind = 'archive_rehydrate'`],
    },
    {
      check: 'commit_hash_valid',
      what: 'tampered content of a rule state change (a policy commit)',
      problem: 'commit_hash_mismatch',
      statements: () => [`UPDATE memory_commits SET input_sha256 = ${ZERO} WHERE ${B} AND kind = 'rule_state_change'`],
    },
    {
      check: 'commit_hash_valid',
      what: 'a tampered tool feedback commit (its diff)',
      problem: 'diff_hash_mismatch,commit_hash_mismatch',
      // (The run id is not what rule history folds: only this commit's hashes break.)
      statements: () => [`UPDATE memory_commits SET diff = jsonb_set(diff, '{tool_feedback,0,run_id}', '"forged"') WHERE ${A} AND kind = 'tool_feedback'`],
    },
    {
      check: 'commit_hash_valid',
      what: "a parent hash column that is not the parent's commit hash (a commit with a parent)",
      problem: 'parent_hash_mismatch',
      statements: () => [`UPDATE memory_commits SET parent_hash = ${ZERO} WHERE ${A} AND kind = 'nodes_activate'`],
    },
    // ---- rows and the commits that wrote them
    {
      check: 'node_written_by_commit',
      what: 'a node pointing at a commit of its scope that did not write it',
      problem: 'not_in_commit_diff',
      statements: async () => [`UPDATE memory_nodes SET commit_id = '${await commitOf(A, 2)}' WHERE ${A} AND client_id = 'n0'`],
    },
    {
      check: 'node_written_by_commit',
      what: 'a rehydrated node pointing at the activation commit',
      problem: 'not_in_commit_diff',
      statements: () => [`UPDATE memory_nodes SET commit_id = (SELECT commit_id FROM memory_commits WHERE ${A} AND kind = 'nodes_activate') WHERE ${A} AND client_id = 'arch'`],
    },
    {
      check: 'node_written_by_commit',
      what: "a node pointing at another tenant's commit",
      problem: 'commit_not_in_tenant_project',
      statements: async () => [`UPDATE memory_nodes SET commit_id = '${await commitOf(A, 1)}' WHERE ${B} AND client_id = 'n1'`],
    },
    {
      check: 'edge_written_by_commit',
      what: 'an edge pointing at a commit of its scope that did not write it',
      problem: 'not_in_commit_diff',
      statements: async () => [`UPDATE memory_edges SET commit_id = '${await commitOf(A, 2)}' WHERE ${A} AND commit_id = '${await commitOf(A, 3)}'`],
    },
    {
      check: 'edge_written_by_commit',
      what: 'an edge pointing at a commit that does not exist',
      problem: 'commit_not_in_tenant_project',
      statements: async () => [`UPDATE memory_edges SET commit_id = '00000000-0000-4000-8000-000000000000' WHERE ${B} AND commit_id = '${await commitOf(B, 2)}' AND type = 'related_to'`],
    },
    {
      check: 'commit_diff_rows_exist',
      what: 'an edge a commit wrote is gone',
      statements: async () => [`DELETE FROM memory_edges WHERE ${A} AND type = 'related_to' AND commit_id = '${await commitOf(A, 2)}'`],
    },
    {
      check: 'commit_diff_rows_exist',
      what: 'a node a commit wrote is gone (the stored-node counter kept right)',
      statements: () => [
        "DELETE FROM memory_nodes WHERE tenant_id = 'sc-a' AND project_key = 'sc-a-p' AND scope = 'other' AND client_id = 'o'",
        "UPDATE memory_tenant_counters SET nodes = nodes - 1 WHERE tenant_id = 'sc-a'",
      ],
    },
    // ---- rules
    {
      check: 'rule_definitions_match_nodes',
      what: 'a rule node without its definition',
      problem: 'rule_node_without_definition',
      statements: () => [`DELETE FROM memory_rule_defs WHERE ${A} AND rule_node_id = (SELECT node_id FROM memory_nodes WHERE ${A} AND client_id = 'rule-shared')`],
    },
    {
      check: 'rule_definitions_match_nodes',
      what: 'a definition whose node is not a rule (the private rule, no decision names it)',
      problem: 'definition_of_non_rule_node',
      // The chain folds definitions of rule nodes only: rule history misses it too.
      also: ['rule_definitions_match_history'],
      statements: () => [`UPDATE memory_nodes SET type = 'concept' WHERE ${B} AND client_id = 'rule-private'`],
    },
    {
      check: 'rule_definitions_match_nodes',
      what: "a definition naming another tenant's commit",
      problem: 'commit_not_in_tenant_project',
      // A definition's commit is part of its history: rule history sees another commit too.
      also: ['rule_definitions_match_history'],
      statements: async () => [`UPDATE memory_rule_defs SET commit_id = '${await commitOf(B, 5)}' WHERE ${A}`],
    },
    // ---- policy provenance (decisions, feedback, rule history)
    {
      check: 'feedback_links_decision',
      what: 'tools feedback whose decision is gone',
      statements: () => [`DELETE FROM memory_decisions WHERE ${A} AND decision_id IN (SELECT decision_id FROM memory_rule_feedback WHERE ${A} AND source = 'tools_feedback')`],
    },
    { check: 'feedback_links_decision', what: 'tools feedback linked to no decision', statements: () => [`UPDATE memory_rule_feedback SET decision_id = NULL WHERE ${B} AND source = 'tools_feedback'`] },
    {
      check: 'feedback_run_id_agrees_with_decision',
      what: "a decision whose run id is not its feedback's",
      statements: () => [`UPDATE memory_decisions SET run_id = 'run-other' WHERE ${A} AND run_id = 'run-1'`],
    },
    {
      check: 'decision_source_rules_exist',
      what: 'a decision naming a source rule that does not exist',
      problem: 'source_rule_missing',
      statements: () => [`UPDATE memory_decisions SET source_rule_ids = '["00000000-0000-4000-8000-000000000000"]'::jsonb WHERE ${B}`],
    },
    {
      check: 'decision_source_rules_exist',
      what: 'a decision made against a head commit its scope does not have at that seq',
      problem: 'head_commit_missing',
      statements: () => [`UPDATE memory_decisions SET rules_head_seq = rules_head_seq + 100 WHERE ${A}`],
    },
    {
      check: 'rule_definitions_match_history',
      what: 'statistics counted without a feedback commit',
      statements: () => [`UPDATE memory_rule_defs SET positive_count = positive_count + 5 WHERE ${A} AND rule_node_id = (SELECT node_id FROM memory_nodes WHERE ${A} AND client_id = 'rule-shared')`],
    },
    {
      check: 'rule_definitions_match_history',
      what: 'a state changed in place, without a commit',
      statements: () => [`UPDATE memory_rule_defs SET state = 'disabled' WHERE ${B} AND rule_node_id = (SELECT node_id FROM memory_nodes WHERE ${B} AND client_id = 'rule-shared')`],
    },
    {
      check: 'rule_definitions_match_history',
      what: 'definitions re-timed in place (an updated_at no commit gave them)',
      statements: () => ["UPDATE memory_rule_defs SET updated_at = updated_at + interval '1 second' WHERE tenant_id = 'sc-a' AND scope = 'packed'"],
    },
    {
      check: 'private_rules_have_owners',
      what: 'a private rule without owner',
      statements: () => [`UPDATE memory_nodes SET owner_agent_id = NULL, owner_team_id = NULL WHERE ${A} AND client_id = 'rule-private'`],
    },
    // ---- sessions
    { check: 'session_nodes_well_formed', what: "a session topic without system_kind 'session'", problem: 'session_slots', statements: () => [`UPDATE memory_nodes SET slots = slots - 'system_kind' WHERE ${A} AND client_id = 'session:sess-1'`] },
    {
      check: 'session_nodes_well_formed',
      what: "a session event without system_kind 'session_event'",
      problem: 'event_slots',
      statements: () => [`UPDATE memory_nodes SET slots = jsonb_set(slots, '{system_kind}', '"note"') WHERE ${B} AND client_id = 'session_event:sess-1:e1'`],
    },
    {
      check: 'session_nodes_well_formed',
      what: 'a session event whose part_of edge goes to another session than its client id names',
      problem: 'no_part_of_edge_to_session',
      statements: () => [`UPDATE memory_nodes SET client_id = 'session_event:sess-2:e1' WHERE ${A} AND client_id = 'session_event:sess-1:e1'`],
    },
    // ---- pack imports
    { check: 'pack_imports_have_commits', what: 'a pack import naming a commit that does not exist', statements: () => ["UPDATE memory_pack_imports SET commit_id = '00000000-0000-4000-8000-000000000000' WHERE tenant_id = 'sc-a'"] },
    { check: 'pack_imports_have_commits', what: 'a pack import naming a write commit of another scope', statements: async () => [`UPDATE memory_pack_imports SET commit_id = '${await commitOf(B, 1)}' WHERE tenant_id = 'sc-b'`] },
    {
      check: 'pack_imports_have_commits',
      what: 'a pack import naming a commit of its scope that is not a write',
      statements: () => ["UPDATE memory_pack_imports SET commit_id = (SELECT commit_id FROM memory_commits WHERE tenant_id = 'sc-a' AND scope = 'packed' AND kind = 'nodes_activate') WHERE tenant_id = 'sc-a'"],
    },
    // ---- the stored-node counter
    { check: 'stored_node_counter_matches', what: 'a counter above the node count', statements: () => ["UPDATE memory_tenant_counters SET nodes = nodes + 1 WHERE tenant_id = 'sc-a'"] },
    { check: 'stored_node_counter_matches', what: 'a tenant with nodes and no counter', statements: () => ["DELETE FROM memory_tenant_counters WHERE tenant_id = 'sc-b'"] },
    // ---- embeddings
    { check: 'embedding_status_matches_vector', what: "a 'ready' node without a vector", problem: 'ready_without_vector', statements: () => [`UPDATE memory_nodes SET embedding = NULL WHERE ${A} AND client_id = 'n1'`] },
    { check: 'embedding_status_matches_vector', what: "a vector on a 'failed' node", problem: 'vector_without_ready', statements: () => [`UPDATE memory_nodes SET embedding_status = 'failed' WHERE ${B} AND client_id = 'm0'`] },
    { check: 'embedding_status_matches_vector', what: 'a ready vector without its model', problem: 'ready_without_model', statements: () => [`UPDATE memory_nodes SET embedding_model = NULL WHERE ${A} AND client_id = 'm1'`] },
    {
      check: 'embedding_status_matches_vector',
      what: 'a pgvector column that no longer mirrors the vector',
      problem: 'vector_column_out_of_sync',
      pgvectorOnly: true,
      statements: () => [`UPDATE memory_nodes SET embedding_vec = NULL WHERE ${A} AND client_id = 'm0'`],
    },
    { check: 'embedding_dimensions_valid', what: 'a vector of the wrong dimension', statements: () => [NO_VECTOR_TRIGGER, `UPDATE memory_nodes SET embedding = embedding[1:10] WHERE ${A} AND client_id = 'm1'`] },
    { check: 'embedding_dimensions_valid', what: 'a vector with a NaN component', statements: () => [NO_VECTOR_TRIGGER, `UPDATE memory_nodes SET embedding[2] = 'NaN' WHERE ${B} AND client_id = 'n0'`] },
    { check: 'embedding_dimensions_valid', what: 'a two-dimensional vector array', statements: () => [NO_VECTOR_TRIGGER, `UPDATE memory_nodes SET embedding = ARRAY[embedding[1:4], embedding[5:8]] WHERE ${B} AND client_id = 'm1'`] },
    { check: 'embedding_dimensions_valid', what: "a deployment dimension that is not the vectors' (memory_settings)", statements: () => ["UPDATE memory_settings SET value = '256'::jsonb WHERE name = 'embedding_dimension'"] },
    {
      check: 'pending_embeddings_queued',
      what: 'a pending node no open job will embed',
      statements: () => [`UPDATE memory_nodes SET embedding_status = 'pending', embedding = NULL, embedding_model = NULL WHERE ${B} AND client_id = 'n1'`],
    },
    {
      check: 'pending_embeddings_queued',
      what: 'a pending node whose only open job lists it for another scope',
      statements: async () => {
        const node = await one<{ id: string }>(`SELECT node_id::text AS id FROM memory_nodes WHERE ${B} AND client_id = 'm1'`);
        const commit = await one<{ id: string }>("SELECT commit_id::text AS id FROM memory_commits WHERE tenant_id = 'sc-b' AND project_key = 'sc-b-p' AND scope = 'other'");
        return [
          `UPDATE memory_nodes SET embedding_status = 'pending', embedding = NULL, embedding_model = NULL WHERE ${B} AND client_id = 'm1'`,
          `INSERT INTO memory_outbox (job_id, tenant_id, project_key, scope, commit_id, type, payload, status, next_attempt_at, created_at, updated_at)
           VALUES ('00000000-0000-4000-8000-00000000000a', 'sc-b', 'sc-b-p', 'other', '${commit.id}', 'embed_nodes',
                   '{"nodes":[{"id":"${node.id}","scope":"other","text":"y1"}]}', 'pending', now() + interval '1 hour', now(), now())`,
        ];
      },
    },
    // ---- the outbox
    {
      check: 'outbox_attempts_within_max',
      what: 'a pending job that has used up its attempts',
      statements: () => [`UPDATE memory_outbox SET status = 'pending', attempts = max_attempts, next_attempt_at = now() + interval '1 hour' WHERE job_id = (SELECT job_id FROM memory_outbox WHERE tenant_id = 'sc-a' ORDER BY job_id LIMIT 1)`],
    },
    {
      check: 'outbox_attempts_within_max',
      what: 'a processing job past its attempts',
      statements: () => [`UPDATE memory_outbox SET status = 'processing', attempts = max_attempts + 1, claimed_at = now(), claimed_by = 'w' WHERE job_id = (SELECT job_id FROM memory_outbox WHERE tenant_id = 'sc-b' ORDER BY job_id LIMIT 1)`],
    },
    {
      check: 'outbox_claims_within_timeout',
      what: 'a job claimed an hour ago',
      statements: () => [`UPDATE memory_outbox SET status = 'processing', attempts = 1, claimed_at = now() - interval '1 hour', claimed_by = 'dead-worker' WHERE job_id = (SELECT job_id FROM memory_outbox WHERE tenant_id = 'sc-b' ORDER BY job_id LIMIT 1)`],
    },
    {
      check: 'outbox_claims_within_timeout',
      what: 'a processing job without a claim time',
      statements: () => [`UPDATE memory_outbox SET status = 'processing', attempts = 1, claimed_at = NULL WHERE job_id = (SELECT job_id FROM memory_outbox WHERE tenant_id = 'sc-a' ORDER BY job_id LIMIT 1)`],
    },
  ];

  const failsAlone = async (name: string, _what: string, c: Corruption) => {
    if (c.pgvectorOnly) expect(t.service.app.get(VectorSupport).enabled).toBe(true);
    const results = await checksWith(await c.statements());
    expect(failing(results).sort()).toEqual([name, ...(c.also ?? [])].sort());
    const failed = results.find((r) => r.name === name)!;
    expect(failed.count).toBeGreaterThan(0);
    expect(failed.sample.length).toBeGreaterThan(0);
    // The kind of break each check names, where it names one.
    if (c.problem) expect(failed.sample).toContainEqual(expect.objectContaining({ problem: c.problem }));
    // Rolled back: clean again.
    expect(failing(await runScopeChecks(t.tdb.database))).toEqual([]);
  };
  const rows = (cs: readonly Corruption[]) => cs.map((c) => [c.check, c.what, c] as const);
  it.each(rows(corruptions.filter((c) => !c.pgvectorOnly)))('%s fails (alone) on %s', failsAlone);
  // The pgvector column exists on the embedded PGlite (PostgreSQL 15 here has no vector extension).
  onlyIf(!usingPostgres(), 'needs the pgvector column, which exists on the embedded PGlite only (the PostgreSQL here has no vector extension)').it.each(rows(corruptions.filter((c) => c.pgvectorOnly === true)))('%s fails (alone) on %s', failsAlone);

  it('every check has at least one corruption that fails it, and alone', () => {
    expect(new Set(corruptions.filter((c) => c.also === undefined).map((c) => c.check))).toEqual(new Set(SCOPE_CHECKS));
  });

  it('--tenant and --scope limit the checks to the chosen scopes', async () => {
    const tamper = [`UPDATE memory_commits SET input_sha256 = ${ZERO} WHERE ${A} AND seq = 1`];
    expect(failing(await checksWith(tamper, { tenantId: 'sc-a' }))).toEqual(['commit_hash_valid']);
    expect(failing(await checksWith(tamper, { tenantId: 'sc-a', scope: 's' }))).toEqual(['commit_hash_valid']);
    expect(failing(await checksWith(tamper, { tenantId: 'sc-b' }))).toEqual([]);
    expect(failing(await checksWith(tamper, { tenantId: 'sc-a', scope: 'other' }))).toEqual([]);
    expect(failing(await checksWith(tamper, { scope: 's' }))).toEqual(['commit_hash_valid']);
    // The tenant-wide namespace's scope `s` is selected by --scope s too.
    const wide = ["UPDATE memory_commits SET input_sha256 = repeat('0', 64) WHERE tenant_id = 'sc-b' AND project_key = '' AND scope = 's'"];
    expect(failing(await checksWith(wide, { scope: 's' }))).toEqual(['commit_hash_valid']);
    expect(failing(await checksWith(wide, { scope: 'packed' }))).toEqual([]);
  });

  it('--max-attempts lowers the attempt limit below the one recorded on each job', async () => {
    const job = [`UPDATE memory_outbox SET status = 'pending', attempts = 2, next_attempt_at = now() + interval '1 hour' WHERE job_id = (SELECT job_id FROM memory_outbox WHERE tenant_id = 'sc-a' ORDER BY job_id LIMIT 1)`];
    expect(failing(await checksWith(job))).toEqual([]);
    expect(failing(await checksWith(job, { maxAttempts: 2 }))).toEqual(['outbox_attempts_within_max']);
  });

  it('--claim-timeout-ms sets how old a claim may be', async () => {
    const job = [`UPDATE memory_outbox SET status = 'processing', attempts = 1, claimed_at = now() - interval '10 seconds', claimed_by = 'w' WHERE job_id = (SELECT job_id FROM memory_outbox WHERE tenant_id = 'sc-a' ORDER BY job_id LIMIT 1)`];
    expect(failing(await checksWith(job))).toEqual([]);
    const results = await checksWith(job, { claimTimeoutMs: 1000 });
    expect(failing(results)).toEqual(['outbox_claims_within_timeout']);
    expect(results.find((r) => r.name === 'outbox_claims_within_timeout')).toMatchObject({ severity: 'warning', count: 1 });
  });

  pgOnly.it('the CLI exits 0 clean, 2 on an error, 2 on a warning only with --strict-warnings, 1 on usage errors; --out writes summary.json', async () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['-r', join(ROOT, 'test/support/swc-register.cjs'), join(ROOT, 'src/ops/cli/consistency-scope.ts'), '--json', ...args], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DATABASE_URL: t.tdb.url ?? '' },
        encoding: 'utf8',
      });
    const clean = run();
    expect(clean.status).toBe(0);
    expect(JSON.parse(clean.stdout)).toMatchObject({ ok: true, gate: 'scope', errors: 0, warnings: 0, options: { max_attempts: 8, claim_timeout_ms: 300_000 } });

    // A warning: a claim 10 s old, stale for --claim-timeout-ms 1000 (the worker's own timeout is 300 s, so it stays).
    await sql`UPDATE memory_outbox SET status = 'processing', claimed_at = now() - interval '10 seconds', claimed_by = 'w'
      WHERE job_id = (SELECT job_id FROM memory_outbox WHERE tenant_id = 'sc-b' ORDER BY job_id LIMIT 1)`.execute(db());
    expect(run().status).toBe(0);
    expect(run('--claim-timeout-ms', '1000').status).toBe(0);
    const strict = run('--claim-timeout-ms', '1000', '--strict-warnings');
    expect(strict.status).toBe(2);
    expect(JSON.parse(strict.stdout)).toMatchObject({ ok: false, warnings: 1, errors: 0, failing: ['outbox_claims_within_timeout'] });
    await sql`UPDATE memory_outbox SET status = 'done', claimed_at = NULL, claimed_by = NULL WHERE status = 'processing'`.execute(db());

    // An error: tampered commit content in sc-a.
    await sql.raw(`UPDATE memory_commits SET input_sha256 = ${ZERO} WHERE ${A} AND seq = 1`).execute(db());
    const out = mkdtempSync(join(tmpdir(), 'aionis-scope-'));
    try {
      const failed = run('--out', out);
      expect(failed.status).toBe(2);
      const summary = JSON.parse(failed.stdout);
      expect(summary).toMatchObject({ ok: false, gate: 'scope', errors: 1, failing: ['commit_hash_valid'] });
      expect(summary.checks.find((c: { name: string }) => c.name === 'commit_hash_valid')).toMatchObject({ pass: false, count: 1, severity: 'error' });
      expect(existsSync(join(out, 'summary.json'))).toBe(true);
      expect(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'))).toEqual(summary);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    expect(run('--tenant', 'sc-b').status).toBe(0);
    expect(run('--tenant', 'sc-a', '--scope', 'other').status).toBe(0);
    expect(run('--tenant', 'sc-a').status).toBe(2);

    const unknown = run('--bogus');
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain("unknown option '--bogus'");
    expect(run('--max-attempts', 'many').status).toBe(1);
  }, 120_000);
});
