import { sql } from 'kysely';
import { type ContractEnv, type KeyName, startContractEnv, TENANT } from '../support/contract';

/**
 * The Memory -> Policy story, end to end through the memory API (contract §2.11-§2.15, §5, §6): an
 * operator writes two rules and promotes them through shadow to active; an agent selects tools
 * under them and reports outcomes (positive for one rule's tool, negative for the other's); the
 * statistics reorder `active`, `applied.policy.tool.prefer` and the selected tool. Every step
 * leaves its audit facts: a RuleStateChanged event per state change, a verified commit chain,
 * decisions linked to the feedback commits.
 *
 * The rules' conditions overlap only in the full context, so each outcome can be credited to one
 * rule: feedback credits every matched rule whose patch touches `tool` (§6.2 step 2).
 */
interface AuditEntry {
  type: string;
  request_id: string | null;
  actor: { type: string; id: string };
  data: Record<string, unknown>;
}

describe('policy story: rules promoted, tools selected, outcomes fed back, selection changed', () => {
  let env: ContractEnv;
  beforeAll(async () => {
    env = await startContractEnv();
  });
  afterAll(async () => {
    await env?.stop();
  });

  const scope = 'travel-desk';
  const candidates = ['hotel_search', 'web_browse', 'flight_search'];
  const full = { intent: 'booking', channel: 'web' };
  const onlyFlights = { intent: 'booking' };
  const onlyWeb = { intent: 'support', channel: 'web' };
  const ids: { flights: string; web: string } = { flights: '', web: '' };
  const post = (path: string, body: unknown, key: KeyName = 'plain', requestId?: string) => {
    const req = env.api.post(`/v1/memory/${path}`).set(env.as(key));
    if (requestId) req.set('x-request-id', requestId);
    return req.send(body as object);
  };
  const evaluate = async (context: unknown) => {
    const res = await post('rules/evaluate', { scope, context }, 'agentA');
    expect(res.status).toBe(200);
    return res.body;
  };
  const select = async (context: unknown, extra: Record<string, unknown> = {}) => {
    const res = await post('tools/select', { scope, context, candidates, ...extra }, 'agentA');
    expect(res.status).toBe(200);
    return res.body;
  };
  const promote = async (id: string, state: string, requestId: string) => {
    const res = await post('rules/state', { scope, rule_node_id: id, state, input_text: `${state} after review` }, 'plain', requestId);
    expect(res.status).toBe(200);
    return res.body as { commit_id: string; commit_hash: string };
  };
  const verify = async () => {
    const res = await post('commits/verify', { scope });
    expect(res.status).toBe(200);
    expect(res.body.ok).toBe(true);
    return res.body.commits as number;
  };
  const ruleEvents = async (n: number): Promise<AuditEntry[]> => {
    const until = Date.now() + 15_000;
    for (;;) {
      const res = await env.api.get('/v1/admin/control/audit-events').query({ type: 'RuleStateChanged', tenant_id: TENANT, limit: 1000 }).set(env.t.auth);
      expect(res.status).toBe(200);
      const items = (res.body.items as AuditEntry[]).filter((e) => e.data.scope === scope);
      if (items.length >= n || Date.now() > until) return items;
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const activeOrder = (body: { active: { rule_node_id: string }[] }) => body.active.map((m) => m.rule_node_id);

  it('1. writes two rules, which start as drafts and change nothing', async () => {
    const res = await post('write', {
      scope,
      input_text: 'travel desk tool rules',
      memory_lane: 'shared',
      auto_embed: false,
      nodes: [
        { client_id: 'rule:flights-first', type: 'rule', text_summary: 'Use flight search for bookings', slots: { if: { intent: 'booking' }, then: { tool: { prefer: ['flight_search'] }, output: { format: 'json' } } } },
        { client_id: 'rule:web-first', type: 'rule', text_summary: 'On the web channel, browse first', slots: { if: { channel: 'web', intent: { $exists: true } }, then: { tool: { prefer: ['web_browse'] } } } },
      ],
    });
    expect(res.status).toBe(200);
    ids.flights = res.body.nodes[0].id;
    ids.web = res.body.nodes[1].id;
    expect(await evaluate(full)).toMatchObject({ considered: 0, matched: 0, active: [], shadow: [] });
    const sel = await select(full);
    expect(sel.selection.selected).toBe('hotel_search');
    expect(sel.decision.source_rule_ids).toEqual([]);
    expect(await verify()).toBe(1);
  });

  it('2. in shadow, the rules are reported and previewed but never enforced', async () => {
    const a = await promote(ids.flights, 'shadow', 'story-flights-shadow');
    const b = await promote(ids.web, 'shadow', 'story-web-shadow');
    const ev = await evaluate(full);
    expect(ev).toMatchObject({ considered: 2, matched: 2, active: [] });
    expect(ev.shadow.map((m: { rule_node_id: string; commit_id: string }) => [m.rule_node_id, m.commit_id])).toEqual([
      [ids.web, b.commit_id],
      [ids.flights, a.commit_id],
    ]);
    expect(ev.applied.policy).toEqual({ tool: {} });
    expect(ev.applied.shadow_policy.tool.prefer).toEqual(['web_browse', 'flight_search']);
    const sel = await select(full, { include_shadow: true });
    expect(sel.selection.selected).toBe('hotel_search');
    expect(sel.rules.shadow_selection.selected).toBe('web_browse');
    expect(sel.decision).toMatchObject({ selected_tool: 'hotel_search', source_rule_ids: [] });
    // Feedback on a selection no active rule shaped is credited to nobody (shadow only when asked).
    const fb = await post('tools/feedback', { scope, context: full, candidates, selected_tool: 'hotel_search', decision_id: sel.decision.decision_id, outcome: 'negative', input_text: 'hotels were no use' }, 'agentA');
    expect(fb.body).toMatchObject({ updated_rules: 0, commit_id: null });
    expect(await verify()).toBe(3);
  });

  it('3. active, the higher-ranked rule (the more specific condition) wins the full context', async () => {
    await promote(ids.flights, 'active', 'story-flights-active');
    await promote(ids.web, 'active', 'story-web-active');
    const ev = await evaluate(full);
    expect(activeOrder(ev)).toEqual([ids.web, ids.flights]);
    expect(ev.active.map((m: { rank: { score: number } }) => m.rank.score)).toEqual([2, 1]);
    expect(ev.applied.policy).toEqual({ output: { format: 'json' }, tool: { prefer: ['web_browse', 'flight_search'] } });
    expect(ev.applied.tool_explain.conflicts).toEqual([expect.objectContaining({ code: 'prefer_competing_top_choice', winner_rule_node_id: ids.web })]);
    const sel = await select(full);
    expect(sel.selection).toMatchObject({ preferred: ['web_browse', 'flight_search'], ordered: ['web_browse', 'flight_search', 'hotel_search'], selected: 'web_browse' });
    expect(sel.decision.source_rule_ids).toEqual([ids.flights, ids.web]);
    expect(await verify()).toBe(5);
  });

  it("4. the agent's outcomes: flight_search worked where only the flights rule applied, web_browse failed where only the web rule applied", async () => {
    // Run 1: a booking outside the web channel. The decision is named.
    const s1 = await select(onlyFlights, { run_id: 'run-1' });
    expect(s1.selection.selected).toBe('flight_search');
    const f1 = await post('tools/feedback', { scope, run_id: 'run-1', decision_id: s1.decision.decision_id, context: onlyFlights, candidates, selected_tool: 'flight_search', outcome: 'positive', input_text: 'fare found in one call' }, 'agentA');
    expect(f1.body).toMatchObject({ updated_rules: 1, rule_node_ids: [ids.flights], decision_id: s1.decision.decision_id, decision_link_mode: 'provided', decision_policy_sha256: s1.decision.policy_sha256 });
    // Run 2: a support question on the web channel. The decision is inferred from the run.
    const s2 = await select(onlyWeb, { run_id: 'run-2' });
    expect(s2.selection.selected).toBe('web_browse');
    const f2 = await post('tools/feedback', { scope, run_id: 'run-2', context: onlyWeb, candidates, selected_tool: 'web_browse', outcome: 'negative', input_text: 'browsing timed out' }, 'agentA');
    expect(f2.body).toMatchObject({ updated_rules: 1, rule_node_ids: [ids.web], decision_id: s2.decision.decision_id, decision_link_mode: 'inferred' });
    // Each decision is linked to its feedback commit.
    const linked = await sql<{ decision_id: string; commit_id: string | null }>`
      SELECT decision_id::text AS decision_id, commit_id::text AS commit_id FROM memory_decisions WHERE decision_id IN (${s1.decision.decision_id}::uuid, ${s2.decision.decision_id}::uuid) ORDER BY run_id`.execute(env.t.tdb.database.db);
    expect(linked.rows).toEqual([
      { decision_id: s1.decision.decision_id, commit_id: f1.body.commit_id },
      { decision_id: s2.decision.decision_id, commit_id: f2.body.commit_id },
    ]);
    expect(await verify()).toBe(7);
  });

  it('5. the statistics reorder active, the preferred tools and the selected tool in the full context', async () => {
    const ev = await evaluate(full);
    expect(activeOrder(ev)).toEqual([ids.flights, ids.web]);
    expect(ev.active.map((m: { stats: unknown; rank: unknown }) => [m.stats, m.rank])).toEqual([
      [{ positive: 1, negative: 0 }, { score: 101, evidence_score: 1, priority: 0, weight: 1, specificity: 1 }],
      [{ positive: 0, negative: 1 }, { score: -98, evidence_score: -1, priority: 0, weight: 1, specificity: 2 }],
    ]);
    expect(ev.applied.policy.tool.prefer).toEqual(['flight_search', 'web_browse']);
    expect(ev.applied.tool_explain.conflicts).toEqual([expect.objectContaining({ code: 'prefer_competing_top_choice', winner_rule_node_id: ids.flights })]);
    const sel = await select(full);
    expect(sel.selection).toMatchObject({ ordered: ['flight_search', 'web_browse', 'hotel_search'], selected: 'flight_search' });
    // The policy hash changed with the order of prefer.
    expect(sel.decision.source_rule_ids).toEqual([ids.web, ids.flights]);
  });

  it('6. disabling the winning rule hands the choice back, and the audit trail holds every state change', async () => {
    await promote(ids.flights, 'disabled', 'story-flights-disabled');
    const sel = await select(full);
    expect(sel.selection.selected).toBe('web_browse');
    expect(sel.decision.source_rule_ids).toEqual([ids.web]);
    expect(await verify()).toBe(8);

    const events = await ruleEvents(5);
    expect(events.map((e) => [e.request_id, e.data.rule_node_id, e.data.from_state, e.data.to_state])).toEqual([
      ['story-flights-shadow', ids.flights, 'draft', 'shadow'],
      ['story-web-shadow', ids.web, 'draft', 'shadow'],
      ['story-flights-active', ids.flights, 'shadow', 'active'],
      ['story-web-active', ids.web, 'shadow', 'active'],
      ['story-flights-disabled', ids.flights, 'active', 'disabled'],
    ]);
    for (const e of events) expect(e).toMatchObject({ type: 'RuleStateChanged', actor: { type: 'api_key' }, data: { tenant_id: TENANT, project_id: null, scope } });
    // Each event names a commit of the chain, with its hash.
    const commits = await sql<{ commit_id: string; commit_hash: string; kind: string }>`
      SELECT commit_id::text AS commit_id, commit_hash, kind FROM memory_commits WHERE tenant_id = ${TENANT} AND scope = ${scope} ORDER BY seq`.execute(env.t.tdb.database.db);
    expect(commits.rows.map((c) => c.kind)).toEqual(['write', 'rule_state_change', 'rule_state_change', 'rule_state_change', 'rule_state_change', 'tool_feedback', 'tool_feedback', 'rule_state_change']);
    const byId = new Map(commits.rows.map((c) => [c.commit_id, c.commit_hash]));
    for (const e of events) expect(byId.get(e.data.commit_id as string)).toBe(e.data.commit_hash);
  });
});
