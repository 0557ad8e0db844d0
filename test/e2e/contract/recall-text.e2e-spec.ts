import { createHash } from 'node:crypto';
import { axisVector, type ContractEnv, deepObject, type KeyName, TENANT, startContractEnv, expectContractError, expectEachRefused } from '../../support/contract';

/**
 * POST /v1/memory/recall_text, from the contract (§2.4, §3.7): the request of /recall with
 * `query_text` instead of `query_embedding`; the query normalised, redacted and embedded by the
 * deployment's provider (the open core's deterministic fake here, so the §2.4 example reproduces);
 * `query` in the answer; the default context budget; no provider -> 400 before authentication.
 */

const TOKEN_BUDGET_DEFAULT = 100;
const PROFILE = { limit: 24, neighborhood_hops: 2, max_nodes: 60, max_edges: 80, ranked_limit: 140, min_edge_weight: 0.2, min_edge_confidence: 0.2 };

interface Ranked {
  id: string;
  activation: number;
  score: number;
}

describe('contract: POST /v1/memory/recall_text', () => {
  let env: ContractEnv;
  beforeAll(async () => {
    // The default token budget of recall_text is set here (§2.4); the example's text fits it.
    env = await startContractEnv({ env: { MEMORY_RECALL_TEXT_CONTEXT_TOKEN_BUDGET_DEFAULT: String(TOKEN_BUDGET_DEFAULT) } });
  });
  afterAll(async () => {
    await env.stop();
  });
  const recallText = (body: unknown, key: KeyName = 'plain') => env.api.post('/v1/memory/recall_text').set(env.as(key)).send(body as object);

  const example = {
    scope: 'travel-desk',
    input_text: 'Maria said she is vegetarian and likes window seats.',
    memory_lane: 'shared',
    nodes: [
      { client_id: 'user:maria', type: 'entity', title: 'Maria', text_summary: 'Frequent flyer, Lisbon office' },
      { client_id: 'evt:diet-2026-02-20', type: 'event', text_summary: 'Maria is vegetarian and prefers window seats' },
    ],
    edges: [{ type: 'related_to', src: { client_id: 'evt:diet-2026-02-20' }, dst: { client_id: 'user:maria' }, weight: 0.9, confidence: 0.85 }],
  };
  let maria: string;
  let diet: string;
  let commitId: string;
  beforeAll(async () => {
    const w = await env.api.post('/v1/memory/write').set(env.as('plain')).send(example).expect(200);
    [maria, diet, commitId] = [w.body.nodes[0].id, w.body.nodes[1].id, w.body.commit_id];
    await env.waitReady('plain', 'travel-desk', ['user:maria', 'evt:diet-2026-02-20']);
  });

  it('reproduces the §2.4 example with the deterministic fake embedder', async () => {
    const res = await recallText({ scope: 'travel-desk', query_text: 'what does Maria eat?' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const text = `# Entities\n- Maria: Frequent flyer, Lisbon office (node:${maria})\n\n# Supporting Events / Evidence\n- Maria is vegetarian and prefers window seats (node:${diet})`;
    expect(res.body).toEqual({
      scope: 'travel-desk',
      tenant_id: TENANT,
      seeds: [
        { id: maria, type: 'entity', title: 'Maria', text_summary: 'Frequent flyer, Lisbon office', tier: 'hot', salience: 0.5, confidence: 0.5, similarity: expect.any(Number) },
        { id: diet, type: 'event', title: null, text_summary: 'Maria is vegetarian and prefers window seats', tier: 'hot', salience: 0.5, confidence: 0.5, similarity: expect.any(Number) },
      ],
      subgraph: {
        nodes: [
          { id: maria, type: 'entity', title: 'Maria', text_summary: 'Frequent flyer, Lisbon office' },
          { id: diet, type: 'event', title: null, text_summary: 'Maria is vegetarian and prefers window seats' },
        ],
        edges: [{ from_id: diet, to_id: maria, type: 'related_to', weight: 0.9 }],
      },
      ranked: [
        { id: maria, activation: expect.any(Number), score: expect.any(Number) },
        { id: diet, activation: expect.any(Number), score: expect.any(Number) },
      ],
      context: {
        text,
        items: [
          { kind: 'entity', node_id: maria, title: 'Maria', summary: 'Frequent flyer, Lisbon office', commit_id: commitId },
          { kind: 'event', node_id: diet, summary: 'Maria is vegetarian and prefers window seats', raw_ref: null, evidence_ref: null, commit_id: commitId },
        ],
        citations: [
          { node_id: maria, commit_id: commitId, raw_ref: null, evidence_ref: null },
          { node_id: diet, commit_id: commitId, raw_ref: null, evidence_ref: null },
        ],
      },
      query: { text: 'what does Maria eat?', embedding_provider: 'fake:deterministic' },
      trajectory: {
        strategy: 'balanced',
        layers: [
          { level: 'L0', name: 'seed_candidates', hits: 2, ann_seed_candidates: 2, mode: 'ann', exact_fallback_attempted: false, duration_ms: expect.any(Number), pruned_reasons: [] },
          {
            level: 'L1',
            name: 'graph_expansion',
            hits: 2,
            edges: 1,
            candidate_nodes: 2,
            candidate_edges: 1,
            dropped_nodes: 0,
            dropped_edges: 0,
            duration_ms: expect.any(Number),
            pruned_reasons: ['edge_quality_thresholds_active'],
          },
          { level: 'L2', name: 'context_assembly', context_chars: text.length, duration_ms: expect.any(Number), pruned_reasons: [] },
        ],
        budgets: PROFILE,
        pruned_reasons: ['edge_quality_thresholds_active'],
      },
      observability: {
        stage_timings_ms: expect.any(Object),
        inflight_wait_ms: expect.any(Number),
        adaptive: { profile: { profile: 'strict_edges', applied: false, reason: 'wait_below_threshold' }, hard_cap: { applied: false, reason: 'wait_below_threshold' } },
        stage1: null,
        neighborhood_counts: null,
      },
    });
    // The example's similarities (pgvector computes in single precision: 4 digits).
    expect(res.body.seeds[0].similarity).toBeCloseTo(0.003678, 4);
    expect(res.body.seeds[1].similarity).toBeCloseTo(-0.01011, 4);
    const [m, d] = res.body.ranked as Ranked[];
    expect(m!.activation).toBeCloseTo(0.1277585, 4);
    expect(m!.score).toBeCloseTo(0.23943095, 4);
    expect(d!.activation).toBeCloseTo(0.1174175, 4);
    expect(d!.score).toBeCloseTo(0.23219225, 4);
    // The nodes were embedded by the same provider.
    const found = await env.api.post('/v1/memory/find').set(env.as('plain')).send({ scope: 'travel-desk', include_meta: true });
    expect(found.body.nodes.map((n: { embedding_model: string }) => n.embedding_model)).toEqual(['fake:deterministic', 'fake:deterministic']);
  });

  it('normalises and redacts the query before embedding it, and reports the prepared text in query.text', async () => {
    const canonical = await recallText({ scope: 'travel-desk', query_text: 'what does Maria eat?' });
    const messy = await recallText({ scope: 'travel-desk', query_text: '  what\n\tdoes   Maria eat?  ' });
    expect(messy.body.query).toEqual({ text: 'what does Maria eat?', embedding_provider: 'fake:deterministic' });
    // Same prepared text, same vector, same similarities.
    expect(messy.body.seeds).toEqual(canonical.body.seeds);
    const mail = await recallText({ scope: 'travel-desk', query_text: 'mail  bob@example.com' });
    const h = createHash('sha256').update('bob@example.com').digest('hex').slice(0, 8);
    expect(mail.body.query.text).toBe(`mail [EMAIL#${h}]`);
    expect(mail.body.seeds[0].similarity).not.toBeCloseTo(canonical.body.seeds[0].similarity, 6);
    // Over-long text is truncated to 8000 characters, not refused.
    const long = await recallText({ scope: 'travel-desk', query_text: 'y'.repeat(9000) });
    expect(long.status).toBe(200);
    expect(long.body.query.text).toHaveLength(8000);
    expect(long.body.query.text.endsWith('\u2026')).toBe(true);
  });

  it('accepts the knobs of /recall with their limits and defaults, and needs query_text', async () => {
    const base = { scope: 'travel-desk', query_text: 'what does Maria eat?' };
    const local = await recallText({ ...base, recall_strategy: 'local' });
    expect(local.body.trajectory.budgets).toEqual({ limit: 16, neighborhood_hops: 1, max_nodes: 32, max_edges: 40, ranked_limit: 80, min_edge_weight: 0.2, min_edge_confidence: 0.2 });
    const explicit = await recallText({ ...base, limit: 1, max_edges: 100, include_meta: true, include_slots_preview: true, slots_preview_keys: 50, consumer_team_id: 'team-q' });
    expect(explicit.status).toBe(200);
    expect(explicit.body.seeds).toHaveLength(1);
    expect(explicit.body.trajectory.budgets).toEqual({ ...PROFILE, limit: 1, max_edges: 100 });
    expect(explicit.body.observability.adaptive.profile.reason).toBe('explicit_knobs');
    expect(explicit.body.subgraph.nodes[0]).toMatchObject({ embedding_status: 'ready', embedding_model: 'fake:deterministic', slots_preview: {} });
    const before = await env.counts();
    const cases: [string, Record<string, unknown>][] = [
      ['query_text', { scope: 'travel-desk' }],
      ['query_text', { ...base, query_text: '' }],
      ['query_text', { ...base, query_text: 5 }],
      ['query_text', { ...base, query_text: ['what'] }],
      ['limit', { ...base, limit: 0 }],
      ['limit', { ...base, limit: 201 }],
      ['neighborhood_hops', { ...base, neighborhood_hops: 3 }],
      ['max_nodes', { ...base, max_nodes: 201 }],
      ['max_edges', { ...base, max_edges: 101 }],
      ['ranked_limit', { ...base, ranked_limit: 501 }],
      ['min_edge_weight', { ...base, min_edge_weight: 2 }],
      ['min_edge_confidence', { ...base, min_edge_confidence: -1 }],
      ['context_token_budget', { ...base, context_token_budget: 256_001 }],
      ['context_char_budget', { ...base, context_char_budget: 0 }],
      ['slots_preview_keys', { ...base, slots_preview_keys: 51 }],
      ['rules_limit', { ...base, rules_limit: 201 }],
      ['recall_strategy', { ...base, recall_strategy: 'wide' }],
      ['include_meta', { ...base, include_meta: 'yes' }],
    ];
    for (const [field, body] of cases) {
      const res = await recallText(body);
      expect({ field, status: res.status, error: res.body?.error }).toEqual({ field, status: 400, error: 'invalid_request' });
      expectContractError(res, 400, 'invalid_request');
      expect(res.body.issues).toEqual(expect.arrayContaining([{ path: field, message: expect.any(String) }]));
    }
    // Whitespace only is empty once normalised: refused, not embedded.
    expectContractError(await recallText({ ...base, query_text: ' \n\t ' }), 400, 'invalid_request');
    // A query_embedding is not part of this route: ignored and named.
    const ignored = await recallText({ ...base, query_embedding: axisVector(0) });
    expect(ignored.status).toBe(200);
    expect(ignored.headers['x-aionis-ignored-fields']).toBe('query_embedding');
    expect(await env.counts()).toEqual(before);
  });

  it('applies MEMORY_RECALL_TEXT_CONTEXT_TOKEN_BUDGET_DEFAULT when no budget is given, and only to recall_text', async () => {
    const base = { scope: 'travel-desk', query_text: 'what does Maria eat?', return_debug: true };
    const dflt = await recallText(base);
    expect(dflt.body.debug.context_compaction).toMatchObject({ token_budget: TOKEN_BUDGET_DEFAULT, applied: false });
    // An explicit token budget replaces it (40 tokens = 160 characters: the event line is dropped).
    const tight = await recallText({ ...base, context_token_budget: 40 });
    expect(tight.body.debug.context_compaction).toMatchObject({ token_budget: 40, applied: true, dropped_by_section: { events: 1 } });
    expect(tight.body.context.text).toBe(`# Entities\n- Maria: Frequent flyer, Lisbon office (node:${maria})`);
    expect(tight.body.context.items).toEqual(dflt.body.context.items);
    // A char budget alone also means "a budget was given": the default is not added.
    const chars = await recallText({ ...base, context_char_budget: 10_000 });
    expect(chars.body.debug.context_compaction).toMatchObject({ token_budget: null, applied: false });
    // /recall has no such default.
    const vector = await env.api.post('/v1/memory/recall').set(env.as('plain')).send({ scope: 'travel-desk', query_embedding: axisVector(0), return_debug: true });
    expect(vector.body.debug.context_compaction).toMatchObject({ token_budget: null, char_budget: null });
  });

  it('applies lanes and identity as /recall does, and sees nothing of another tenant or project', async () => {
    await env.api
      .post('/v1/memory/write')
      .set(env.as('plain'))
      .send({ scope: 'text-lanes', input_text: 'x', nodes: [{ client_id: 'mine', type: 'entity', title: 'private of a', owner_agent_id: 'agent-a', embedding: axisVector(5) }] })
      .expect(200);
    const seeds = async (key: KeyName, extra: Record<string, unknown> = {}) => (await recallText({ scope: 'text-lanes', query_text: 'anything', ...extra }, key)).body.seeds.length as number;
    expect(await seeds('agentA')).toBe(1);
    expect(await seeds('plain', { consumer_agent_id: 'agent-a' })).toBe(1);
    expect(await seeds('plain')).toBe(0);
    expect(await seeds('agentB')).toBe(0);
    expect(await seeds('teamX')).toBe(0);
    const mismatch = await recallText({ scope: 'text-lanes', query_text: 'anything', consumer_agent_id: 'agent-b' }, 'agentA');
    expectContractError(mismatch, 403, 'identity_mismatch');
    expect(mismatch.body.details).toEqual({ field: 'consumer_agent_id', provided: 'agent-b', expected: 'agent-a' });
    for (const key of ['other', 'project'] as const) {
      const res = await recallText({ scope: 'travel-desk', query_text: 'what does Maria eat?' }, key);
      expect({ key, status: res.status, seeds: res.body.seeds, text: res.body.context.text }).toEqual({ key, status: 200, seeds: [], text: '' });
      expect(res.body.query).toEqual({ text: 'what does Maria eat?', embedding_provider: 'fake:deterministic' });
      expect(res.body.trajectory.layers[0].pruned_reasons).toContain('seed_empty');
    }
  });

  it('refuses each client mistake with a 4xx in the contract shape, never a 5xx, and stores nothing', async () => {
    const before = await env.counts();
    const valid = { scope: 's', query_text: 'hello' };
    const raw = (text: string) => env.api.post('/v1/memory/recall_text').set(env.as('plain')).send(text);
    const cases: [string, () => ReturnType<typeof recallText>, number, string][] = [
      ['an infinite limit', () => raw(JSON.stringify({ ...valid, limit: 12345 }).replace('12345', '1e999')), 400, 'invalid_request'],
      ['a NUL character in the query', () => raw(JSON.stringify({ ...valid, query_text: 'aXb' }).replace('aXb', 'a\\u0000b')), 400, 'invalid_request'],
      ['JSON nested 200 levels deep', () => recallText({ ...valid, rules_context: deepObject(200) }), 400, 'invalid_request'],
      ['malformed JSON', () => raw('{"query_text":'), 400, 'invalid_request'],
      ['a body that is an array', () => env.api.post('/v1/memory/recall_text').set(env.as('plain')).send(['hello']), 400, 'invalid_request'],
      ['no body at all', () => env.api.post('/v1/memory/recall_text').set(env.as('plain')), 400, 'invalid_request'],
      ['an empty scope', () => recallText({ ...valid, scope: ' ' }), 400, 'invalid_scope'],
      ['a 6 MiB body', () => recallText({ ...valid, query_text: 'x'.repeat(6 * 1024 * 1024) }), 413, 'payload_too_large'],
      ['no key', () => env.api.post('/v1/memory/recall_text').set('content-type', 'application/json').send(valid), 401, 'unauthorized'],
      ['a write-only key', () => recallText(valid, 'writeOnly'), 403, 'forbidden'],
    ];
    await expectEachRefused(cases);
    expect(await env.counts()).toEqual(before);
  });

  describe('a deployment without an embedding provider (EMBEDDING_PROVIDER=none)', () => {
    let none: ContractEnv;
    beforeAll(async () => {
      none = await startContractEnv({ env: { EMBEDDING_PROVIDER: 'none' } });
    });
    afterAll(async () => {
      await none.stop();
    });

    it('answers 400 no_embedding_provider before authentication and validation, and still serves /recall', async () => {
      const before = await none.counts();
      const post = () => none.api.post('/v1/memory/recall_text');
      const cases = [
        await post().set('content-type', 'application/json').send({ query_text: 'hello' }),
        await post().set('content-type', 'application/json').set('x-api-key', 'aio_live_not-a-key').send({ query_text: 'hello' }),
        await post().set(none.as('plain')).send({ query_text: 'hello' }),
        await post().set(none.as('plain')).send({ limit: 0 }),
      ];
      for (const res of cases) expectContractError(res, 400, 'no_embedding_provider');
      expect(await none.counts()).toEqual(before);
      const w = await none.api.post('/v1/memory/write').set(none.as('plain')).send({ scope: 's', input_text: 'x', memory_lane: 'shared', nodes: [{ client_id: 'v', type: 'event', text_summary: 'v', embedding: axisVector(2) }, { client_id: 'p', type: 'event', text_summary: 'no vector' }] });
      expect(w.status).toBe(200);
      const found = await none.api.post('/v1/memory/find').set(none.as('plain')).send({ scope: 's', client_id: 'p', include_meta: true });
      expect(found.body.nodes[0].embedding_status).toBe('failed'); // nothing can embed it
      const recall = await none.api.post('/v1/memory/recall').set(none.as('plain')).send({ scope: 's', query_embedding: axisVector(2) });
      expect(recall.status).toBe(200);
      expect(recall.body.seeds.map((s: { id: string }) => s.id)).toEqual([w.body.nodes[0].id]);
    });
  });
});
