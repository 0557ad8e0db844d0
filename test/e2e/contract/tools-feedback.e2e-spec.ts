import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { type ContractEnv, expectContractError, expectEachRefused, type KeyName, type RefusalCase, startContractEnv, TENANT, transportRefusals } from '../../support/contract';
import { HEX64, sha, sha256, UUID } from '../../support/spec-hash';

/**
 * POST /v1/memory/tools/feedback, from the contract (§2.13, §6.2, §1.4 policy identity, §1.7, §1.9):
 * attribution by re-evaluation (target tool vs all, shadow rules only with include_shadow), the
 * nothing-attributable short form (checked before the decision id), the three decision link modes
 * (provided; inferred by run id and by the 24-hour window; created_from_feedback), each mismatch
 * code with nothing written, run id adoption, the `tool_feedback` commit on the chain (hash
 * recomputed from the spec), the feedback rows and rule statistics. Bad input is refused with
 * nothing written.
 */

describe('contract: POST /v1/memory/tools/feedback', () => {
  let env: ContractEnv;
  beforeAll(async () => {
    env = await startContractEnv();
  });
  afterAll(async () => {
    await env?.stop();
  });

  const db = () => env.t.tdb.database.db;
  const post = (path: string, body: unknown, key: KeyName = 'plain') => env.api.post(`/v1/memory/${path}`).set(env.as(key)).send(body as object);
  const feedback = (body: unknown, key: KeyName = 'plain') => post('tools/feedback', body, key);
  const select = async (body: Record<string, unknown>, key: KeyName = 'plain') => {
    const res = await post('tools/select', body, key);
    expect(res.status).toBe(200);
    return res.body.decision as { decision_id: string; run_id: string | null; selected_tool: string | null; policy_sha256: string; source_rule_ids: string[] };
  };
  /** Write rules (shared) and set each to its state (active unless told); their ids by client id. */
  const rules = async (scope: string, specs: readonly { client_id: string; slots?: Record<string, unknown>; state?: string }[]) => {
    const res = await post('write', { scope, input_text: `rules ${specs.map((s) => s.client_id).join(' ')}`, auto_embed: false, memory_lane: 'shared', nodes: specs.map((s) => ({ client_id: s.client_id, type: 'rule', slots: s.slots ?? {} })) });
    expect(res.status).toBe(200);
    const r = Object.fromEntries((res.body.nodes as { id: string; client_id: string }[]).map((n) => [n.client_id, n.id])) as Record<string, string>;
    for (const s of specs) expect((await post('rules/state', { scope, rule_node_id: r[s.client_id], state: s.state ?? 'active', input_text: 'promote' })).status).toBe(200);
    return r;
  };
  /** The standard set: a tool rule, an output-only rule and a shadow tool rule, all for intent "fb". */
  const standard = (scope: string) =>
    rules(scope, [
      { client_id: 'tool', slots: { if: { intent: 'fb' }, then: { tool: { prefer: ['b'] } } } },
      { client_id: 'output', slots: { if: { intent: 'fb' }, then: { output: { format: 'json' } } } },
      { client_id: 'shadow', slots: { if: { intent: 'fb' }, then: { tool: { deny: ['c'] } } }, state: 'shadow' },
    ]);
  const stats = async (id: string) => {
    const r = await sql<{ p: number; n: number }>`SELECT positive_count::int AS p, negative_count::int AS n FROM memory_rule_defs WHERE rule_node_id = ${id}::uuid`.execute(db());
    return r.rows[0]!;
  };
  const decision = async (id: string) => {
    const r = await sql<{ kind: string; run_id: string | null; selected_tool: string | null; candidates: string[]; context_sha256: string; policy_sha256: string; source_rule_ids: string[]; metadata: Record<string, unknown>; commit_id: string | null }>`
      SELECT kind, run_id, selected_tool, candidates, context_sha256, policy_sha256, source_rule_ids, metadata, commit_id::text AS commit_id FROM memory_decisions WHERE decision_id = ${id}::uuid`.execute(db());
    expect(r.rows).toHaveLength(1);
    return r.rows[0]!;
  };
  const feedbackRows = async (commitId: string) =>
    (
      await sql<{ rule_node_id: string; run_id: string | null; outcome: string; note: string | null; source: string; decision_id: string | null; decision_link_mode: string | null }>`
        SELECT rule_node_id::text AS rule_node_id, run_id, outcome, note, source, decision_id::text AS decision_id, decision_link_mode FROM memory_rule_feedback WHERE commit_id = ${commitId}::uuid ORDER BY rule_node_id`.execute(db())
    ).rows;
  const verify = async (scope: string) => {
    const r = await post('commits/verify', { scope });
    expect(r.status).toBe(200);
    return r.body as { ok: boolean; commits: number };
  };
  const ctx = { intent: 'fb' };
  const base = (scope: string) => ({ scope, context: ctx, candidates: ['a', 'b'], selected_tool: 'b', outcome: 'positive', input_text: 'it worked' });

  it('links a provided decision: credits the tool rules, writes a tool_feedback commit on the chain, a feedback row per rule and the statistics', async () => {
    const scope = 'fb-provided';
    const r = await standard(scope);
    const d = await select({ scope, context: ctx, candidates: ['a', 'b'], run_id: 'run-1' });
    expect(d.selected_tool).toBe('b');
    const chain = await verify(scope);
    const headBefore = (await sql<{ h: string }>`SELECT c.commit_hash AS h FROM memory_scopes s JOIN memory_commits c ON c.commit_id = s.head_commit_id WHERE s.tenant_id = ${TENANT} AND s.scope = ${scope} AND s.project_key = ''`.execute(db())).rows[0]!.h;
    const inputText = '  flight_search   found a fare,  mail bob@example.com ';
    const res = await feedback({
      scope,
      run_id: 'run-1',
      decision_id: d.decision_id.toUpperCase(),
      outcome: 'positive',
      context: ctx,
      candidates: [' a', 'b ', 'a'],
      selected_tool: ' b ',
      note: '  one   call  ',
      input_text: inputText,
      actor: 'agent-runner',
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({
      ok: true,
      tenant_id: TENANT,
      scope,
      updated_rules: 1,
      rule_node_ids: [r.tool],
      commit_id: expect.stringMatching(UUID),
      commit_hash: expect.stringMatching(HEX64),
      decision_id: d.decision_id,
      decision_link_mode: 'provided',
      decision_policy_sha256: d.policy_sha256,
    });
    // The commit: kind, diff, the normalised and redacted input's hash, the hash of §1.9.
    const normalised = `flight_search found a fare, mail [EMAIL#${sha256('bob@example.com').slice(0, 8)}]`;
    const diff = { tool_feedback: [{ decision_id: d.decision_id, decision_link_mode: 'provided', run_id: 'run-1', outcome: 'positive', selected_tool: 'b', candidates: ['a', 'b'], rule_node_ids: [r.tool], target: 'tool' }] };
    const c = (await sql<{ kind: string; actor: string; input_sha256: string; diff: unknown }>`SELECT kind, actor, input_sha256, diff FROM memory_commits WHERE commit_id = ${res.body.commit_id}::uuid`.execute(db())).rows[0]!;
    expect(c).toEqual({ kind: 'tool_feedback', actor: 'agent-runner', input_sha256: sha256(normalised), diff });
    expect(res.body.commit_hash).toBe(sha({ parentHash: headBefore, inputSha: sha256(normalised), diffSha: sha(diff), scope: `tenant:${TENANT}::scope:${scope}`, actor: 'agent-runner', kind: 'tool_feedback' }));
    expect(await verify(scope)).toMatchObject({ ok: true, commits: chain.commits + 1 });
    // One feedback row per credited rule; the statistics; the decision linked to the commit.
    expect(await feedbackRows(res.body.commit_id)).toEqual([{ rule_node_id: r.tool, run_id: 'run-1', outcome: 'positive', note: 'one call', source: 'tools_feedback', decision_id: d.decision_id, decision_link_mode: 'provided' }]);
    expect(await stats(r.tool!)).toEqual({ p: 1, n: 0 });
    expect(await stats(r.output!)).toEqual({ p: 0, n: 0 });
    expect(await stats(r.shadow!)).toEqual({ p: 0, n: 0 });
    expect(await decision(d.decision_id)).toMatchObject({ run_id: 'run-1', commit_id: res.body.commit_id });
    const ev = await post('rules/evaluate', { scope, context: ctx });
    expect(ev.body.active.find((m: { rule_node_id: string }) => m.rule_node_id === r.tool)).toMatchObject({ stats: { positive: 1, negative: 0 }, rank: { evidence_score: 1, score: 101 } });

    // Negative counts the other way; neutral changes no statistic but is recorded.
    const neg = await feedback({ ...base(scope), decision_id: d.decision_id, outcome: 'negative' });
    expect(neg.body).toMatchObject({ decision_link_mode: 'provided', updated_rules: 1 });
    const neutral = await feedback({ ...base(scope), decision_id: d.decision_id, outcome: 'neutral' });
    expect(neutral.status).toBe(200);
    expect(await stats(r.tool!)).toEqual({ p: 1, n: 1 });
    expect(await feedbackRows(neutral.body.commit_id)).toEqual([expect.objectContaining({ rule_node_id: r.tool, outcome: 'neutral', source: 'tools_feedback' })]);
    // Each feedback relinks the decision to its commit; input_sha256 is stored as given.
    const bySha = await feedback({ ...base(scope), decision_id: d.decision_id, input_text: undefined, input_sha256: 'd'.repeat(64) });
    expect((await sql<{ s: string }>`SELECT input_sha256 AS s FROM memory_commits WHERE commit_id = ${bySha.body.commit_id}::uuid`.execute(db())).rows[0]!.s).toBe('d'.repeat(64));
    expect((await decision(d.decision_id)).commit_id).toBe(bySha.body.commit_id);
    expect(await verify(scope)).toMatchObject({ ok: true, commits: chain.commits + 4 });
  });

  it("credits every matched rule with target 'all', and the shadow rules only with include_shadow", async () => {
    const scope = 'fb-target';
    const r = await standard(scope);
    const all = await feedback({ ...base(scope), target: 'all' });
    expect(all.status).toBe(200);
    expect([...all.body.rule_node_ids].sort()).toEqual([r.tool, r.output].sort());
    expect(all.body.updated_rules).toBe(2);
    expect((await feedbackRows(all.body.commit_id)).map((x) => x.rule_node_id)).toEqual([r.tool, r.output].sort());
    const shadow = await feedback({ ...base(scope), include_shadow: true, outcome: 'negative' });
    expect(shadow.body.rule_node_ids).toEqual([r.tool, r.shadow]);
    const both = await feedback({ ...base(scope), include_shadow: true, target: 'all', outcome: 'negative' });
    expect(both.body.rule_node_ids.slice(-1)).toEqual([r.shadow]);
    expect([...both.body.rule_node_ids].sort()).toEqual([r.tool, r.output, r.shadow].sort());
    expect(await stats(r.tool!)).toEqual({ p: 1, n: 2 });
    expect(await stats(r.output!)).toEqual({ p: 1, n: 1 });
    expect(await stats(r.shadow!)).toEqual({ p: 0, n: 2 });
    // The commit's diff records the target.
    const d = (await sql<{ diff: { tool_feedback: { target: string }[] } }>`SELECT diff FROM memory_commits WHERE commit_id = ${all.body.commit_id}::uuid`.execute(db())).rows[0]!.diff;
    expect(d.tool_feedback[0]!.target).toBe('all');
  });

  it('infers the decision by run_id (the newest of the run), else from the last 24 hours when one side has no run_id; a request run_id is adopted', async () => {
    const scope = 'fb-inferred';
    await standard(scope);
    const older = await select({ scope, context: ctx, candidates: ['a', 'b'], run_id: 'run-2' });
    await new Promise((r) => setTimeout(r, 5)); // distinct created_at (millisecond clock)
    const newer = await select({ scope, context: ctx, candidates: ['a', 'b'], run_id: 'run-2' });
    await select({ scope, context: ctx, candidates: ['a', 'b'], run_id: 'run-3' });
    const byRun = await feedback({ ...base(scope), run_id: 'run-2' });
    expect(byRun.body).toMatchObject({ decision_id: newer.decision_id, decision_link_mode: 'inferred', decision_policy_sha256: newer.policy_sha256 });
    expect(byRun.body.decision_id).not.toBe(older.decision_id);

    // The window: a decision without run_id, found by a feedback without one...
    const w = 'fb-window';
    await standard(w);
    const noRun = await select({ scope: w, context: ctx, candidates: ['a', 'b'] });
    const inferred = await feedback({ ...base(w) });
    expect(inferred.body).toMatchObject({ decision_id: noRun.decision_id, decision_link_mode: 'inferred' });
    expect((await decision(noRun.decision_id)).run_id).toBeNull();
    // ...and by a feedback with a run_id that has no decision of its own: the run_id is adopted.
    const adopted = await feedback({ ...base(w), run_id: 'run-late' });
    expect(adopted.body).toMatchObject({ decision_id: noRun.decision_id, decision_link_mode: 'inferred' });
    expect(await decision(noRun.decision_id)).toMatchObject({ run_id: 'run-late', commit_id: adopted.body.commit_id });
    expect((await feedbackRows(adopted.body.commit_id))[0]).toMatchObject({ run_id: 'run-late', decision_id: noRun.decision_id, decision_link_mode: 'inferred' });

    // Both sides with different run ids: the window does not match; a new decision is created.
    const other = await feedback({ ...base(w), run_id: 'run-other' });
    expect(other.body.decision_link_mode).toBe('created_from_feedback');
    // Other candidates, another selected tool or another context: no match either.
    const w2 = 'fb-window-miss';
    await standard(w2);
    const d2 = await select({ scope: w2, context: ctx, candidates: ['a', 'b'] });
    for (const body of [{ candidates: ['b', 'a'] }, { selected_tool: 'a' }, { context: { intent: 'fb', extra: 1 } }]) {
      const res = await feedback({ ...base(w2), ...body });
      expect({ body, mode: res.body.decision_link_mode, same: res.body.decision_id === d2.decision_id }).toEqual({ body, mode: 'created_from_feedback', same: false });
    }
    // Older than 24 hours: out of the window.
    const w3 = 'fb-window-old';
    await standard(w3);
    const old = await select({ scope: w3, context: ctx, candidates: ['a', 'b'] });
    await sql`UPDATE memory_decisions SET created_at = now() - interval '25 hours' WHERE decision_id = ${old.decision_id}::uuid`.execute(db());
    const late = await feedback({ ...base(w3) });
    expect(late.body.decision_link_mode).toBe('created_from_feedback');
    const recent = await select({ scope: w3, context: ctx, candidates: ['a', 'b'] });
    await sql`UPDATE memory_decisions SET created_at = now() - interval '23 hours' WHERE decision_id = ${recent.decision_id}::uuid`.execute(db());
    // The decision created by the previous feedback is not a tools_select one: it is never inferred.
    expect((await feedback({ ...base(w3) })).body).toMatchObject({ decision_id: recent.decision_id, decision_link_mode: 'inferred' });

    // A provided decision without run_id adopts the request's run_id too.
    const p = await select({ scope, context: ctx, candidates: ['a', 'b'] });
    const provided = await feedback({ ...base(scope), decision_id: p.decision_id, run_id: 'run-adopt' });
    expect(provided.body.decision_link_mode).toBe('provided');
    expect((await decision(p.decision_id)).run_id).toBe('run-adopt');
  });

  it('creates a decision from the feedback when none matches, marked as derived, with the current policy hash and the credited rules', async () => {
    const scope = 'fb-created';
    const r = await standard(scope);
    const before = await env.counts();
    const res = await feedback({ ...base(scope), run_id: 'run-new' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ decision_link_mode: 'created_from_feedback', decision_id: expect.stringMatching(UUID), rule_node_ids: [r.tool] });
    const policy = (await post('rules/evaluate', { scope, context: ctx, include_shadow: false })).body.applied.policy;
    expect(res.body.decision_policy_sha256).toBe(sha(policy));
    const row = await decision(res.body.decision_id);
    expect(row).toEqual({
      kind: 'created_from_feedback',
      run_id: 'run-new',
      selected_tool: 'b',
      candidates: ['a', 'b'],
      context_sha256: sha(ctx),
      policy_sha256: sha(policy),
      source_rule_ids: [r.tool],
      metadata: expect.objectContaining({ source: 'feedback_derived' }),
      commit_id: res.body.commit_id,
    });
    const after = await env.counts();
    expect(after.memory_decisions).toBe(before.memory_decisions! + 1);
    expect(after.memory_rule_feedback).toBe(before.memory_rule_feedback! + 1);
    expect(after.memory_commits).toBe(before.memory_commits! + 1);
    // A later feedback of the same run is linked to the stored tools_select decisions only: a
    // derived decision is not inferred again, so another one is created.
    const again = await feedback({ ...base(scope), run_id: 'run-new' });
    expect(again.body.decision_link_mode).toBe('created_from_feedback');
    expect(again.body.decision_id).not.toBe(res.body.decision_id);
    // A derived decision can be named explicitly.
    const named = await feedback({ ...base(scope), run_id: 'run-new', decision_id: res.body.decision_id });
    expect(named.body).toMatchObject({ decision_link_mode: 'provided', decision_id: res.body.decision_id });
  });

  it('refuses each decision mismatch with its code and details, writing nothing', async () => {
    const scope = 'fb-mismatch';
    const r = await standard(scope);
    const d = await select({ scope, context: ctx, candidates: ['a', 'b'], run_id: 'run-1' });
    // A decision that selected nothing (all denied, strict off): a stored null never matches.
    await rules('fb-mismatch-null', [{ client_id: 'deny-all', slots: { then: { tool: { deny: ['a', 'b'] } } } }]);
    const none = await select({ scope: 'fb-mismatch-null', candidates: ['a', 'b'], strict: false });
    expect(none.selected_tool).toBeNull();
    const elsewhere = await select({ scope: 'fb-mismatch-null', candidates: ['a', 'b'], strict: false });

    const before = await env.counts();
    const ruleStats = await stats(r.tool!);
    const row = await decision(d.decision_id);
    const ghost = randomUUID();
    const cases: [string, Record<string, unknown>, string, Record<string, unknown>][] = [
      ['an unknown decision', { decision_id: ghost }, 'decision_not_found_in_scope', { decision_id: ghost, scope, tenant_id: TENANT }],
      ['a decision of another scope', { decision_id: elsewhere.decision_id }, 'decision_not_found_in_scope', { decision_id: elsewhere.decision_id, scope, tenant_id: TENANT }],
      ['another selected tool', { decision_id: d.decision_id, selected_tool: 'a' }, 'decision_selected_tool_mismatch', { decision_id: d.decision_id, decision_selected_tool: 'b', request_selected_tool: 'a' }],
      ['candidates in another order', { decision_id: d.decision_id, candidates: ['b', 'a'] }, 'decision_candidates_mismatch', { decision_id: d.decision_id }],
      ['another candidate set', { decision_id: d.decision_id, candidates: ['a', 'b', 'c'] }, 'decision_candidates_mismatch', { decision_id: d.decision_id }],
      ['another run', { decision_id: d.decision_id, run_id: 'run-9' }, 'decision_run_id_mismatch', { decision_id: d.decision_id, decision_run_id: 'run-1', request_run_id: 'run-9' }],
    ];
    for (const [name, body, code, details] of cases) {
      const res = await feedback({ ...base(scope), ...body });
      expect({ name, status: res.status, error: res.body?.error }).toEqual({ name, status: 400, error: code });
      expectContractError(res, 400, code);
      expect(res.body.details).toEqual(details);
    }
    const nullTool = await feedback({ ...base('fb-mismatch-null'), context: {}, decision_id: none.decision_id, selected_tool: 'a' });
    expectContractError(nullTool, 400, 'decision_selected_tool_mismatch');
    expect(nullTool.body.details).toEqual({ decision_id: none.decision_id, decision_selected_tool: null, request_selected_tool: 'a' });
    expect(await env.counts()).toEqual(before);
    expect(await stats(r.tool!)).toEqual(ruleStats);
    expect(await decision(d.decision_id)).toEqual(row);
    // The same feedback without the mismatch is accepted (the cases above could pass).
    expect((await feedback({ ...base(scope), decision_id: d.decision_id, run_id: 'run-1' })).body.decision_link_mode).toBe('provided');
  });

  it('answers the short form when nothing is attributable, storing nothing and NOT checking the decision id', async () => {
    const scope = 'fb-nothing';
    const r = await standard(scope);
    await rules('fb-nothing-shadow', [{ client_id: 's', slots: { if: { intent: 'fb' }, then: { tool: { prefer: ['b'] } } }, state: 'shadow' }]);
    const before = await env.counts();
    const short = { ok: true, tenant_id: TENANT, updated_rules: 0, rule_node_ids: [], commit_id: null, commit_hash: null, note: expect.any(String) };
    const cases: [string, Record<string, unknown>][] = [
      ['no rule matches the context', { context: { intent: 'other' } }],
      ['only a shadow tool rule without include_shadow', { context: { intent: 'fb' }, scope: 'fb-nothing-shadow' }],
      ['an unknown decision id', { context: { intent: 'other' }, decision_id: randomUUID(), run_id: 'run-x' }],
    ];
    for (const [name, body] of cases) {
      const res = await feedback({ ...base(scope), ...body });
      expect({ name, status: res.status }).toEqual({ name, status: 200 });
      expect(res.body).toEqual({ ...short, scope: body.scope ?? scope });
      expect(Object.keys(res.body).filter((k) => k.startsWith('decision'))).toEqual([]);
    }
    expect(await env.counts()).toEqual(before);
    // The shadow rule is attributable with include_shadow (the case above could fail).
    expect((await feedback({ ...base('fb-nothing-shadow'), include_shadow: true })).body.updated_rules).toBe(1);
    // Only an output rule matches with target tool: nothing attributable.
    await post('rules/state', { scope, rule_node_id: r.tool, state: 'disabled', input_text: 'off' }).expect(200);
    const afterDisable = await env.counts();
    const outputOnly = await feedback({ ...base(scope), decision_id: randomUUID() });
    expect(outputOnly.body).toEqual({ ...short, scope });
    // ...but with target all it is, and then the unknown decision id is reported.
    const all = await feedback({ ...base(scope), decision_id: randomUUID(), target: 'all' });
    expectContractError(all, 400, 'decision_not_found_in_scope');
    expect(await env.counts()).toEqual(afterDisable);
    expect(await stats(r.output!)).toEqual({ p: 0, n: 0 });
  });

  it('stores nothing for a short form in a scope that was never written, not even an empty scope row (§6.2 step 3)', async () => {
    // Product bug (reported): tools/feedback locks the scope head (an upsert of its memory_scopes
    // row) before the attribution check, and the short form commits that transaction.
    const scope = 'fb-nothing-never-written';
    const before = await env.counts();
    const res = await feedback({ ...base(scope), decision_id: randomUUID() });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ok: true, tenant_id: TENANT, scope, updated_rules: 0, rule_node_ids: [], commit_id: null, commit_hash: null, note: expect.any(String) });
    const rows = await sql<{ n: number }>`SELECT count(*)::int AS n FROM memory_scopes WHERE tenant_id = ${TENANT} AND scope = ${scope}`.execute(db());
    expect(rows.rows[0]!.n).toBe(0);
    expect(await env.counts()).toEqual(before);
  });

  it('evaluates with the key identity injected, so a feedback without agent fields links the decision the same key made', async () => {
    const scope = 'fb-identity';
    const r = await rules(scope, [{ client_id: 'for-a', slots: { rule_scope: 'agent', target_agent_id: 'agent-a', then: { tool: { prefer: ['b'] } } } }]);
    const d = await select({ scope, context: { intent: 'x' }, candidates: ['a', 'b'] }, 'agentA');
    const res = await feedback({ ...base(scope), context: { intent: 'x' } }, 'agentA');
    expect(res.body).toMatchObject({ decision_id: d.decision_id, decision_link_mode: 'inferred', rule_node_ids: [r['for-a']] });
    // The tenant-wide key evaluates without the agent: the agent rule does not match, nothing attributable.
    const plain = await feedback({ ...base(scope), context: { intent: 'x' } });
    expect(plain.body).toMatchObject({ updated_rules: 0, commit_id: null });
    const before = await env.counts();
    for (const [context, field] of [
      [{ agent: { id: 'agent-b' } }, 'context.agent.id'],
      [{ agent_id: 'agent-b' }, 'context.agent_id'],
    ] as const) {
      const bad = await feedback({ ...base(scope), context }, 'agentA');
      expectContractError(bad, 403, 'identity_mismatch');
      expect(bad.body.details).toEqual({ field, provided: 'agent-b', expected: 'agent-a' });
    }
    expectContractError(await feedback({ ...base(scope), tenant_id: 'contract-b' }), 403, 'identity_mismatch');
    expect(await env.counts()).toEqual(before);
  });

  it('refuses each client mistake with a 4xx in the contract shape, never a 5xx, and writes nothing; write-class quota; needs memory:write', async () => {
    const scope = 'fb-bad';
    await standard(scope);
    const valid = base(scope);
    const before = await env.counts();
    const cases: RefusalCase[] = [
      ['no input_text nor input_sha256', () => feedback({ ...valid, input_text: undefined }), 400, 'invalid_request'],
      ['input_sha256 not hex64', () => feedback({ ...valid, input_text: undefined, input_sha256: 'xyz' }), 400, 'invalid_request'],
      ['a whitespace-only input_text', () => feedback({ ...valid, input_text: '  ' }), 400, 'invalid_request'],
      ['a whitespace-only selected_tool (a listed hosted tightening)', () => feedback({ ...valid, selected_tool: '   ' }), 400, 'invalid_request'],
      ['missing outcome', () => feedback({ ...valid, outcome: undefined }), 400, 'invalid_request'],
      ['an unknown outcome', () => feedback({ ...valid, outcome: 'great' }), 400, 'invalid_request'],
      ['an unknown target', () => feedback({ ...valid, target: 'rules' }), 400, 'invalid_request'],
      ['missing candidates', () => feedback({ ...valid, candidates: undefined }), 400, 'invalid_request'],
      ['201 candidates', () => feedback({ ...valid, candidates: Array.from({ length: 201 }, (_, i) => `t${i}`) }), 400, 'invalid_request'],
      ['an empty candidate', () => feedback({ ...valid, candidates: ['a', ''] }), 400, 'invalid_request'],
      ['missing selected_tool', () => feedback({ ...valid, selected_tool: undefined }), 400, 'invalid_request'],
      ['an empty selected_tool', () => feedback({ ...valid, selected_tool: '' }), 400, 'invalid_request'],
      ['decision_id not a uuid', () => feedback({ ...valid, decision_id: 'dec-1' }), 400, 'invalid_request'],
      ['include_shadow a string', () => feedback({ ...valid, include_shadow: 'no' }), 400, 'invalid_request'],
      ['rules_limit 0', () => feedback({ ...valid, rules_limit: 0 }), 400, 'invalid_request'],
      ['rules_limit 201', () => feedback({ ...valid, rules_limit: 201 }), 400, 'invalid_request'],
      ['an empty note', () => feedback({ ...valid, note: '' }), 400, 'invalid_request'],
      ['an empty run_id', () => feedback({ ...valid, run_id: '' }), 400, 'invalid_request'],
      ['an empty scope', () => feedback({ ...valid, scope: '  ' }), 400, 'invalid_scope'],
      ...transportRefusals(env, 'tools/feedback', valid),
    ];
    await expectEachRefused(cases);
    const missing = await feedback({ ...valid, input_text: undefined });
    expect(missing.body.issues).toEqual([{ path: '', message: expect.any(String) }]);
    expectContractError(await env.api.post('/v1/memory/tools/feedback').set('Content-Type', 'application/json').send(valid), 401, 'unauthorized');
    expectContractError(await feedback(valid, 'readOnly'), 403, 'forbidden');
    expect(await env.counts()).toEqual(before);
    const quota = (await env.api.get(`/v1/admin/control/tenants/${TENANT}/quota`).set(env.t.auth).expect(200)).body.values as { recall_burst: number; write_burst: number };
    expect(quota.write_burst).not.toBe(quota.recall_burst);
    const ok = await feedback(valid, 'writeOnly');
    expect(ok.status).toBe(200);
    expect(ok.headers['x-ratelimit-limit']).toBe(String(quota.write_burst));
  });
});
