import { createHash } from 'node:crypto';
import { axisVector, type ContractEnv, deepObject, type KeyName, TENANT, OTHER_TENANT, startContractEnv, expectContractError, expectEachRefused } from '../../support/contract';
import { TEST_ADMIN_TOKEN } from '../../support/service';

/**
 * POST /v1/memory/recall, from the contract (§2.3, §3, §4): every request field with its type,
 * default and limits; every response member; the knob resolution; stage 1 (seeds), stage 2
 * (neighbourhood, activation, subgraph) with the numbers of §3.4; lanes; context assembly and
 * compaction; debug; and bad input refused with nothing stored.
 */

/** A 1536-d vector with these components (all others 0). */
function mix(parts: Record<number, number>): number[] {
  const v = new Array<number>(1536).fill(0);
  for (const [i, x] of Object.entries(parts)) v[Number(i)] = x;
  return v;
}

const PROFILE = { limit: 24, neighborhood_hops: 2, max_nodes: 60, max_edges: 80, ranked_limit: 140, min_edge_weight: 0.2, min_edge_confidence: 0.2 };
const LOCAL = { limit: 16, neighborhood_hops: 1, max_nodes: 32, max_edges: 40, ranked_limit: 80, min_edge_weight: 0.2, min_edge_confidence: 0.2 };
const GLOBAL = { limit: 30, neighborhood_hops: 2, max_nodes: 80, max_edges: 100, ranked_limit: 180, min_edge_weight: 0.05, min_edge_confidence: 0.05 };
const TIMING_KEYS = [
  'stage1_candidates_ann_ms',
  'stage1_candidates_exact_fallback_ms',
  'stage2_edges_ms',
  'stage2_nodes_ms',
  'stage2_spread_ms',
  'stage3_context_ms',
  'rule_defs_ms',
  'audit_insert_ms',
  'debug_embeddings_ms',
];
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

interface Ranked {
  id: string;
  activation: number;
  score: number;
}

