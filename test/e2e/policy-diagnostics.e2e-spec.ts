import { type ContractEnv, startContractEnv } from '../support/contract';

/**
 * What the policy engine could not evaluate is visible to operators: a `$regex` the linear engine
 * refuses (lookaround) is false, and counted by route in `aionis_policy_regex_skipped_total`; a rule
 * whose condition runs out of budget does not match, and is counted in
 * `aionis_policy_rules_budget_exhausted_total`. Neither changes the contract's answer.
 */
describe('policy diagnostics', () => {
  let env: ContractEnv;
  beforeAll(async () => {
    env = await startContractEnv();
  });
  afterAll(async () => {
    await env?.stop();
  });

  const post = (path: string, body: object) => env.api.post(`/v1/memory/${path}`).set(env.as('plain')).send(body);
  const metric = async (name: string, route: string): Promise<number> => {
    const text = (await env.api.get('/metrics')).text;
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`route="${route}"`));
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  const activeRule = async (scope: string, clientId: string, cond: object): Promise<string> => {
    const w = await post('write', { scope, input_text: clientId, auto_embed: false, nodes: [{ client_id: clientId, type: 'rule', memory_lane: 'shared', slots: { if: cond, then: { tool: { prefer: [clientId] } } } }] });
    expect(w.status).toBe(200);
    const id = (w.body.nodes as { id: string }[])[0]!.id;
    const s = await post('rules/state', { scope, rule_node_id: id, state: 'active', input_text: `activate ${clientId}` });
    expect({ status: s.status, body: s.body }).toEqual({ status: 200, body: expect.anything() });
    return id;
  };

  it('counts a refused $regex and an exhausted budget by route, and answers as the contract says', async () => {
    const scope = 'diag';
    const lookaround = await activeRule(scope, 'lookaround', { intent: { $regex: '^(?=book)' } });
    const plain = await activeRule(scope, 'plain', { intent: { $regex: '^book' } });
    // A condition that walks a long array element by element: more steps than one rule's budget.
    const heavy = await activeRule(scope, 'heavy', { items: { $contains: 'needle' } });
    const before = { regex: await metric('aionis_policy_regex_skipped_total', 'rules/evaluate'), budget: await metric('aionis_policy_rules_budget_exhausted_total', 'rules/evaluate') };

    const res = await post('rules/evaluate', { scope, context: { intent: 'booking', items: Array.from({ length: 20_000 }, (_, i) => `item-${i}`) } });
    expect(res.status).toBe(200);
    const matched = (res.body.active as { rule_node_id: string }[]).map((m) => m.rule_node_id);
    expect(matched).toContain(plain);
    expect(matched).not.toContain(lookaround);
    expect(matched).not.toContain(heavy);

    await new Promise((r) => setTimeout(r, 50));
    expect(await metric('aionis_policy_regex_skipped_total', 'rules/evaluate')).toBe(before.regex + 1);
    expect(await metric('aionis_policy_rules_budget_exhausted_total', 'rules/evaluate')).toBe(before.budget + 1);
  });
});
