import { type RawBuilder, sql } from 'kysely';
import { runScopeChecks } from '../../src/ops/checks/scope';
import { type ContractEnv, startContractEnv, TENANT } from '../support/contract';

/**
 * The policy provenance checks of job:consistency-check:scope: on a system seeded through the real
 * API they all pass; each corruption (made inside a transaction that is rolled back) fails exactly
 * its own check.
 */
describe('scope checks: policy provenance', () => {
  let env: ContractEnv;
  let rule = '';
  let decision = '';
  const scope = 'provenance';
  const POLICY_CHECKS = ['feedback_links_decision', 'feedback_run_id_agrees_with_decision', 'decision_source_rules_exist', 'rule_definitions_match_history'];
  const post = (path: string, body: object) => env.api.post(`/v1/memory/${path}`).set(env.as('plain')).send(body);

  beforeAll(async () => {
    env = await startContractEnv();
    const w = await post('write', { scope, input_text: 'r', memory_lane: 'shared', nodes: [{ client_id: 'r1', type: 'rule', slots: { if: { intent: 'x' }, then: { tool: { prefer: ['a'] } } } }] });
    rule = w.body.nodes[0].id;
    await post('rules/state', { scope, rule_node_id: rule, state: 'shadow', input_text: 's' }).expect(200);
    await post('rules/state', { scope, rule_node_id: rule, state: 'active', input_text: 'a' }).expect(200);
    const s = await post('tools/select', { scope, run_id: 'run-1', context: { intent: 'x' }, candidates: ['a', 'b'] });
    decision = s.body.decision.decision_id;
    await post('tools/feedback', { scope, run_id: 'run-1', decision_id: decision, outcome: 'positive', context: { intent: 'x' }, candidates: ['a', 'b'], selected_tool: 'a', input_text: 'good' }).expect(200);
    await post('tools/feedback', { scope, outcome: 'negative', context: { intent: 'x' }, candidates: ['b', 'a'], selected_tool: 'a', input_text: 'no decision: created from feedback' }).expect(200);
    await post('feedback', { scope, rule_node_id: rule, outcome: 'positive', input_text: 'direct' }).expect(200);
  });
  afterAll(async () => {
    await env.stop();
  });

  const run = async (corrupt?: RawBuilder<unknown>) => {
    const db = env.t.tdb.database.db;
    return db.transaction().execute(async (trx) => {
      if (corrupt) await corrupt.execute(trx);
      const results = await runScopeChecks({ ...env.t.tdb.database, db: trx } as never, { tenantId: TENANT });
      throw Object.assign(new Error('rollback'), { results });
    }).catch((e: { results?: { name: string; pass: boolean }[] }) => {
      if (!e.results) throw e;
      return e.results;
    });
  };
  const failing = (results: { name: string; pass: boolean }[]) => results.filter((r) => !r.pass).map((r) => r.name);

  it('given a system seeded through the API, then every scope check passes', async () => {
    const results = await run();
    expect(failing(results)).toEqual([]);
    for (const name of POLICY_CHECKS) expect(results.map((r) => r.name)).toContain(name);
  });

  it.each([
    ['feedback_links_decision', () => sql`DELETE FROM memory_decisions WHERE decision_id = ${decision}::uuid`],
    ['feedback_run_id_agrees_with_decision', () => sql`UPDATE memory_decisions SET run_id = 'run-other' WHERE decision_id = ${decision}::uuid`],
    ['decision_source_rules_exist', () => sql`UPDATE memory_decisions SET source_rule_ids = '["00000000-0000-4000-8000-000000000000"]'::jsonb WHERE decision_id = ${decision}::uuid`],
    ['rule_definitions_match_history', () => sql`UPDATE memory_rule_defs SET positive_count = positive_count + 5 WHERE rule_node_id = ${rule}::uuid`],
    ['rule_definitions_match_history', () => sql`UPDATE memory_rule_defs SET state = 'disabled' WHERE rule_node_id = ${rule}::uuid`],
  ])('given %s broken, then that check alone fails', async (name, corrupt) => {
    expect(failing(await run(corrupt()))).toEqual([name]);
  });
});