describe('contract: POST /v1/memory/recall', () => {
  let env: ContractEnv;
  beforeAll(async () => {
    env = await startContractEnv();
  });
  afterAll(async () => {
    await env.stop();
  });
  const recall = (body: unknown, key: KeyName = 'plain') => env.api.post('/v1/memory/recall').set(env.as(key)).send(body as object);
  const write = async (body: Record<string, unknown>, key: KeyName = 'plain') => {
    const res = await env.api.post('/v1/memory/write').set(env.as(key)).send({ input_text: 'fixture', auto_embed: false, ...body });
    expect(res.status).toBe(200);
    return res.body as { commit_id: string; nodes: { id: string; client_id?: string }[] };
  };
  const idsOf = (w: { nodes: { id: string; client_id?: string }[] }) => Object.fromEntries(w.nodes.map((n) => [n.client_id!, n.id]));

  it('reproduces the §2.3 example: every member, the context text and line format, ranked and the trajectory', async () => {
    const w = await write({
      scope: 'travel-desk',
      input_text: 'Maria said she is vegetarian and likes window seats.',
      memory_lane: 'shared',
      nodes: [
        { client_id: 'user:maria', type: 'entity', title: 'Maria', text_summary: 'Frequent flyer, Lisbon office', embedding: axisVector(0) },
        { client_id: 'evt:diet-2026-02-20', type: 'event', text_summary: 'Maria is vegetarian and prefers window seats', embedding: axisVector(1) },
      ],
      edges: [{ type: 'related_to', src: { client_id: 'evt:diet-2026-02-20' }, dst: { client_id: 'user:maria' }, weight: 0.9, confidence: 0.85 }],
    });
    const [maria, diet] = [w.nodes[0]!.id, w.nodes[1]!.id];
    const res = await recall({
      scope: 'travel-desk',
      query_embedding: axisVector(1),
      consumer_agent_id: 'agent-planner',
      limit: 5,
      neighborhood_hops: 1,
      max_nodes: 10,
      max_edges: 10,
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const text = `# Entities\n- Maria: Frequent flyer, Lisbon office (node:${maria})\n\n# Supporting Events / Evidence\n- Maria is vegetarian and prefers window seats (node:${diet})`;
    expect(res.body).toEqual({
      scope: 'travel-desk',
      tenant_id: TENANT,
      seeds: [
        { id: diet, type: 'event', title: null, text_summary: 'Maria is vegetarian and prefers window seats', tier: 'hot', salience: 0.5, confidence: 0.5, similarity: expect.any(Number) },
        { id: maria, type: 'entity', title: 'Maria', text_summary: 'Frequent flyer, Lisbon office', tier: 'hot', salience: 0.5, confidence: 0.5, similarity: expect.any(Number) },
      ],
      subgraph: {
        nodes: [
          { id: diet, type: 'event', title: null, text_summary: 'Maria is vegetarian and prefers window seats' },
          { id: maria, type: 'entity', title: 'Maria', text_summary: 'Frequent flyer, Lisbon office' },
        ],
        edges: [{ from_id: diet, to_id: maria, type: 'related_to', weight: 0.9 }],
      },
      ranked: [
        { id: diet, activation: expect.any(Number), score: expect.any(Number) },
        { id: maria, activation: expect.any(Number), score: expect.any(Number) },
      ],
      context: {
        text,
        items: [
          { kind: 'entity', node_id: maria, title: 'Maria', summary: 'Frequent flyer, Lisbon office', commit_id: w.commit_id },
          { kind: 'event', node_id: diet, summary: 'Maria is vegetarian and prefers window seats', raw_ref: null, evidence_ref: null, commit_id: w.commit_id },
        ],
        citations: [
          { node_id: maria, commit_id: w.commit_id, raw_ref: null, evidence_ref: null },
          { node_id: diet, commit_id: w.commit_id, raw_ref: null, evidence_ref: null },
        ],
      },
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
        budgets: { limit: 5, neighborhood_hops: 1, max_nodes: 10, max_edges: 10, ranked_limit: 140, min_edge_weight: 0.2, min_edge_confidence: 0.2 },
        pruned_reasons: ['edge_quality_thresholds_active'],
      },
      observability: {
        stage_timings_ms: Object.fromEntries(TIMING_KEYS.map((k) => [k, expect.any(Number)])),
        inflight_wait_ms: expect.any(Number),
        adaptive: { profile: { profile: 'strict_edges', applied: false, reason: 'explicit_knobs' }, hard_cap: { applied: false, reason: 'explicit_knobs' } },
        stage1: null,
        neighborhood_counts: null,
      },
    });
    expect(Object.keys(res.body.observability.stage_timings_ms)).toEqual(TIMING_KEYS);
    // The query is the event's own vector: similarity 1 and 0; the entity is still a seed (no threshold).
    expect(res.body.seeds[0].similarity).toBeCloseTo(1, 6);
    expect(res.body.seeds[1].similarity).toBeCloseTo(0, 6);
    // Seed: 0.75·1 + 0.25·0.5 = 0.875, score 0.7·0.875 + 0.15·0.5 + 0.15·0.5 = 0.7625; the entity
    // (seed activation 0.125) receives 0.875·0.6·0.9·0.85·0.5 = 0.2008125 along related_to.
    const ranked = res.body.ranked as Ranked[];
    expect(ranked[0]!.activation).toBeCloseTo(0.875, 6);
    expect(ranked[0]!.score).toBeCloseTo(0.7625, 6);
    expect(ranked[1]!.activation).toBeCloseTo(0.2008125, 6);
    expect(ranked[1]!.score).toBeCloseTo(0.7 * 0.2008125 + 0.15, 6);
  });

  describe('knobs (§3.1)', () => {
    const scope = 'knobs';
    beforeAll(async () => {
      await write({ scope, memory_lane: 'shared', nodes: [{ client_id: 'k', type: 'event', text_summary: 'k', embedding: axisVector(7) }] });
    });

    it('fills missing knobs from the strict_edges profile (24/2/60/80/140/0.2/0.2); null counts as missing', async () => {
      for (const body of [{}, { limit: null, max_edges: null, min_edge_weight: null }]) {
        const res = await recall({ scope, query_embedding: axisVector(7), ...body });
        expect(res.status).toBe(200);
        expect(res.body.trajectory.budgets).toEqual(PROFILE);
        expect(res.body.trajectory.strategy).toBe('balanced');
        expect(res.body.observability.adaptive).toEqual({ profile: { profile: 'strict_edges', applied: false, reason: 'wait_below_threshold' }, hard_cap: { applied: false, reason: 'wait_below_threshold' } });
      }
    });

    it('replaces the knobs by the recall_strategy preset (local, balanced, global) when none is explicit', async () => {
      for (const [strategy, knobs] of [
        ['local', LOCAL],
        ['balanced', PROFILE],
        ['global', GLOBAL],
      ] as const) {
        const res = await recall({ scope, query_embedding: axisVector(7), recall_strategy: strategy });
        expect({ strategy, budgets: res.body.trajectory.budgets, reported: res.body.trajectory.strategy }).toEqual({ strategy, budgets: knobs, reported: strategy });
        expect(res.body.observability.adaptive.profile.reason).toBe('wait_below_threshold');
      }
    });

    it('ignores the strategy when any knob is explicit (still reporting its name) and turns adaptation off with explicit_knobs', async () => {
      const res = await recall({ scope, query_embedding: axisVector(7), recall_strategy: 'local', limit: 5 });
      expect(res.status).toBe(200);
      expect(res.body.trajectory.budgets).toEqual({ ...PROFILE, limit: 5 });
      expect(res.body.trajectory.strategy).toBe('local');
      expect(res.body.observability.adaptive).toEqual({ profile: { profile: 'strict_edges', applied: false, reason: 'explicit_knobs' }, hard_cap: { applied: false, reason: 'explicit_knobs' } });
      // Without a strategy the name is inferred from the final knobs: the local preset given knob by knob reads as local.
      const inferred = await recall({ scope, query_embedding: axisVector(7), ...LOCAL });
      expect(inferred.body.trajectory.strategy).toBe('local');
      expect(inferred.body.observability.adaptive.profile.reason).toBe('explicit_knobs');
    });

    it('accepts every request field at its minimum and at its maximum', async () => {
      const common = {
        scope,
        query_embedding: axisVector(7),
        consumer_agent_id: 'someone',
        consumer_team_id: 'some-team',
        context_compaction_profile: 'aggressive',
        include_meta: true,
        include_slots: false,
        include_slots_preview: true,
        return_debug: true,
        include_embeddings: false,
        rules_context: { intent: 'x' },
        rules_include_shadow: true,
      };
      const min = await recall({
        ...common,
        limit: 1,
        neighborhood_hops: 1,
        max_nodes: 1,
        max_edges: 1,
        ranked_limit: 1,
        min_edge_weight: 0,
        min_edge_confidence: 0,
        context_token_budget: 1,
        context_char_budget: 1,
        slots_preview_keys: 1,
        rules_limit: 1,
      });
      expect(min.status).toBe(200);
      expect(min.body.trajectory.budgets).toEqual({ limit: 1, neighborhood_hops: 1, max_nodes: 1, max_edges: 1, ranked_limit: 1, min_edge_weight: 0, min_edge_confidence: 0 });
      const max = await recall({
        ...common,
        recall_strategy: 'global',
        limit: 200,
        neighborhood_hops: 2,
        max_nodes: 200,
        max_edges: 100,
        ranked_limit: 500,
        min_edge_weight: 1,
        min_edge_confidence: 1,
        context_token_budget: 256_000,
        context_char_budget: 1_000_000,
        slots_preview_keys: 50,
        rules_limit: 200,
      });
      expect(max.status).toBe(200);
      expect(max.body.trajectory.budgets).toEqual({ limit: 200, neighborhood_hops: 2, max_nodes: 200, max_edges: 100, ranked_limit: 500, min_edge_weight: 1, min_edge_confidence: 1 });
    });

    it('refuses each knob one step outside its limits, and each wrong type, with 400 invalid_request naming the field', async () => {
      const before = await env.counts();
      const cases: [string, unknown][] = [
        ['limit', 0],
        ['limit', 201],
        ['limit', 2.5],
        ['limit', '5'],
        ['neighborhood_hops', 0],
        ['neighborhood_hops', 3],
        ['max_nodes', 0],
        ['max_nodes', 201],
        ['max_edges', 0],
        ['max_edges', 101],
        ['ranked_limit', 0],
        ['ranked_limit', 501],
        ['min_edge_weight', -0.01],
        ['min_edge_weight', 1.01],
        ['min_edge_confidence', -0.01],
        ['min_edge_confidence', 1.01],
        ['context_token_budget', 0],
        ['context_token_budget', 256_001],
        ['context_char_budget', 0],
        ['context_char_budget', 1_000_001],
        ['context_compaction_profile', 'tiny'],
        ['slots_preview_keys', 0],
        ['slots_preview_keys', 51],
        ['rules_limit', 0],
        ['rules_limit', 201],
        ['recall_strategy', 'nearby'],
        ['consumer_agent_id', ''],
        ['consumer_team_id', 7],
        ['include_meta', 'true'],
        ['include_slots', 1],
        ['include_slots_preview', 'yes'],
        ['return_debug', 'false'],
        ['include_embeddings', 'false'],
        ['rules_include_shadow', 0],
        ['query_embedding', 'vector'],
        ['query_embedding', axisVector(0, 1535)],
        ['query_embedding', axisVector(0, 1537)],
        ['query_embedding', [...axisVector(0, 1535), 'x']],
        ['query_embedding', [...axisVector(0, 1535), null]],
        ['query_embedding', axisVector(0).map((v, i) => (i === 9 ? 1e39 : v))],
        ['scope', 5],
      ];
      for (const [field, value] of cases) {
        const res = await recall({ scope, query_embedding: axisVector(7), [field]: value });
        expect({ field, value: JSON.stringify(value)?.slice(0, 40), status: res.status, error: res.body?.error }).toEqual({ field, value: JSON.stringify(value)?.slice(0, 40), status: 400, error: 'invalid_request' });
        expectContractError(res, 400, 'invalid_request');
        expect(res.body.issues).toEqual(expect.arrayContaining([{ path: expect.stringMatching(new RegExp(`^${field}(\\.\\d+)?$`)), message: expect.any(String) }]));
      }
      const missing = await recall({ scope });
      expectContractError(missing, 400, 'invalid_request');
      expect(missing.body.issues).toEqual([{ path: 'query_embedding', message: expect.any(String) }]);
      expect(await env.counts()).toEqual(before);
    });
  });

  it('takes seeds only from ready nodes of tier hot or warm and of type event, topic (active), concept, entity or rule (not draft), nearest first, with no threshold', async () => {
    const scope = 'seeds';
    const w = await write({
      scope,
      memory_lane: 'shared',
      nodes: [
        { client_id: 'hot-event', type: 'event', text_summary: 'hot', embedding: axisVector(0) },
        { client_id: 'warm-concept', type: 'concept', title: 'warm', tier: 'warm', embedding: mix({ 0: 0.8, 1: 0.6 }) },
        { client_id: 'entity', type: 'entity', title: 'entity', embedding: mix({ 0: 0.6, 1: 0.8 }) },
        { client_id: 'topic', type: 'topic', title: 'topic', slots: { topic_state: 'active' }, embedding: mix({ 0: 0.4, 2: Math.sqrt(0.84) }) },
        { client_id: 'opposite', type: 'entity', title: 'opposite', embedding: axisVector(0).map((v) => -v) },
        // Each of these is as close to the query as it gets, and none may be a seed.
        { client_id: 'cold', type: 'event', tier: 'cold', embedding: axisVector(0) },
        { client_id: 'archive', type: 'event', tier: 'archive', embedding: axisVector(0) },
        { client_id: 'draft-topic', type: 'topic', title: 'draft', slots: { topic_state: 'draft' }, embedding: axisVector(0) },
        { client_id: 'draft-rule', type: 'rule', title: 'draft rule', slots: { if: {}, then: {} }, embedding: axisVector(0) },
        { client_id: 'evidence', type: 'evidence', embedding: axisVector(0) },
        { client_id: 'procedure', type: 'procedure', embedding: axisVector(0) },
        { client_id: 'self', type: 'self_model', embedding: axisVector(0) },
        { client_id: 'failed', type: 'event', text_summary: 'no vector, auto_embed false' },
      ],
    });
    const id = idsOf(w);
    const failed = await env.api.post('/v1/memory/find').set(env.as('plain')).send({ scope, client_id: 'failed', include_meta: true });
    expect(failed.body.nodes[0].embedding_status).toBe('failed');
    const res = await recall({ scope, query_embedding: axisVector(0) });
    expect(res.status).toBe(200);
    expect(res.body.seeds.map((s: { id: string }) => s.id)).toEqual([id['hot-event'], id['warm-concept'], id['entity'], id['topic'], id['opposite']]);
    expect(res.body.seeds.map((s: { similarity: number }) => Math.round(s.similarity * 1e5) / 1e5)).toEqual([1, 0.8, 0.6, 0.4, -1]);
    expect(res.body.seeds[1]).toEqual({ id: id['warm-concept'], type: 'concept', title: 'warm', text_summary: null, tier: 'warm', salience: 0.5, confidence: 0.5, similarity: expect.any(Number) });
    // `limit` caps the seeds, keeping the nearest.
    const two = await recall({ scope, query_embedding: axisVector(0), limit: 2 });
    expect(two.body.seeds.map((s: { id: string }) => s.id)).toEqual([id['hot-event'], id['warm-concept']]);
    // ranked: sorted by score, descending; the topic's state is reported on its node.
    const ranked = res.body.ranked as Ranked[];
    expect([...ranked].sort((a, b) => b.score - a.score)).toEqual(ranked);
    expect(res.body.subgraph.nodes.find((n: { id: string }) => n.id === id['topic'])).toEqual({ id: id['topic'], type: 'topic', title: 'topic', text_summary: null, topic_state: 'active', member_count: null });
  });

  describe('neighbourhood, activation and subgraph (§3.4)', () => {
    const scope = 'graph';
    let id: Record<string, string>;
    beforeAll(async () => {
      const w = await write({
        scope,
        memory_lane: 'shared',
        nodes: [
          { client_id: 'S', type: 'entity', title: 'S', embedding: axisVector(0) },
          { client_id: 'H', type: 'concept', title: 'H', embedding: axisVector(3) },
          { client_id: 'N', type: 'event', tier: 'cold', text_summary: 'N', embedding: axisVector(1) },
          { client_id: 'M', type: 'event', tier: 'cold', text_summary: 'M', embedding: axisVector(4) },
          { client_id: 'N2', type: 'event', tier: 'cold', text_summary: 'N2', embedding: axisVector(6) },
          { client_id: 'W', type: 'event', tier: 'archive', text_summary: 'W', embedding: axisVector(2) },
          { client_id: 'Q', type: 'event', tier: 'cold', text_summary: 'Q', embedding: axisVector(5) },
          { client_id: 'F', type: 'event', text_summary: 'F (failed: no vector)' },
        ],
        edges: [
          { type: 'related_to', src: { client_id: 'S' }, dst: { client_id: 'N' }, weight: 0.8, confidence: 0.9 },
          { type: 'part_of', src: { client_id: 'M' }, dst: { client_id: 'S' }, weight: 0.7, confidence: 0.9 },
          { type: 'derived_from', src: { client_id: 'N' }, dst: { client_id: 'N2' }, weight: 0.9, confidence: 0.9 },
          { type: 'related_to', src: { client_id: 'S' }, dst: { client_id: 'W' }, weight: 0.1, confidence: 0.9 },
          { type: 'related_to', src: { client_id: 'S' }, dst: { client_id: 'Q' }, weight: 0.9, confidence: 0.1 },
          { type: 'related_to', src: { client_id: 'S' }, dst: { client_id: 'F' }, weight: 0.9, confidence: 0.9 },
        ],
      });
      id = idsOf(w);
    });
    const q = (body: Record<string, unknown> = {}) => recall({ scope, query_embedding: axisVector(0), ...body });
    const nodeIds = (res: { body: { subgraph: { nodes: { id: string }[] } } }) => res.body.subgraph.nodes.map((n) => n.id);
    const edgePairs = (res: { body: { subgraph: { edges: { from_id: string; to_id: string }[] } } }) => res.body.subgraph.edges.map((e) => `${e.from_id}>${e.to_id}`);

    it('scores a seed of similarity 1 at 0.875 / 0.7625 and a related_to neighbour at weight 0.8, confidence 0.9 at 0.189', async () => {
      const res = await q();
      expect(res.status).toBe(200);
      // Seeds: hot/warm only; the cold and archived neighbours are reached through edges.
      expect(res.body.seeds.map((s: { id: string }) => s.id)).toEqual([id.S, id.H]);
      const ranked = res.body.ranked as Ranked[];
      const by = Object.fromEntries(ranked.map((r) => [r.id, r]));
      expect(by[id.S!]!.activation).toBeCloseTo(0.875, 6);
      expect(by[id.S!]!.score).toBeCloseTo(0.7625, 6);
      expect(by[id.N!]!.activation).toBeCloseTo(0.189, 6); // 0.875·0.6·0.8·0.9·0.5
      expect(by[id.N!]!.score).toBeCloseTo(0.7 * 0.189 + 0.15, 6);
      expect(by[id.M!]!.activation).toBeCloseTo(0.875 * 0.9 * 0.7 * 0.9 * 0.5, 6); // part_of, against the edge's direction
      expect(by[id.H!]!.activation).toBeCloseTo(0.125, 6); // a seed at similarity 0
      expect(by[id.N2!]!.activation).toBeCloseTo(0.189 * 1.0 * 0.9 * 0.9 * 0.5, 6); // derived_from, second hop
      expect(ranked.map((r) => r.id)).toEqual([id.S, id.M, id.N, id.H, id.N2]);
      // Output nodes: the seeds, then rankedAll order; the failed neighbour is loaded but never output or scored.
      expect(nodeIds(res)).toEqual([id.S, id.H, id.M, id.N, id.N2]);
      expect(ranked.map((r) => r.id)).not.toContain(id.F);
      // Output edges: both ends in the output, by weight·confidence descending; W (weight 0.1) and Q (confidence 0.1) are not followed.
      expect(edgePairs(res)).toEqual([`${id.N}>${id.N2}`, `${id.S}>${id.N}`, `${id.M}>${id.S}`]);
      expect(res.body.subgraph.edges[0]).toEqual({ from_id: id.N, to_id: id.N2, type: 'derived_from', weight: 0.9 });
    });

    it('follows an edge below 0.2 only when min_edge_weight / min_edge_confidence allow it', async () => {
      const weight0 = await q({ min_edge_weight: 0 });
      expect(nodeIds(weight0)).toContain(id.W);
      expect(nodeIds(weight0)).not.toContain(id.Q);
      expect(edgePairs(weight0)).toContain(`${id.S}>${id.W}`);
      expect((weight0.body.ranked as Ranked[]).find((r) => r.id === id.W)!.activation).toBeCloseTo(0.875 * 0.6 * 0.1 * 0.9 * 0.5, 6);
      const confidence0 = await q({ min_edge_confidence: 0 });
      expect(nodeIds(confidence0)).toContain(id.Q);
      expect(nodeIds(confidence0)).not.toContain(id.W);
      // And a threshold above an edge's weight drops it: at 0.75 only S>N (0.8) and N>N2 (0.9) remain.
      const strict = await q({ min_edge_weight: 0.75 });
      expect(nodeIds(strict)).toEqual([id.S, id.H, id.N, id.N2]);
    });

    it('expands one hop or two as neighborhood_hops says', async () => {
      const one = await q({ neighborhood_hops: 1 });
      expect(nodeIds(one)).toEqual([id.S, id.H, id.M, id.N]);
      expect(one.body.ranked.map((r: Ranked) => r.id)).not.toContain(id.N2);
      const two = await q({ neighborhood_hops: 2 });
      expect(nodeIds(two)).toContain(id.N2);
    });

    it('holds max_nodes, max_edges and ranked_limit, reporting the caps in the trajectory', async () => {
      const nodes = await q({ max_nodes: 2, return_debug: true });
      expect(nodeIds(nodes)).toEqual([id.S, id.H]);
      expect(nodes.body.subgraph.edges).toEqual([]);
      expect(nodes.body.ranked).toHaveLength(5); // ranked is capped by ranked_limit only
      expect(nodes.body.trajectory.layers[1]).toMatchObject({ hits: 2, edges: 0, candidate_nodes: 6, dropped_nodes: 4 });
      expect(nodes.body.trajectory.layers[1].pruned_reasons).toEqual(expect.arrayContaining(['max_nodes_cap']));
      const edges = await q({ max_edges: 1, return_debug: true });
      expect(edgePairs(edges)).toEqual([`${id.N}>${id.N2}`]);
      expect(edges.body.trajectory.layers[1].pruned_reasons).toEqual(expect.arrayContaining(['max_edges_cap']));
      expect(edges.body.trajectory.pruned_reasons).toEqual(expect.arrayContaining(['max_edges_cap', 'edge_quality_thresholds_active']));
      const ranked = await q({ ranked_limit: 2 });
      expect(ranked.body.ranked.map((r: Ranked) => r.id)).toEqual([id.S, id.M]);
      // Every output is within its cap on the profile defaults as well.
      const all = await q({ max_nodes: 3, max_edges: 2, ranked_limit: 3 });
      expect(all.body.subgraph.nodes.length).toBeLessThanOrEqual(3);
      expect(all.body.subgraph.edges.length).toBeLessThanOrEqual(2);
      expect(all.body.ranked).toHaveLength(3);
    });

    it('adds debug with return_debug: neighbourhood counts, stage1 and the compaction report, copied into observability', async () => {
      const res = await q({ return_debug: true });
      expect(res.body.debug).toEqual({
        neighborhood_counts: { nodes: 6, edges: 4 },
        context_compaction: {
          profile: 'balanced',
          token_budget: null,
          char_budget: null,
          applied: false,
          before_chars: res.body.context.text.length,
          after_chars: res.body.context.text.length,
          before_est_tokens: Math.ceil(res.body.context.text.length / 4),
          after_est_tokens: Math.ceil(res.body.context.text.length / 4),
          dropped_lines: 0,
          dropped_by_section: { topics: 0, entities: 0, events: 0, rules: 0 },
        },
        stage1: { mode: 'ann', ann_seed_count: 2, final_seed_count: 2, exact_fallback_enabled: true, exact_fallback_attempted: false },
      });
      expect(res.body.observability.stage1).toEqual(res.body.debug.stage1);
      expect(res.body.observability.neighborhood_counts).toEqual(res.body.debug.neighborhood_counts);
      expect(res.body.trajectory.layers[1]).toMatchObject({ candidate_nodes: 6, candidate_edges: 4, hits: 5, edges: 3, dropped_nodes: 1, dropped_edges: 1 });
      // Without return_debug there is no debug member and observability carries nulls.
      const plain = await q();
      expect(plain.body).not.toHaveProperty('debug');
      expect(plain.body.observability).toMatchObject({ stage1: null, neighborhood_counts: null });
    });
  });

  describe('lanes (§3.2) and isolation', () => {
    const scope = 'lanes';
    let id: Record<string, string>;
    beforeAll(async () => {
      const w = await write({
        scope,
        nodes: [
          { client_id: 'shared', type: 'entity', title: 'shared', memory_lane: 'shared', embedding: axisVector(10) },
          { client_id: 'of-a', type: 'entity', title: 'of agent a', memory_lane: 'private', owner_agent_id: 'agent-a', embedding: axisVector(11) },
          { client_id: 'of-b', type: 'entity', title: 'of agent b', memory_lane: 'private', owner_agent_id: 'agent-b', embedding: axisVector(12) },
          { client_id: 'of-x', type: 'entity', title: 'of team x', memory_lane: 'private', owner_team_id: 'team-x', embedding: axisVector(13) },
          { client_id: 'ownerless', type: 'entity', title: 'nobody', memory_lane: 'private', embedding: axisVector(14) },
          // A private neighbour (not a seed: cold) of the shared node.
          { client_id: 'a-neighbour', type: 'event', tier: 'cold', text_summary: 'a neighbour', memory_lane: 'private', owner_agent_id: 'agent-a', embedding: axisVector(15) },
        ],
        edges: [{ type: 'related_to', src: { client_id: 'shared' }, dst: { client_id: 'a-neighbour' }, weight: 0.9, confidence: 0.9 }],
      });
      id = idsOf(w);
    });
    const seen = async (key: KeyName, body: Record<string, unknown> = {}) => {
      const res = await recall({ scope, query_embedding: axisVector(10), ...body }, key);
      expect(res.status).toBe(200);
      const ids = new Set<string>([...res.body.seeds, ...res.body.subgraph.nodes, ...res.body.ranked].map((n: { id: string }) => n.id));
      for (const item of res.body.context.items as { node_id: string }[]) ids.add(item.node_id);
      return Object.entries(id)
        .filter(([, v]) => ids.has(v))
        .map(([k]) => k)
        .sort();
    };

    it('shows shared nodes to everyone, private ones only to their owner agent or team, ownerless private ones to nobody', async () => {
      expect(await seen('plain')).toEqual(['shared']);
      expect(await seen('plain', { consumer_agent_id: 'agent-a' })).toEqual(['a-neighbour', 'of-a', 'shared']);
      expect(await seen('plain', { consumer_agent_id: 'agent-b' })).toEqual(['of-b', 'shared']);
      expect(await seen('plain', { consumer_team_id: 'team-x' })).toEqual(['of-x', 'shared']);
      expect(await seen('agentA')).toEqual(['a-neighbour', 'of-a', 'shared']);
      expect(await seen('agentA', { consumer_agent_id: 'agent-a' })).toEqual(['a-neighbour', 'of-a', 'shared']);
      expect(await seen('agentB')).toEqual(['of-b', 'shared']);
      expect(await seen('teamX')).toEqual(['of-x', 'shared']);
    });

    it('refuses a consumer id that contradicts a bound key with 403 identity_mismatch, storing nothing', async () => {
      const before = await env.counts();
      const a = await recall({ scope, query_embedding: axisVector(10), consumer_agent_id: 'agent-b' }, 'agentA');
      expectContractError(a, 403, 'identity_mismatch');
      expect(a.body.details).toEqual({ field: 'consumer_agent_id', provided: 'agent-b', expected: 'agent-a' });
      const x = await recall({ scope, query_embedding: axisVector(10), consumer_team_id: 'team-y' }, 'teamX');
      expectContractError(x, 403, 'identity_mismatch');
      expect(x.body.details).toEqual({ field: 'consumer_team_id', provided: 'team-y', expected: 'team-x' });
      const tenant = await recall({ scope, query_embedding: axisVector(10), tenant_id: OTHER_TENANT }, 'agentA');
      expectContractError(tenant, 403, 'identity_mismatch');
      expect(tenant.body.details).toEqual({ field: 'tenant_id', provided: OTHER_TENANT, expected: TENANT });
      expect(await env.counts()).toEqual(before);
    });

    it("sees nothing of another tenant's or another project's scope of the same name", async () => {
      for (const key of ['other', 'project'] as const) {
        const res = await recall({ scope, query_embedding: axisVector(10), consumer_agent_id: 'agent-a' }, key);
        expect(res.status).toBe(200);
        expect({ key, seeds: res.body.seeds, nodes: res.body.subgraph.nodes, ranked: res.body.ranked, text: res.body.context.text }).toEqual({ key, seeds: [], nodes: [], ranked: [], text: '' });
      }
      // The tenant in the answer is the key's.
      const other = await recall({ scope, query_embedding: axisVector(10) }, 'other');
      expect(other.body.tenant_id).toBe(OTHER_TENANT);
    });
  });

  it('adds the meta fields with include_meta, the slots with include_slots, the first N sorted keys with include_slots_preview', async () => {
    const scope = 'dto';
    const slots = Object.fromEntries(['l', 'k', 'j', 'i', 'h', 'g', 'f', 'e', 'd', 'c', 'b', 'a'].map((k, i) => [k, i]));
    const w = await write({
      scope,
      memory_lane: 'shared',
      nodes: [
        { client_id: 'n', type: 'entity', title: 'n', slots, raw_ref: 's3://r', evidence_ref: 'doc#2', salience: 0.3, importance: 0.7, confidence: 0.9, embedding: axisVector(20), embedding_model: 'm' },
        { client_id: 't', type: 'topic', title: 'topic', slots: { member_count: '12' }, embedding: axisVector(21) },
      ],
      edges: [{ type: 'related_to', src: { client_id: 'n' }, dst: { client_id: 't' }, weight: 0.5, confidence: 0.5 }],
    });
    const [n, t] = [w.nodes[0]!.id, w.nodes[1]!.id];
    const base = { scope, query_embedding: axisVector(20) };
    const plain = await recall(base);
    expect(plain.body.subgraph.nodes).toEqual([
      { id: n, type: 'entity', title: 'n', text_summary: null },
      { id: t, type: 'topic', title: 'topic', text_summary: null, topic_state: 'active', member_count: 12 },
    ]);
    expect(plain.body.subgraph.edges).toEqual([{ from_id: n, to_id: t, type: 'related_to', weight: 0.5 }]);
    const meta = await recall({ ...base, include_meta: true });
    expect(meta.body.subgraph.nodes[0]).toEqual({
      id: n,
      type: 'entity',
      title: 'n',
      text_summary: null,
      raw_ref: 's3://r',
      evidence_ref: 'doc#2',
      embedding_status: 'ready',
      embedding_model: 'm',
      memory_lane: 'shared',
      producer_agent_id: null,
      owner_agent_id: null,
      owner_team_id: null,
      created_at: expect.stringMatching(ISO_MS),
      updated_at: expect.stringMatching(ISO_MS),
      last_activated: null,
      salience: 0.3,
      importance: 0.7,
      confidence: 0.9,
      commit_id: w.commit_id,
    });
    expect(meta.body.subgraph.edges).toEqual([{ from_id: n, to_id: t, type: 'related_to', weight: 0.5, commit_id: w.commit_id }]);
    // Meta never brings embeddings, and return_debug alone adds no meta.
    expect(JSON.stringify(meta.body)).not.toMatch(/"embedding"/);
    const debugOnly = await recall({ ...base, return_debug: true });
    expect(debugOnly.body.subgraph.nodes[0]).toEqual({ id: n, type: 'entity', title: 'n', text_summary: null });
    const full = await recall({ ...base, include_slots: true, include_slots_preview: true });
    expect(full.body.subgraph.nodes[0]).toEqual({ id: n, type: 'entity', title: 'n', text_summary: null, slots });
    const preview = await recall({ ...base, include_slots_preview: true });
    expect(preview.body.subgraph.nodes[0].slots_preview).toEqual(Object.fromEntries(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'].map((k) => [k, slots[k]])));
    expect(preview.body.subgraph.nodes[0]).not.toHaveProperty('slots');
    const three = await recall({ ...base, include_slots_preview: true, slots_preview_keys: 3 });
    expect(three.body.subgraph.nodes[0].slots_preview).toEqual({ a: 11, b: 10, c: 9 });
    expect(three.body.subgraph.nodes[1].slots_preview).toEqual({ member_count: '12' });
  });

  describe('debug embeddings (§3.6)', () => {
    const scope = 'debug-embeddings';
    let node: string;
    beforeAll(async () => {
      node = (await write({ scope, memory_lane: 'shared', nodes: [{ client_id: 'v', type: 'event', text_summary: 'v', embedding: axisVector(1) }] })).nodes[0]!.id;
    });
    const ask = (body: Record<string, unknown>, token?: string) => {
      const r = env.api.post('/v1/memory/recall').set(env.as('plain'));
      return (token === undefined ? r : r.set('x-admin-token', token)).send({ scope, query_embedding: axisVector(1), ...body });
    };

    it('refuses include_embeddings without return_debug, without an operator token, or with a limit above 20', async () => {
      const before = await env.counts();
      expectContractError(await ask({ include_embeddings: true, limit: 5 }, TEST_ADMIN_TOKEN), 400, 'debug_embeddings_requires_return_debug');
      expectContractError(await ask({ include_embeddings: true, return_debug: true, limit: 5 }), 400, 'debug_embeddings_not_allowed');
      expectContractError(await ask({ include_embeddings: true, return_debug: true, limit: 5 }, 'aio_admin_not-an-operator-token-0123456789'), 400, 'debug_embeddings_not_allowed');
      // An API key is not an operator token.
      expectContractError(await ask({ include_embeddings: true, return_debug: true, limit: 5 }, env.keys.plain), 400, 'debug_embeddings_not_allowed');
      expectContractError(await ask({ include_embeddings: true, return_debug: true, limit: 21 }, TEST_ADMIN_TOKEN), 400, 'debug_embeddings_limit_too_high');
      // The limit checked is the resolved one: the profile's 24 is too high as well.
      expectContractError(await ask({ include_embeddings: true, return_debug: true }, TEST_ADMIN_TOKEN), 400, 'debug_embeddings_limit_too_high');
      expect(await env.counts()).toEqual(before);
    });

    it('returns {node_id, dims, sha256, preview} per seed to an operator with limit <= 20', async () => {
      const res = await ask({ include_embeddings: true, return_debug: true, limit: 20 }, TEST_ADMIN_TOKEN);
      expect(res.status).toBe(200);
      const vector = axisVector(1).map((v) => v + 0); // JSON has no -0
      expect(res.body.debug.embeddings).toEqual([{ node_id: node, dims: 1536, sha256: createHash('sha256').update(JSON.stringify(vector)).digest('hex'), preview: vector.slice(0, 16) }]);
      expect(res.body.debug.embeddings[0].preview).toHaveLength(16);
      // Only with include_embeddings.
      const without = await ask({ return_debug: true, limit: 20 }, TEST_ADMIN_TOKEN);
      expect(without.body.debug).not.toHaveProperty('embeddings');
    });
  });

  it('renders context.text in the §4.3 sections and line formats, items and citations in the same order', async () => {
    const scope = 'lines';
    const w = await write({
      scope,
      memory_lane: 'shared',
      nodes: [
        { client_id: 'T', type: 'topic', title: 'Trips', text_summary: 'All trips', embedding: axisVector(0) },
        { client_id: 'C', type: 'concept', text_summary: 'c-sum', embedding: axisVector(1) },
        { client_id: 'E', type: 'entity', title: 'Ana', embedding: axisVector(2) },
        { client_id: 'V1', type: 'event', text_summary: 's', raw_ref: 'r', evidence_ref: 'e', embedding: axisVector(3) },
        { client_id: 'V2', type: 'event', title: 'a title is not a summary', embedding: axisVector(4) },
        { client_id: 'P', type: 'procedure', title: 'never in context', embedding: axisVector(5) },
      ],
      edges: [{ type: 'part_of', src: { client_id: 'P' }, dst: { client_id: 'T' }, weight: 0.9, confidence: 0.9 }],
    });
    const id = idsOf(w);
    // Similarities 5:4:3:2:1 order the nodes within their sections.
    const res = await recall({ scope, query_embedding: mix({ 0: 5, 1: 4, 2: 3, 3: 2, 4: 1 }) });
    expect(res.status).toBe(200);
    expect(res.body.context.text).toBe(
      [
        '# Topics / Concepts',
        `- Trips: All trips (node:${id.T})`,
        `- ${id.C}: c-sum (node:${id.C})`,
        '',
        '# Entities',
        `- Ana (node:${id.E})`,
        '',
        '# Supporting Events / Evidence',
        `- s (node:${id.V1}, raw_ref=r, evidence_ref=e)`,
        `- (no summary) (node:${id.V2})`,
      ].join('\n'),
    );
    const items = res.body.context.items as { kind: string; node_id: string }[];
    expect(items.map((i) => [i.kind, i.node_id])).toEqual([
      ['topic', id.T],
      ['concept', id.C],
      ['entity', id.E],
      ['event', id.V1],
      ['event', id.V2],
    ]);
    expect(items[0]).toEqual({ kind: 'topic', node_id: id.T, title: 'Trips', summary: 'All trips', commit_id: w.commit_id });
    expect(items[3]).toEqual({ kind: 'event', node_id: id.V1, summary: 's', raw_ref: 'r', evidence_ref: 'e', commit_id: w.commit_id });
    expect(res.body.context.citations).toEqual(
      items.map((i) => ({ node_id: i.node_id, commit_id: w.commit_id, raw_ref: i.node_id === id.V1 ? 'r' : null, evidence_ref: i.node_id === id.V1 ? 'e' : null })),
    );
    // The procedure is reached (it is in the subgraph) but never in the context.
    expect(res.body.subgraph.nodes.map((n: { id: string }) => n.id)).toContain(id.P);
  });

  it('compacts context.text to context_char_budget (or 4 x context_token_budget, at least 160), never items or citations', async () => {
    const scope = 'compaction';
    await write({
      scope,
      memory_lane: 'shared',
      nodes: [
        { client_id: 'e', type: 'entity', title: 'Maria', text_summary: 'Frequent flyer, Lisbon office', embedding: axisVector(0) },
        { client_id: 'v', type: 'event', text_summary: 'Maria is vegetarian and prefers window seats', embedding: axisVector(1) },
      ],
    });
    const base = { scope, query_embedding: axisVector(1), return_debug: true };
    const full = await recall(base);
    expect(full.body.context.text.length).toBeGreaterThan(160);
    expect(full.body.context.text).toContain('# Supporting Events / Evidence');
    for (const budget of [{ context_char_budget: 1 }, { context_char_budget: 160 }, { context_token_budget: 40 }, { context_token_budget: 1, context_char_budget: 170 }]) {
      const res = await recall({ ...base, ...budget });
      expect(res.status).toBe(200);
      // The event line goes first; its section heading with it.
      expect({ budget, text: res.body.context.text }).toEqual({ budget, text: full.body.context.text.split('\n\n')[0] });
      expect(res.body.context.items).toEqual(full.body.context.items);
      expect(res.body.context.citations).toEqual(full.body.context.citations);
      expect(res.body.debug.context_compaction).toMatchObject({ applied: true, before_chars: full.body.context.text.length, after_chars: res.body.context.text.length, dropped_lines: 1, dropped_by_section: { topics: 0, entities: 0, events: 1, rules: 0 } });
      expect(res.body.trajectory.layers[2].context_chars).toBe(res.body.context.text.length);
    }
    // The char budget wins over the token budget; a budget the text fits changes nothing.
    const roomy = await recall({ ...base, context_token_budget: 1, context_char_budget: 10_000 });
    expect(roomy.body.context.text).toBe(full.body.context.text);
    expect(roomy.body.debug.context_compaction).toMatchObject({ applied: false, token_budget: 1, dropped_lines: 0 });
    const tokens = await recall({ ...base, context_token_budget: 1000 });
    expect(tokens.body.context.text).toBe(full.body.context.text);
    expect(tokens.body.debug.context_compaction).toMatchObject({ applied: false, token_budget: 1000 });
  });

  it('answers an empty scope with empty seeds, subgraph, ranked and context, and seed_empty in the trajectory', async () => {
    const res = await recall({ scope: 'never-written', query_embedding: axisVector(0), return_debug: true });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      tenant_id: TENANT,
      scope: 'never-written',
      seeds: [],
      subgraph: { nodes: [], edges: [] },
      ranked: [],
      context: { text: '', items: [], citations: [] },
    });
    expect(res.body.trajectory.layers[0].pruned_reasons).toContain('seed_empty');
    expect(res.body.trajectory.layers[0].hits).toBe(0);
    expect(res.body.trajectory.pruned_reasons).toContain('seed_empty');
    expect(res.body.trajectory.budgets).toEqual(PROFILE);
    expect(Object.keys(res.body.observability.stage_timings_ms)).toEqual(TIMING_KEYS);
    // On the empty-seed path, debug has no context_compaction.
    expect(res.body.debug).toMatchObject({ neighborhood_counts: { nodes: 0, edges: 0 }, stage1: { final_seed_count: 0 } });
    expect(res.body.debug).not.toHaveProperty('context_compaction');
    // The default scope is `default`.
    const dflt = await recall({ query_embedding: axisVector(0) });
    expect(dflt.body.scope).toBe('default');
  });

  it('adds the rules block when rules_context is given (§2.3), and not otherwise', async () => {
    const scope = 'rules-block';
    await write({ scope, memory_lane: 'shared', nodes: [{ client_id: 'v', type: 'event', text_summary: 'v', embedding: axisVector(1) }] });
    const without = await recall({ scope, query_embedding: axisVector(1) });
    expect(without.body).not.toHaveProperty('rules');
    const nullContext = await recall({ scope, query_embedding: axisVector(1), rules_context: null });
    expect(nullContext.body).not.toHaveProperty('rules');
    const res = await recall({ scope, query_embedding: axisVector(1), rules_context: { intent: 'booking' } });
    expect(res.status).toBe(200);
    expect(res.body.rules).toEqual({ scope, considered: 0, matched: 0, skipped_invalid_then: 0, invalid_then_sample: [], applied: expect.objectContaining({ policy: expect.any(Object), sources: [] }) });
  });

  it("evaluates rules_context under the key's identity, as the policy routes do: an agent key never sees another agent's private rules, nor names another agent", async () => {
    const scope = 'rules-identity';
    const post = (path: string, body: object) => env.api.post(`/v1/memory/${path}`).set(env.as('plain')).send(body);
    const w = await post('write', {
      scope,
      input_text: 'rules',
      auto_embed: false,
      nodes: [
        { client_id: 'shared-rule', type: 'rule', memory_lane: 'shared', slots: { if: {}, then: { tool: { prefer: ['shared_tool'] } } } },
        { client_id: 'b-private', type: 'rule', memory_lane: 'private', owner_agent_id: 'agent-b', slots: { if: {}, then: { tool: { prefer: ['b_tool'] } } } },
        { client_id: 'v', type: 'event', memory_lane: 'shared', text_summary: 'v', embedding: axisVector(3) },
      ],
    });
    expect(w.status).toBe(200);
    for (const n of w.body.nodes as { id: string; client_id: string }[]) {
      if (n.client_id !== 'v') expect((await post('rules/state', { scope, rule_node_id: n.id, state: 'active', input_text: `on ${n.client_id}` })).status).toBe(200);
    }
    const preferred = (r: { body: { rules: { applied: { policy: { tool?: { prefer?: string[] } } } } } }) => r.body.rules.applied.policy.tool?.prefer ?? [];
    const asA = await recall({ scope, query_embedding: axisVector(3), rules_context: {} }, 'agentA');
    expect(asA.status).toBe(200);
    expect(preferred(asA)).toEqual(['shared_tool']);
    const asB = await recall({ scope, query_embedding: axisVector(3), rules_context: {} }, 'agentB');
    expect(preferred(asB).sort()).toEqual(['b_tool', 'shared_tool']);
    // Naming another agent in the rules context: 403, before any token is spent.
    const before = await env.counts();
    const named = await recall({ scope, query_embedding: axisVector(3), rules_context: { agent_id: 'agent-b' } }, 'agentA');
    expectContractError(named, 403, 'identity_mismatch');
    expect(named.body.details).toEqual({ field: 'rules_context.agent_id', provided: 'agent-b', expected: 'agent-a' });
    expect(named.headers['x-ratelimit-remaining']).toBeUndefined();
    expect(await env.counts()).toEqual(before);
  });

  it('refuses each client mistake with a 4xx in the contract shape, never a 5xx, and stores nothing', async () => {
    const before = await env.counts();
    const valid = { scope: 's', query_embedding: axisVector(0) };
    const raw = (text: string) => env.api.post('/v1/memory/recall').set(env.as('plain')).send(text);
    const cases: [string, () => ReturnType<typeof recall>, number, string][] = [
      ['an infinite number in the vector', () => raw(JSON.stringify(valid).replace('[1,', '[1e999,')), 400, 'invalid_request'],
      ['an infinite limit', () => raw(JSON.stringify({ ...valid, limit: 12345 }).replace('12345', '1e999')), 400, 'invalid_request'],
      ['NaN (not JSON)', () => raw(JSON.stringify(valid).replace('[1,', '[NaN,')), 400, 'invalid_request'],
      ['a NUL character in the scope', () => raw(JSON.stringify({ ...valid, scope: 'aXb' }).replace('aXb', 'a\\u0000b')), 400, 'invalid_request'],
      ['a NUL character in a consumer id', () => raw(JSON.stringify({ ...valid, consumer_agent_id: 'aXb' }).replace('aXb', 'a\\u0000b')), 400, 'invalid_request'],
      ['JSON nested 200 levels deep', () => recall({ ...valid, rules_context: deepObject(200) }), 400, 'invalid_request'],
      ['malformed JSON', () => raw('{"query_embedding":'), 400, 'invalid_request'],
      ['a body that is an array', () => env.api.post('/v1/memory/recall').set(env.as('plain')).send([1, 2]), 400, 'invalid_request'],
      ['no body at all', () => env.api.post('/v1/memory/recall').set(env.as('plain')), 400, 'invalid_request'],
      ['an empty scope', () => recall({ ...valid, scope: '   ' }), 400, 'invalid_scope'],
      ['a 6 MiB body', () => recall({ ...valid, scope: 'x'.repeat(6 * 1024 * 1024) }), 413, 'payload_too_large'],
    ];
    await expectEachRefused(cases);
    // A text/plain body: 415 (the open core: 400 invalid_request; a listed hosted difference, docs/kernel-compatibility.md §1).
    const textPlain = await env.api.post('/v1/memory/recall').set('x-api-key', env.keys.plain).set('content-type', 'text/plain').send('hello');
    expectContractError(textPlain, 415, 'unsupported_media_type');
    expect(await env.counts()).toEqual(before);
  });

  it('needs a key with memory:read: 401 without one, 403 for a write-only key', async () => {
    const body = { scope: 'auth', query_embedding: axisVector(0) };
    expectContractError(await env.api.post('/v1/memory/recall').set('content-type', 'application/json').send(body), 401, 'unauthorized');
    expectContractError(await recall(body, 'writeOnly'), 403, 'forbidden');
    expect((await recall(body, 'readOnly')).status).toBe(200);
  });
});
