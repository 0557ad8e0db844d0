import { sql } from 'kysely';
import { type ContractEnv, expectContractError, expectEachRefused, type KeyName, type RefusalCase, startContractEnv, TENANT, transportRefusals } from '../../support/contract';
import { HEX64, sha, sha256, UUID } from '../../support/spec-hash';

/**
 * POST /v1/memory/feedback, from the contract (§2.15, §1.4 tenant-only, §1.7, §1.9): the rule must
 * exist in the scope, the `rule_feedback` commit on the chain (hash recomputed from the spec), one
 * feedback row with source rule_feedback, counters moved only by positive and negative outcomes and
 * only when a definition exists, no idempotency, and bad input refused with nothing written.
 */

describe('contract: POST /v1/memory/feedback', () => {
  let env: ContractEnv;
  beforeAll(async () => {
    env = await startContractEnv();
  });
  afterAll(async () => {
    await env?.stop();
  });

  const db = () => env.t.tdb.database.db;
  const post = (path: string, body: unknown, key: KeyName = 'plain') => env.api.post(`/v1/memory/${path}`).set(env.as(key)).send(body as object);
  const feedback = (body: unknown, key: KeyName = 'plain') => post('feedback', body, key);
  const writeRules = async (scope: string, clientIds: readonly string[], extra: Record<string, unknown> = { memory_lane: 'shared' }, key: KeyName = 'plain'): Promise<Record<string, string>> => {
    const res = await post('write', { scope, input_text: `rules ${clientIds.join(' ')}`, auto_embed: false, ...extra, nodes: clientIds.map((client_id) => ({ client_id, type: 'rule', slots: { then: { tool: { prefer: [client_id] } } } })) }, key);
    expect(res.status).toBe(200);
    return Object.fromEntries((res.body.nodes as { id: string; client_id: string }[]).map((n) => [n.client_id, n.id]));
  };
  const stats = async (id: string) => {
    const r = await sql<{ p: number; n: number }>`SELECT positive_count::int AS p, negative_count::int AS n FROM memory_rule_defs WHERE rule_node_id = ${id}::uuid`.execute(db());
    return r.rows[0];
  };
  const verify = async (scope: string) => {
    const r = await post('commits/verify', { scope });
    expect(r.status).toBe(200);
    return r.body as { ok: boolean; commits: number };
  };
  const headHash = async (scope: string) =>
    (await sql<{ h: string }>`SELECT c.commit_hash AS h FROM memory_scopes s JOIN memory_commits c ON c.commit_id = s.head_commit_id WHERE s.tenant_id = ${TENANT} AND s.project_key = '' AND s.scope = ${scope}`.execute(db())).rows[0]!.h;

  it('records a positive outcome: the response with a feedback_id, a rule_feedback commit on the chain, one feedback row, the counter', async () => {
    const scope = 'rf-basic';
    const id = (await writeRules(scope, ['r'])).r!;
    const chain = await verify(scope);
    const parentHash = await headHash(scope);
    const inputText = '  worked   for bob@example.com ';
    const res = await feedback({ scope, rule_node_id: id.toUpperCase(), outcome: 'positive', run_id: 'run-7790', note: '  call  555-867-5309  ', input_text: inputText, actor: 'reviewer' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({ tenant_id: TENANT, scope, commit_id: expect.stringMatching(UUID), commit_hash: expect.stringMatching(HEX64), feedback_id: expect.stringMatching(UUID) });
    const redacted = `worked for [EMAIL#${sha256('bob@example.com').slice(0, 8)}]`;
    const diff = { feedback: [{ id: res.body.feedback_id, rule_node_id: id, outcome: 'positive', run_id: 'run-7790' }] };
    const c = (await sql<{ kind: string; actor: string; input_sha256: string; diff: unknown }>`SELECT kind, actor, input_sha256, diff FROM memory_commits WHERE commit_id = ${res.body.commit_id}::uuid`.execute(db())).rows[0]!;
    expect(c).toEqual({ kind: 'rule_feedback', actor: 'reviewer', input_sha256: sha256(redacted), diff });
    expect(res.body.commit_hash).toBe(sha({ parentHash, inputSha: sha256(redacted), diffSha: sha(diff), scope: `tenant:${TENANT}::scope:${scope}`, actor: 'reviewer', kind: 'rule_feedback' }));
    expect(await verify(scope)).toMatchObject({ ok: true, commits: chain.commits + 1 });
    const rows = await sql<{ feedback_id: string; rule_node_id: string; run_id: string | null; outcome: string; note: string | null; source: string; decision_id: string | null; commit_id: string }>`
      SELECT feedback_id::text AS feedback_id, rule_node_id::text AS rule_node_id, run_id, outcome, note, source, decision_id::text AS decision_id, commit_id::text AS commit_id
      FROM memory_rule_feedback WHERE commit_id = ${res.body.commit_id}::uuid`.execute(db());
    expect(rows.rows).toEqual([
      { feedback_id: res.body.feedback_id, rule_node_id: id, run_id: 'run-7790', outcome: 'positive', note: `call [PHONE#${sha256('555-867-5309').slice(0, 8)}]`, source: 'rule_feedback', decision_id: null, commit_id: res.body.commit_id },
    ]);
    expect(await stats(id)).toEqual({ p: 1, n: 0 });
    // input_sha256 is used as given; run_id, note and actor are optional (actor "system").
    const bySha = await feedback({ scope, rule_node_id: id, outcome: 'negative', input_sha256: 'e'.repeat(64) });
    expect(bySha.status).toBe(200);
    const c2 = (await sql<{ actor: string; input_sha256: string; diff: unknown }>`SELECT actor, input_sha256, diff FROM memory_commits WHERE commit_id = ${bySha.body.commit_id}::uuid`.execute(db())).rows[0]!;
    expect(c2).toEqual({ actor: 'system', input_sha256: 'e'.repeat(64), diff: { feedback: [{ id: bySha.body.feedback_id, rule_node_id: id, outcome: 'negative', run_id: null }] } });
    expect(await stats(id)).toEqual({ p: 1, n: 1 });
  });

  it('moves the counters only for positive and negative outcomes (neutral is recorded but counts nothing), on any state, and is not replay-safe', async () => {
    const scope = 'rf-counts';
    const r = await writeRules(scope, ['draft', 'active']);
    expect((await post('rules/state', { scope, rule_node_id: r.active, state: 'active', input_text: 'on' })).status).toBe(200);
    const before = await env.counts();
    const neutral = await feedback({ scope, rule_node_id: r.active, outcome: 'neutral', input_text: 'meh' });
    expect(neutral.status).toBe(200);
    expect(await stats(r.active!)).toEqual({ p: 0, n: 0 });
    const afterNeutral = await env.counts();
    expect(afterNeutral.memory_rule_feedback).toBe(before.memory_rule_feedback! + 1);
    expect(afterNeutral.memory_commits).toBe(before.memory_commits! + 1);
    // The same request twice: two commits, two rows, counted twice.
    const a = await feedback({ scope, rule_node_id: r.active, outcome: 'positive', run_id: 'run-1', input_text: 'good' });
    const b = await feedback({ scope, rule_node_id: r.active, outcome: 'positive', run_id: 'run-1', input_text: 'good' });
    expect(b.body.commit_id).not.toBe(a.body.commit_id);
    expect(b.body.feedback_id).not.toBe(a.body.feedback_id);
    expect(await stats(r.active!)).toEqual({ p: 2, n: 0 });
    // A draft rule has a definition: its counters move too, and show once it is promoted.
    await feedback({ scope, rule_node_id: r.draft, outcome: 'negative', input_text: 'bad' }).expect(200);
    expect(await stats(r.draft!)).toEqual({ p: 0, n: 1 });
    expect((await post('rules/state', { scope, rule_node_id: r.draft, state: 'active', input_text: 'on' })).status).toBe(200);
    const ev = await post('rules/evaluate', { scope });
    const byId = Object.fromEntries(ev.body.active.map((m: { rule_node_id: string; stats: unknown }) => [m.rule_node_id, m.stats]));
    expect(byId).toEqual({ [r.active!]: { positive: 2, negative: 0 }, [r.draft!]: { positive: 0, negative: 1 } });
    expect(ev.body.active.map((m: { rule_node_id: string }) => m.rule_node_id)).toEqual([r.active, r.draft]);
    expect(await verify(scope)).toMatchObject({ ok: true });
  });

  it('records the feedback but moves no counter when the rule node has no definition (storage-level: every rule written through the API has one)', async () => {
    // A definition is created with every rule node (§5.1), so "only if a definition row exists"
    // cannot be reached through the API; a node without one is simulated in storage.
    const scope = 'rf-no-definition';
    const id = (await writeRules(scope, ['r'])).r!;
    await sql`DELETE FROM memory_rule_defs WHERE rule_node_id = ${id}::uuid`.execute(db());
    const res = await feedback({ scope, rule_node_id: id, outcome: 'positive', input_text: 'x' });
    expect(res.status).toBe(200);
    expect(await stats(id)).toBeUndefined();
    expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM memory_rule_feedback WHERE rule_node_id = ${id}::uuid`.execute(db())).rows[0]!.n).toBe(1);
  });

  it('refuses a rule that is not in the scope with rule_not_found_in_scope {rule_node_id, scope, tenant_id}, writing nothing', async () => {
    const scope = 'rf-missing';
    const r = await writeRules(scope, ['r']);
    const event = (await post('write', { scope, input_text: 'e', memory_lane: 'shared', auto_embed: false, nodes: [{ client_id: 'e', type: 'event', text_summary: 'an event' }] })).body.nodes[0].id as string;
    const elsewhere = (await writeRules('rf-missing-other', ['r'])).r!;
    const projects = (await writeRules(scope, ['p'], { memory_lane: 'shared' }, 'project')).p!;
    const before = await env.counts();
    const ghost = '99999999-9999-4999-8999-999999999999';
    for (const [name, id, key] of [
      ['an unknown id', ghost, 'plain'],
      ['a node that is not a rule', event, 'plain'],
      ['a rule of another scope', elsewhere, 'plain'],
      ["a rule of the project's namespace", projects, 'plain'],
      ["the tenant's rule, from the project key", r.r!, 'project'],
    ] as const) {
      const res = await feedback({ scope, rule_node_id: id, outcome: 'positive', input_text: 'x' }, key);
      expect({ name, status: res.status, error: res.body?.error }).toEqual({ name, status: 400, error: 'rule_not_found_in_scope' });
      expectContractError(res, 400, 'rule_not_found_in_scope');
      expect(res.body.details).toEqual({ rule_node_id: id, scope, tenant_id: TENANT });
    }
    expect(await env.counts()).toEqual(before);
    expect(await stats(r.r!)).toEqual({ p: 0, n: 0 });
  });

  it('is tenant-only (§1.4): any key of the tenant may give feedback on any rule of its namespace; another tenant named is 403', async () => {
    const scope = 'rf-identity';
    const id = (await writeRules(scope, ['b-owned'], { memory_lane: 'private', owner_agent_id: 'agent-b' }))['b-owned']!;
    expect((await feedback({ scope, rule_node_id: id, outcome: 'positive', input_text: 'x' }, 'agentA')).status).toBe(200);
    expect(await stats(id)).toEqual({ p: 1, n: 0 });
    const before = await env.counts();
    expectContractError(await feedback({ scope, tenant_id: 'contract-b', rule_node_id: id, outcome: 'positive', input_text: 'x' }), 403, 'identity_mismatch');
    expectContractError(await env.api.post('/v1/memory/feedback').set(env.as('plain')).set('x-tenant-id', 'contract-b').send({ scope, rule_node_id: id, outcome: 'positive', input_text: 'x' }), 403, 'identity_mismatch');
    expect(await env.counts()).toEqual(before);
  });

  it('refuses each client mistake with a 4xx in the contract shape, never a 5xx, and writes nothing; write-class quota; needs memory:write', async () => {
    const scope = 'rf-bad';
    const id = (await writeRules(scope, ['r'])).r!;
    const valid = { scope, rule_node_id: id, outcome: 'positive', input_text: 'x' };
    const before = await env.counts();
    const cases: RefusalCase[] = [
      ['missing rule_node_id', () => feedback({ ...valid, rule_node_id: undefined }), 400, 'invalid_request'],
      ['rule_node_id not a uuid', () => feedback({ ...valid, rule_node_id: 'r' }), 400, 'invalid_request'],
      ['missing outcome', () => feedback({ ...valid, outcome: undefined }), 400, 'invalid_request'],
      ['an unknown outcome', () => feedback({ ...valid, outcome: 'POSITIVE' }), 400, 'invalid_request'],
      ['outcome a boolean', () => feedback({ ...valid, outcome: true }), 400, 'invalid_request'],
      ['no input', () => feedback({ ...valid, input_text: undefined }), 400, 'invalid_request'],
      ['input_sha256 not hex64', () => feedback({ ...valid, input_text: undefined, input_sha256: 'E'.repeat(64) }), 400, 'invalid_request'],
      ['a whitespace-only input_text', () => feedback({ ...valid, input_text: ' \n ' }), 400, 'invalid_request'],
      ['an empty run_id', () => feedback({ ...valid, run_id: '' }), 400, 'invalid_request'],
      ['a numeric note', () => feedback({ ...valid, note: 5 }), 400, 'invalid_request'],
      ['an empty actor', () => feedback({ ...valid, actor: '' }), 400, 'invalid_request'],
      ['an empty scope', () => feedback({ ...valid, scope: '\t' }), 400, 'invalid_scope'],
      ...transportRefusals(env, 'feedback', valid),
    ];
    await expectEachRefused(cases);
    const missing = await feedback({ ...valid, input_text: undefined });
    expect(missing.body.issues).toEqual([{ path: '', message: expect.any(String) }]);
    expectContractError(await env.api.post('/v1/memory/feedback').set('Content-Type', 'application/json').send(valid), 401, 'unauthorized');
    expectContractError(await feedback(valid, 'readOnly'), 403, 'forbidden');
    expect(await env.counts()).toEqual(before);
    expect(await stats(id)).toEqual({ p: 0, n: 0 });
    const quota = (await env.api.get(`/v1/admin/control/tenants/${TENANT}/quota`).set(env.t.auth).expect(200)).body.values as { recall_burst: number; write_burst: number };
    expect(quota.write_burst).not.toBe(quota.recall_burst);
    const ok = await feedback(valid, 'writeOnly');
    expect(ok.status).toBe(200);
    expect(ok.headers['x-ratelimit-limit']).toBe(String(quota.write_burst));
  });
});
