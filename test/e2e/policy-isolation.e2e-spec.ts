import { sql } from 'kysely';
import { axisVector, type ContractEnv, expectContractError, type KeyName, OTHER_TENANT, startContractEnv, TENANT } from '../support/contract';

/**
 * Isolation canaries for Memory -> Policy: three namespaces share the scope name `iso` (tenant A's
 * tenant-wide namespace, tenant A's project `contract-a-p1`, tenant B). Each writes rules whose
 * summaries, conditions and tools carry a canary string of its own. No namespace's rules ever
 * match, appear (rules/evaluate, tools/select, the recall rules block) or link (tools/feedback
 * decision ids, rules/state, /feedback) in another, and no canary string of one namespace ever
 * appears in a response to another. Refusals write nothing and leave the owner's statistics alone.
 */
type Ns = 'A' | 'P' | 'B';
const KEY: Record<Ns, KeyName> = { A: 'plain', P: 'project', B: 'other' };
const TENANT_OF: Record<Ns, string> = { A: TENANT, P: TENANT, B: OTHER_TENANT };
const canary = (ns: Ns) => `CANARY-${ns}-7f3a`;
const scope = 'iso';

describe('policy isolation canaries across tenants and projects', () => {
  let env: ContractEnv;
  const rules: Record<Ns, { open: string; guarded: string }> = { A: { open: '', guarded: '' }, P: { open: '', guarded: '' }, B: { open: '', guarded: '' } };
  const decisions: Partial<Record<Ns, string>> = {};
  /** A context that satisfies every namespace's guarded condition. */
  const everyone = { marker: [canary('A'), canary('P'), canary('B')], intent: 'iso' };
  const post = (path: string, body: unknown, ns: Ns) => env.api.post(`/v1/memory/${path}`).set(env.as(KEY[ns])).send(body as object);
  const others = (ns: Ns) => (['A', 'P', 'B'] as const).filter((o) => o !== ns);
  const expectNoForeignCanary = (ns: Ns, body: unknown) => {
    const text = JSON.stringify(body);
    for (const o of others(ns)) {
      expect({ ns, foreign: o, leaked: text.includes(canary(o)) }).toEqual({ ns, foreign: o, leaked: false });
      for (const id of Object.values(rules[o])) expect({ ns, foreign: o, leaked: text.includes(id) }).toEqual({ ns, foreign: o, leaked: false });
    }
  };

  beforeAll(async () => {
    env = await startContractEnv();
    for (const ns of ['A', 'P', 'B'] as const) {
      // The same client ids in every namespace: the ids must still differ (scope keys differ).
      const res = await post(
        'write',
        {
          scope,
          input_text: `rules of ${ns}`,
          memory_lane: 'shared',
          auto_embed: false,
          nodes: [
            { client_id: 'rule:open', type: 'rule', text_summary: `${canary(ns)} summary`, slots: { then: { tool: { prefer: [`tool-${canary(ns)}`] }, extensions: { owner: canary(ns) } } } },
            { client_id: 'rule:guarded', type: 'rule', text_summary: `guarded ${canary(ns)}`, slots: { if: { marker: { $contains: canary(ns) } }, then: { tool: { deny: [`deny-${canary(ns)}`] } } } },
          ],
        },
        ns,
      );
      expect(res.status).toBe(200);
      rules[ns] = { open: res.body.nodes[0].id, guarded: res.body.nodes[1].id };
      for (const id of Object.values(rules[ns])) expect((await post('rules/state', { scope, rule_node_id: id, state: 'active', input_text: `promote ${ns}` }, ns)).status).toBe(200);
    }
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('gives the same client ids different rule ids in each namespace', () => {
    const all = (['A', 'P', 'B'] as const).flatMap((ns) => Object.values(rules[ns]));
    expect(new Set(all).size).toBe(6);
  });

  it.each(['A', 'P', 'B'] as const)('rules/evaluate in %s sees its own two rules only, and no foreign canary', async (ns) => {
    const res = await post('rules/evaluate', { scope, context: everyone }, ns);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ tenant_id: TENANT_OF[ns], scope, considered: 2, matched: 2 });
    expect(res.body.active.map((m: { rule_node_id: string }) => m.rule_node_id).sort()).toEqual(Object.values(rules[ns]).sort());
    expect(res.body.applied.policy).toEqual({ extensions: { owner: canary(ns) }, tool: { deny: [`deny-${canary(ns)}`], prefer: [`tool-${canary(ns)}`] } });
    expect(JSON.stringify(res.body)).toContain(canary(ns));
    expectNoForeignCanary(ns, res.body);
  });

  it.each(['A', 'P', 'B'] as const)("tools/select in %s is shaped by its own rules only; the foreign tools are neither preferred nor denied", async (ns) => {
    const candidates = (['A', 'P', 'B'] as const).flatMap((o) => [`deny-${canary(o)}`, `tool-${canary(o)}`]);
    const res = await post('tools/select', { scope, context: everyone, candidates, run_id: `run-${ns}` }, ns);
    expect(res.status).toBe(200);
    expect(res.body.selection.selected).toBe(`tool-${canary(ns)}`);
    expect(res.body.selection.denied).toEqual([{ name: `deny-${canary(ns)}`, reason: 'deny_list' }]);
    expect(res.body.decision.source_rule_ids.sort()).toEqual(Object.values(rules[ns]).sort());
    decisions[ns] = res.body.decision.decision_id;
    // The candidates echo every namespace's tool names: check the rest of the response.
    const { candidates: _c, selection: _s, ...rest } = res.body;
    expectNoForeignCanary(ns, rest);
  });

  it.each(['A', 'P', 'B'] as const)('the recall rules block in %s holds its own rules only', async (ns) => {
    const res = await post('recall', { scope, query_embedding: axisVector(0), rules_context: everyone, rules_include_shadow: true }, ns);
    expect(res.status).toBe(200);
    expect(res.body.rules).toMatchObject({ scope, considered: 2, matched: 2 });
    expect(res.body.rules.applied.sources.map((s: { rule_node_id: string }) => s.rule_node_id).sort()).toEqual(Object.values(rules[ns]).sort());
    expectNoForeignCanary(ns, res.body);
  });

  it("never links a foreign decision: another namespace's decision_id is decision_not_found_in_scope, even with an attributable rule", async () => {
    expect(Object.keys(decisions).sort()).toEqual(['A', 'B', 'P']);
    const before = await env.counts();
    const statsBefore = await sql`SELECT rule_node_id, positive_count, negative_count FROM memory_rule_defs ORDER BY rule_node_id`.execute(env.t.tdb.database.db);
    for (const ns of ['A', 'P', 'B'] as const) {
      for (const o of others(ns)) {
        const candidates = (['A', 'P', 'B'] as const).flatMap((x) => [`deny-${canary(x)}`, `tool-${canary(x)}`]);
        const res = await post('tools/feedback', { scope, decision_id: decisions[o], context: everyone, candidates, selected_tool: `tool-${canary(o)}`, outcome: 'negative', input_text: 'cross' }, ns);
        expect({ ns, o, status: res.status, error: res.body?.error }).toEqual({ ns, o, status: 400, error: 'decision_not_found_in_scope' });
        expectContractError(res, 400, 'decision_not_found_in_scope');
        expect(res.body.details).toEqual({ decision_id: decisions[o], scope, tenant_id: TENANT_OF[ns] });
        expectNoForeignCanary(ns, res.body);
      }
    }
    expect(await env.counts()).toEqual(before);
    expect((await sql`SELECT rule_node_id, positive_count, negative_count FROM memory_rule_defs ORDER BY rule_node_id`.execute(env.t.tdb.database.db)).rows).toEqual(statsBefore.rows);
    // Its own decision links (the refusals above could pass).
    const own = await post('tools/feedback', { scope, decision_id: decisions.A, context: everyone, candidates: (['A', 'P', 'B'] as const).flatMap((x) => [`deny-${canary(x)}`, `tool-${canary(x)}`]), selected_tool: `tool-${canary('A')}`, run_id: 'run-A', outcome: 'positive', input_text: 'own' }, 'A');
    expect(own.body).toMatchObject({ decision_id: decisions.A, decision_link_mode: 'provided', updated_rules: 2 });
  });

  it("never moves or credits a foreign rule: rules/state and /feedback answer rule_not_found_in_scope, and the owner's rule is unchanged", async () => {
    const before = await env.counts();
    const eventsBefore = (await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_events`.execute(env.t.tdb.database.db)).rows[0]!.n;
    for (const ns of ['A', 'P', 'B'] as const) {
      for (const o of others(ns)) {
        for (const id of Object.values(rules[o])) {
          for (const [path, body] of [
            ['rules/state', { scope, rule_node_id: id, state: 'disabled', input_text: 'hostile' }],
            ['feedback', { scope, rule_node_id: id, outcome: 'negative', input_text: 'hostile' }],
          ] as const) {
            const res = await post(path, body, ns);
            expect({ ns, o, path, status: res.status, error: res.body?.error }).toEqual({ ns, o, path, status: 400, error: 'rule_not_found_in_scope' });
            expectContractError(res, 400, 'rule_not_found_in_scope');
            expect(res.body.details).toEqual({ rule_node_id: id, scope, tenant_id: TENANT_OF[ns] });
          }
        }
      }
    }
    expect(await env.counts()).toEqual(before);
    expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_events`.execute(env.t.tdb.database.db)).rows[0]!.n).toBe(eventsBefore);
    // Every rule is still active in its own namespace.
    for (const ns of ['A', 'P', 'B'] as const) expect((await post('rules/evaluate', { scope, context: everyone }, ns)).body.considered).toBe(2);
  });

  it('refuses to name another tenant in any policy route (403 identity_mismatch), writing nothing', async () => {
    const before = await env.counts();
    for (const [path, body] of [
      ['rules/evaluate', { scope }],
      ['tools/select', { scope, candidates: ['a'] }],
      ['tools/feedback', { scope, candidates: ['a'], selected_tool: 'a', outcome: 'positive', input_text: 'x' }],
      ['rules/state', { scope, rule_node_id: rules.A.open, state: 'disabled', input_text: 'x' }],
      ['feedback', { scope, rule_node_id: rules.A.open, outcome: 'negative', input_text: 'x' }],
    ] as const) {
      const viaBody = await post(path, { ...body, tenant_id: TENANT }, 'B');
      expect({ path, status: viaBody.status, error: viaBody.body?.error }).toEqual({ path, status: 403, error: 'identity_mismatch' });
      expectContractError(viaBody, 403, 'identity_mismatch');
      const viaHeader = await env.api.post(`/v1/memory/${path}`).set(env.as('other')).set('x-tenant-id', TENANT).send(body);
      expectContractError(viaHeader, 403, 'identity_mismatch');
      expectNoForeignCanary('B', viaBody.body);
    }
    expect(await env.counts()).toEqual(before);
  });
});
