import { sql } from 'kysely';
import { runCli } from '../support/cli';
import { type ContractEnv, startContractEnv, TENANT } from '../support/contract';
import { pgOnly } from '../support/skips';

/**
 * Every tools/select decision is verifiable: audit:decision (and its admin endpoint) re-evaluates
 * the rules as they stood at the decision's commit, folded from the scope's chain, and confirms
 * the same policy hash, source rules and selection, or names what differs.
 */
describe('audit:decision: a decision re-evaluated from the chain', () => {
  let env: ContractEnv;
  let ruleA = '';
  let ruleB = '';
  let decision = '';
  let later = '';
  const scope = 'decisions';
  const post = (path: string, body: object) => env.api.post(`/v1/memory/${path}`).set(env.as('plain')).send(body);
  const verify = (id: string) => env.api.get(`/v1/admin/control/tenants/${TENANT}/decisions/${id}/verify`).set(env.t.auth);

  beforeAll(async () => {
    env = await startContractEnv();
    const w = await post('write', {
      scope,
      input_text: 'rules',
      memory_lane: 'shared',
      nodes: [
        { client_id: 'rule:prefer', type: 'rule', text_summary: 'prefer search', slots: { if: { intent: 'booking' }, then: { tool: { prefer: ['flight_search'] } } } },
        { client_id: 'rule:deny', type: 'rule', text_summary: 'no browsing', slots: { if: { intent: 'booking' }, then: { tool: { deny: ['web_browse'] } } } },
      ],
    });
    [ruleA, ruleB] = [w.body.nodes[0].id, w.body.nodes[1].id];
    await post('rules/state', { scope, rule_node_id: ruleA, state: 'active', input_text: 'promote' }).expect(200);
    const s = await post('tools/select', { scope, run_id: 'r1', context: { intent: 'booking' }, candidates: ['web_browse', 'flight_search'] });
    expect(s.body.selection.selected).toBe('flight_search');
    decision = s.body.decision.decision_id;
    // Later history: the deny rule goes active, feedback arrives. The first decision must still verify against the rules as they stood then.
    await post('rules/state', { scope, rule_node_id: ruleB, state: 'active', input_text: 'promote too' }).expect(200);
    await post('tools/feedback', { scope, run_id: 'r1', decision_id: decision, outcome: 'negative', context: { intent: 'booking' }, candidates: ['web_browse', 'flight_search'], selected_tool: 'flight_search', input_text: 'slow' }).expect(200);
    const s2 = await post('tools/select', { scope, context: { intent: 'booking' }, candidates: ['web_browse', 'flight_search'], strict: false });
    later = s2.body.decision.decision_id;
  });
  afterAll(async () => {
    await env.stop();
  });

  it('given an untouched history, then both decisions verify, each against the rules of its own time', async () => {
    for (const id of [decision, later]) {
      const r = await verify(id);
      expect(r.status).toBe(200);
      expect(r.body.ok).toBe(true);
      expect(r.body.checks.map((c: { name: string; pass: boolean }) => [c.name, c.pass])).toEqual([
        ['decision_hash_valid', true],
        ['stored_policy_matches_hash', true],
        ['stored_context_matches_hash', true],
        ['rules_head_in_chain', true],
        ['chain_intact_to_head', true],
        ['selection_recomputed', true],
        ['policy_recomputed', true],
        ['source_rules_recomputed', true],
      ]);
    }
    const first = (await verify(decision)).body;
    expect(first.decision).toMatchObject({ decision_id: decision, run_id: 'r1', selected_tool: 'flight_search', source_rule_ids: [ruleA], feedback_commit_id: expect.any(String) });
    expect(first.recomputed.source_rule_ids).toEqual([ruleA]);
    const second = (await verify(later)).body;
    expect(second.recomputed.source_rule_ids.sort()).toEqual([ruleA, ruleB].sort());
  });

  const tamper = async (update: ReturnType<typeof sql>, id: string) => {
    const db = env.t.tdb.database.db;
    return db.transaction().execute(async (trx) => {
      await update.execute(trx);
      // Verify on the tampered state, inside the transaction, then roll it back.
      const { auditDecision } = await import('../../src/data-plane/memory/decision-audit');
      const report = await auditDecision({ ...env.t.tdb.database, db: trx } as never, TENANT, id);
      throw Object.assign(new Error('rollback'), { report });
    }).catch((e: { report?: unknown }) => e.report as { ok: boolean; checks: { name: string; pass: boolean }[] });
  };
  const failed = (r: { checks: { name: string; pass: boolean }[] }) => r.checks.filter((c) => !c.pass).map((c) => c.name);

  it('given a tampered stored policy, then the decision no longer verifies and the check names it', async () => {
    const r = await tamper(sql`UPDATE memory_decisions SET policy = '{"tool":{"prefer":["web_browse"]}}'::jsonb WHERE decision_id = ${decision}::uuid`, decision);
    expect(r.ok).toBe(false);
    expect(failed(r)).toEqual(['stored_policy_matches_hash']);
  });

  it('given a policy hash and selection rewritten consistently, then the re-evaluation from the chain disagrees', async () => {
    const r = await tamper(
      sql`UPDATE memory_decisions SET policy = '{"tool":{"prefer":["web_browse"]}}'::jsonb, selected_tool = 'web_browse',
             policy_sha256 = encode(sha256(convert_to('{"tool":{"prefer":["web_browse"]}}', 'UTF8')), 'hex') WHERE decision_id = ${decision}::uuid`,
      decision,
    );
    expect(failed(r)).toEqual(expect.arrayContaining(['decision_hash_valid', 'selection_recomputed', 'policy_recomputed']));
  });

  it("given a rule's condition edited afterwards in the database, then the past decision no longer recomputes", async () => {
    const r = await tamper(sql`UPDATE memory_nodes SET slots = jsonb_set(slots, '{if}', '{"intent":"other"}') WHERE node_id = ${ruleA}::uuid`, decision);
    expect(failed(r)).toEqual(expect.arrayContaining(['policy_recomputed', 'source_rules_recomputed']));
  });

  it("given the decision's head commit removed, then the head is not in the chain; given an earlier one removed, then the chain is broken", async () => {
    const head = await tamper(sql`DELETE FROM memory_commits WHERE tenant_id = ${TENANT} AND scope = ${scope} AND seq = 2`, decision);
    expect(failed(head)).toEqual(['rules_head_in_chain']);
    const earlier = await tamper(sql`DELETE FROM memory_commits WHERE tenant_id = ${TENANT} AND scope = ${scope} AND seq = 1`, decision);
    // The rules still fold (a state change creates a missing definition from the node's slots, §5.3): only the break shows.
    expect(failed(earlier)).toEqual(['chain_intact_to_head']);
  });

  it('answers 404 for a decision of another tenant, and auditors may read it', async () => {
    const other = await env.api.get(`/v1/admin/control/tenants/contract-b/decisions/${decision}/verify`).set(env.t.auth);
    expect(other.status).toBe(404);
    const bad = await env.api.get(`/v1/admin/control/tenants/${TENANT}/decisions/not-a-uuid/verify`).set(env.t.auth);
    expect(bad.status).toBe(400);
  });

  pgOnly.it('the CLI: exit 0 when verified, 2 when it differs, 1 for an unknown decision; --json', async () => {
    const envVars = { DATABASE_URL: env.t.tdb.url! };
    const ok = await runCli<{ ok: boolean }>('audit-decision.ts', ['--tenant', TENANT, '--decision-id', decision, '--json'], envVars);
    expect(ok.status).toBe(0);
    expect(ok.out?.ok).toBe(true);
    const unknown = await runCli('audit-decision.ts', ['--tenant', TENANT, '--decision-id', '00000000-0000-4000-8000-000000000000'], envVars);
    expect(unknown.status).toBe(1);
    await sql`UPDATE memory_decisions SET selected_tool = 'web_browse' WHERE decision_id = ${later}::uuid`.execute(env.t.tdb.database.db);
    const differs = await runCli('audit-decision.ts', ['--tenant', TENANT, '--decision-id', later], envVars);
    expect(differs.status).toBe(2);
    expect(differs.stdout).toMatch(/DIFFERS/);
    expect(differs.stdout).toMatch(/FAIL decision_hash_valid/);
  });
});
