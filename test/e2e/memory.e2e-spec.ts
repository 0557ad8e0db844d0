import { sql } from 'kysely';
import type request from 'supertest';
import { axisVector, type ContractEnv, expectContractError, type KeyName, OTHER_TENANT, startContractEnv, TENANT } from '../support/contract';

/**
 * THE isolation suite of the memory API (real server, real database). Three namespaces write the
 * same graph, each with its own canary string: tenant A with a tenant-wide key, tenant A with its
 * project key, tenant B. Then every memory route is called by each of them, and every response
 * must carry its caller's canary where the route shows data (so the negative checks can fail) and
 * never another namespace's canary, node ids or commits. Lanes within a tenant, key scopes and
 * authentication are checked on every route too.
 */
describe('memory API isolation: tenants, projects, lanes, key scopes (real server)', () => {
  let env: ContractEnv;
  let dim = 1536;

  /** The three namespaces under test and the key that reaches each. */
  const NS = {
    a: { key: 'plain' as const, tenant: TENANT, canary: 'CANARY-TENANT-A-7f3e' },
    p: { key: 'project' as const, tenant: TENANT, canary: 'CANARY-PROJECT-A-91c2' },
    b: { key: 'other' as const, tenant: OTHER_TENANT, canary: 'CANARY-TENANT-B-40d8' },
  };
  type NsName = keyof typeof NS;
  const NAMES = Object.keys(NS) as NsName[];
  const others = (n: NsName) => NAMES.filter((x) => x !== n);
  const SCOPE = 'iso';
  /** Each namespace's rule allows only its own tool: a rule of another namespace in its policy would leave no tool to select. */
  const TOOLS = NAMES.map((n) => `tool-${n}`);

  /** What each namespace wrote: ids, commits, and everything of it no other namespace may ever see. */
  interface Seeded {
    secretId: string;
    eventNodeId: string;
    archivedId: string;
    ruleId: string;
    decisionId: string;
    sessionNodeId: string;
    commitIds: string[];
    commitHashes: string[];
    chainHashes: string[];
    pack: Record<string, unknown>;
    packSha: string;
    uri: string;
  }
  const seeded = {} as Record<NsName, Seeded>;
  /** Strings of `n` that must never appear in a response to another namespace. */
  const secretsOf = (n: NsName): string[] => {
    const s = seeded[n];
    return [NS[n].canary, s.secretId, s.eventNodeId, s.archivedId, s.ruleId, s.decisionId, s.sessionNodeId, ...s.commitIds, ...s.commitHashes, ...s.chainHashes];
  };

  const call = (key: KeyName, method: 'post' | 'get', path: string, body?: object) => {
    const r = env.api[method](path).set(env.as(key));
    return body === undefined ? r : r.send(body);
  };
  const post = (key: KeyName, path: string, body: object) => call(key, 'post', `/v1/memory/${path}`, body);
  const get = (key: KeyName, path: string) => call(key, 'get', `/v1/memory/${path}`);
  const text = (res: { body: unknown; headers?: unknown }) => JSON.stringify({ body: res.body, headers: res.headers });

  /** The response shows nothing of the other namespaces. */
  function expectNoLeak(res: { body: unknown; headers?: unknown }, reader: NsName, route: string): void {
    const all = text(res);
    for (const o of others(reader)) {
      for (const s of secretsOf(o)) {
        if (all.includes(s)) throw new Error(`${route} answered ${reader} (${NS[reader].key} key) with ${o}'s ${s}: ${all.slice(0, 2000)}`);
      }
    }
  }
  /** The response shows the caller's own canary: the route does show data, so a leak would be visible. */
  function expectOwn(res: request.Response, reader: NsName, route: string): void {
    if (!text(res).includes(NS[reader].canary)) throw new Error(`${route} did not show ${reader} its own canary (the negative check would prove nothing): ${text(res).slice(0, 2000)}`);
  }

  async function seed(n: NsName): Promise<void> {
    const { key, canary } = NS[n];
    const w = await post(key, 'write', {
      scope: SCOPE,
      input_text: `${canary} input`,
      memory_lane: 'shared',
      nodes: [
        { client_id: 'secret', type: 'concept', title: `${canary} title`, text_summary: `${canary} summary`, slots: { kind: 'secret', note: canary }, embedding: axisVector(3, dim) },
        { client_id: 'secret-event', type: 'event', text_summary: `${canary} happened`, embedding: axisVector(3, dim, 0.01) },
        { client_id: 'archived', type: 'entity', title: `${canary} archived`, tier: 'archive' },
        { client_id: 'secret-rule', type: 'rule', text_summary: `${canary} rule`, slots: { if: { intent: 'work' }, then: { tool: { allow: [`tool-${n}`] } } } },
      ],
      edges: [{ type: 'related_to', src: { client_id: 'secret-event' }, dst: { client_id: 'secret' }, weight: 0.9 }],
    });
    expect(w.status).toBe(200);
    const ruleId = w.body.nodes[3].id as string;
    expect((await post(key, 'rules/state', { scope: SCOPE, rule_node_id: ruleId, state: 'active', input_text: `${canary} promote` })).status).toBe(200);
    const selected = await post(key, 'tools/select', { scope: SCOPE, context: { intent: 'work' }, candidates: TOOLS, run_id: `run-${n}` });
    expect(selected.body.selection.selected).toBe(`tool-${n}`);
    const session = await post(key, 'sessions', { scope: SCOPE, session_id: 'sess-1', title: `${canary} session`, memory_lane: 'shared' });
    expect(session.status).toBe(200);
    const event = await post(key, 'events', { scope: SCOPE, session_id: 'sess-1', event_id: 'e1', text_summary: `${canary} said so`, memory_lane: 'shared' });
    expect(event.status).toBe(200);
    await env.waitReady(key, SCOPE, ['session_event:sess-1:e1']);
    const exported = await post(key, 'packs/export', { scope: SCOPE });
    expect(exported.status).toBe(200);
    const commits = await get(key, `commits?scope=${SCOPE}&limit=500`);
    const chain = commits.body.commits as { commit_id: string; commit_hash: string; chain_hash: string }[];
    seeded[n] = {
      secretId: w.body.nodes[0].id,
      eventNodeId: w.body.nodes[1].id,
      archivedId: w.body.nodes[2].id,
      ruleId,
      decisionId: selected.body.decision.decision_id,
      sessionNodeId: session.body.session_node_id,
      commitIds: chain.map((c) => c.commit_id),
      commitHashes: chain.map((c) => c.commit_hash),
      chainHashes: chain.map((c) => c.chain_hash),
      pack: exported.body.pack,
      packSha: exported.body.manifest.sha256,
      uri: (await post(key, 'find', { scope: SCOPE, client_id: 'secret' })).body.nodes[0].uri,
    };
    expect(chain).toHaveLength(4);
  }

  beforeAll(async () => {
    env = await startContractEnv();
    dim = env.t.config.embeddings.dimension;
    for (const n of NAMES) await seed(n);
  }, 120_000);
  afterAll(async () => {
    await env?.stop();
  });

  describe('tenant and project isolation, route by route', () => {
    it('the same client ids name different nodes, sessions and commits in each namespace', () => {
      for (const field of ['secretId', 'eventNodeId', 'archivedId', 'ruleId', 'decisionId', 'sessionNodeId'] as const) {
        expect(new Set(NAMES.map((n) => seeded[n][field])).size).toBe(3);
      }
      expect(new Set(NAMES.flatMap((n) => seeded[n].commitIds)).size).toBe(12);
    });

    it.each(NAMES)('recall (query_embedding): %s sees its own nodes only', async (n) => {
      const res = await post(NS[n].key, 'recall', { scope: SCOPE, query_embedding: axisVector(3, dim), limit: 50, include_meta: true, include_slots: true });
      expect(res.status).toBe(200);
      expect(res.body.seeds.map((s: { id: string }) => s.id)).toEqual(expect.arrayContaining([seeded[n].secretId, seeded[n].eventNodeId]));
      expectOwn(res, n, 'recall');
      expectNoLeak(res, n, 'recall');
    });

    it.each(NAMES)('recall_text: %s sees its own nodes only', async (n) => {
      const res = await post(NS[n].key, 'recall_text', { scope: SCOPE, query_text: 'what is the secret', limit: 50, include_slots: true });
      expect(res.status).toBe(200);
      expect(res.body.seeds.length).toBeGreaterThanOrEqual(2);
      expectOwn(res, n, 'recall_text');
      expectNoLeak(res, n, 'recall_text');
    });

    it.each(NAMES)('find, by every filter: %s finds its own nodes only', async (n) => {
      const { key } = NS[n];
      const own = seeded[n];
      const filters: Record<string, unknown>[] = [
        {},
        { client_id: 'secret' },
        { type: 'concept' },
        { title_contains: 'CANARY' },
        { text_contains: 'CANARY' },
        { slots_contains: { kind: 'secret' } },
        { memory_lane: 'shared' },
      ];
      for (const f of filters) {
        const res = await post(key, 'find', { scope: SCOPE, include_meta: true, include_slots: true, limit: 200, ...f });
        expect(res.status).toBe(200);
        expect(res.body.nodes.length).toBeGreaterThan(0);
        expectOwn(res, n, `find ${JSON.stringify(f)}`);
        expectNoLeak(res, n, `find ${JSON.stringify(f)}`);
      }
      // Another namespace's node, named by id or by URI, is not found here.
      for (const o of others(n)) {
        const byId = await post(key, 'find', { scope: SCOPE, id: seeded[o].secretId });
        expect(byId.status).toBe(200);
        expect(byId.body.nodes).toEqual([]);
        const byUri = await post(key, 'find', { uri: seeded[o].uri });
        if (NS[o].tenant !== NS[n].tenant) {
          // Another tenant's URI contradicts the key's tenant.
          expectContractError(byUri, 400, 'conflicting_filters');
        } else {
          expect(byUri.status).toBe(200);
          expect(byUri.body.nodes).toEqual([]);
        }
        expect(text(byUri)).not.toContain(NS[o].canary);
      }
      const mine = await post(key, 'find', { uri: own.uri });
      expect(mine.body.nodes.map((x: { id: string }) => x.id)).toEqual([own.secretId]);
    });

    it.each(NAMES)('GET sessions/:id/events: %s sees its own session and events only', async (n) => {
      const res = await get(NS[n].key, `sessions/sess-1/events?scope=${SCOPE}&include_meta=true&include_slots=true`);
      expect(res.status).toBe(200);
      expect(res.body.session).toMatchObject({ session_id: 'sess-1', node_id: seeded[n].sessionNodeId });
      expect(res.body.events).toHaveLength(1);
      expectOwn(res, n, 'session events');
      expectNoLeak(res, n, 'session events');
    });

    it.each(NAMES)('packs/export: %s exports its own scope only', async (n) => {
      const res = await post(NS[n].key, 'packs/export', { scope: SCOPE });
      expect(res.status).toBe(200);
      expect(res.body.pack.tenant_id).toBe(NS[n].tenant);
      expect(res.body.manifest.counts).toEqual({ nodes: 6, edges: 2, commits: 4 });
      expectOwn(res, n, 'packs/export');
      expectNoLeak(res, n, 'packs/export');
    });

    it.each(NAMES)('commits and commits/verify: %s sees its own chain only', async (n) => {
      const res = await get(NS[n].key, `commits?scope=${SCOPE}&limit=500`);
      expect(res.status).toBe(200);
      expect(res.body.commits.map((c: { commit_id: string }) => c.commit_id)).toEqual(seeded[n].commitIds);
      expectOwn(res, n, 'commits');
      expectNoLeak(res, n, 'commits');
      const verify = await post(NS[n].key, 'commits/verify', { scope: SCOPE });
      expect(verify.body).toMatchObject({ ok: true, commits: 4, problems: [], head_hash: seeded[n].chainHashes.at(-1) });
      expectNoLeak(verify, n, 'commits/verify');
    });

    it.each(NAMES)("write: %s writing another namespace's node id as a node of its own never touches the other's node", async (n) => {
      const victim = others(n)[0]!;
      const res = await post(NS[n].key, 'write', { scope: 'hijack', input_text: 'hijack', memory_lane: 'shared', nodes: [{ id: seeded[victim].secretId, type: 'concept', title: `hijack by ${n}` }] });
      expect(res.status).toBe(200);
      // (The response names the id the writer sent; nothing else of the victim.)
      expect(text(res)).not.toContain(NS[victim].canary);
      for (const c of [...seeded[victim].commitIds, ...seeded[victim].commitHashes]) expect(text(res)).not.toContain(c);
      // The victim's node is as it was; the writer's node is its own.
      const theirs = await post(NS[victim].key, 'find', { scope: SCOPE, id: seeded[victim].secretId, include_meta: true });
      expect(theirs.body.nodes[0]).toMatchObject({ title: `${NS[victim].canary} title`, commit_id: seeded[victim].commitIds[0] });
      expect((await post(NS[victim].key, 'find', { scope: 'hijack' })).body.nodes.map((x: { title: string }) => x.title)).not.toContain(`hijack by ${n}`);
      const mine = await post(NS[n].key, 'find', { scope: 'hijack', id: seeded[victim].secretId });
      expect(mine.body.nodes.map((x: { title: string }) => x.title)).toEqual([`hijack by ${n}`]);
    });

    it.each(NAMES)("write: another namespace's node id as an edge endpoint is edge_endpoint_not_found and writes nothing (%s)", async (n) => {
      for (const o of others(n)) {
        const before = await env.counts();
        const res = await post(NS[n].key, 'write', {
          scope: SCOPE,
          input_text: 'link across',
          nodes: [{ client_id: 'mine', type: 'event', title: 'mine' }],
          edges: [{ type: 'related_to', src: { client_id: 'mine' }, dst: { id: seeded[o].eventNodeId } }],
        });
        expectContractError(res, 400, 'edge_endpoint_not_found');
        expect(res.body.details).toMatchObject({ node_id: seeded[o].eventNodeId });
        expect(text(res)).not.toContain(NS[o].canary);
        expect(await env.counts()).toEqual(before);
      }
    });

    it.each(NAMES)('sessions and events: %s appending to "sess-1" reaches its own session only', async (n) => {
      const again = await post(NS[n].key, 'sessions', { scope: SCOPE, session_id: 'sess-1' });
      expect(again.status).toBe(200);
      expect(again.body.session_node_id).toBe(seeded[n].sessionNodeId);
      expectNoLeak(again, n, 'sessions');
      const ev = await post(NS[n].key, 'events', { scope: SCOPE, session_id: 'sess-1', event_id: `e2-${n}`, text_summary: `second event of ${n}`, memory_lane: 'shared' });
      expect(ev.status).toBe(200);
      expect(ev.body.session_node_id).toBe(seeded[n].sessionNodeId);
      expectNoLeak(ev, n, 'events');
      // Nobody else's session got the event.
      for (const o of others(n)) {
        const theirs = await get(NS[o].key, `sessions/sess-1/events?scope=${SCOPE}&limit=200`);
        expect(JSON.stringify(theirs.body)).not.toContain(`second event of ${n}`);
      }
    });

    it.each(NAMES)('packs/import: %s re-imports its own pack; a pack of another tenant is 400 pack_scope_mismatch and writes nothing', async (n) => {
      const own = await post(NS[n].key, 'packs/import', { pack: seeded[n].pack, manifest_sha256: seeded[n].packSha });
      expect(own.status).toBe(200);
      expect(own.body).toMatchObject({ ok: true, imported: true, tenant_id: NS[n].tenant, scope: SCOPE });
      expectNoLeak(own, n, 'packs/import');
      for (const o of others(n).filter((x) => NS[x].tenant !== NS[n].tenant)) {
        const before = await env.counts();
        for (const body of [{ pack: seeded[o].pack, manifest_sha256: seeded[o].packSha }, { pack: seeded[o].pack, verify_only: true }]) {
          const res = await post(NS[n].key, 'packs/import', body);
          expectContractError(res, 400, 'pack_scope_mismatch');
          expect(text(res)).not.toContain(NS[o].canary);
        }
        expect(await env.counts()).toEqual(before);
      }
    });

    it.each(NAMES)("archive/rehydrate and nodes/activate: %s naming another namespace's nodes changes nothing anywhere", async (n) => {
      for (const o of others(n)) {
        const before = await env.counts();
        const ids = [seeded[o].archivedId, seeded[o].secretId];
        const re = await post(NS[n].key, 'archive/rehydrate', { scope: SCOPE, node_ids: ids, target_tier: 'hot', input_text: 'wake up' });
        expect(re.status).toBe(200);
        expect(re.body).toMatchObject({ commit_id: null, rehydrated: { found_nodes: 0, moved_nodes: 0, missing_node_ids: ids } });
        // (missing_node_ids echoes the caller's own request.)
        expectNoLeak({ body: { ...re.body, rehydrated: { ...re.body.rehydrated, missing_node_ids: [] } }, headers: re.headers }, n, 'archive/rehydrate');
        const act = await post(NS[n].key, 'nodes/activate', { scope: SCOPE, node_ids: ids, outcome: 'positive', input_text: 'good' });
        expect(act.status).toBe(200);
        expect(act.body).toMatchObject({ commit_id: null, activated: { found_nodes: 0, updated_nodes: 0, missing_node_ids: ids } });
        expectNoLeak({ body: { ...act.body, activated: { ...act.body.activated, missing_node_ids: [] } }, headers: act.headers }, n, 'nodes/activate');
        for (const path of ['archive/rehydrate', 'nodes/activate']) {
          const byClient = await post(NS[n].key, path, { scope: 'nowhere', client_ids: ['archived'], input_text: 'x' });
          expectContractError(byClient, 400, path === 'archive/rehydrate' ? 'rehydrate_no_resolved_nodes' : 'nodes_activate_no_resolved_nodes');
        }
        expect(await env.counts()).toEqual(before);
        // The other namespace's nodes are untouched.
        const theirs = await post(NS[o].key, 'find', { scope: SCOPE, include_meta: true, include_slots: true, limit: 200 });
        const byClient = Object.fromEntries(theirs.body.nodes.map((x: { client_id: string }) => [x.client_id, x]));
        expect(byClient.archived).toMatchObject({ tier: 'archive', commit_id: seeded[o].commitIds[0], last_activated: null });
        expect(byClient.archived.slots).toEqual({});
        expect(byClient.secret).toMatchObject({ tier: 'hot', commit_id: seeded[o].commitIds[0], last_activated: null });
        expect(byClient.secret.slots).toEqual({ kind: 'secret', note: NS[o].canary });
      }
    });

    it('positive controls: each namespace rehydrates and activates its own nodes (one commit each)', async () => {
      for (const n of NAMES) {
        const re = await post(NS[n].key, 'archive/rehydrate', { scope: SCOPE, client_ids: ['archived'], target_tier: 'hot', input_text: 'wake up' });
        expect(re.body).toMatchObject({ commit_id: expect.any(String), rehydrated: { moved_ids: [seeded[n].archivedId] } });
        const act = await post(NS[n].key, 'nodes/activate', { scope: SCOPE, client_ids: ['secret'], outcome: 'positive', input_text: 'good' });
        expect(act.body).toMatchObject({ commit_id: expect.any(String), activated: { updated_ids: [seeded[n].secretId] } });
        expectNoLeak(re, n, 'archive/rehydrate');
        expectNoLeak(act, n, 'nodes/activate');
      }
      // Each change landed in its own namespace only.
      for (const n of NAMES) {
        const f = await post(NS[n].key, 'find', { scope: SCOPE, include_meta: true, include_slots: true, limit: 200 });
        const byClient = Object.fromEntries(f.body.nodes.map((x: { client_id: string }) => [x.client_id, x]));
        expect(byClient.archived).toMatchObject({ tier: 'hot', slots: { last_rehydrated_to_tier: 'hot' } });
        expect(byClient.secret).toMatchObject({ slots: { feedback_positive: 1 } });
        const verify = await post(NS[n].key, 'commits/verify', { scope: SCOPE });
        expect(verify.body).toMatchObject({ ok: true });
      }
    });

    it.each(NAMES)('rules/evaluate, tools/select and recall rules: %s is governed by its own rules only', async (n) => {
      const { key } = NS[n];
      const ev = await post(key, 'rules/evaluate', { scope: SCOPE, context: { intent: 'work' }, include_shadow: true });
      expect(ev.status).toBe(200);
      expect(ev.body.active.map((r: { rule_node_id: string }) => r.rule_node_id)).toEqual([seeded[n].ruleId]);
      expectOwn(ev, n, 'rules/evaluate');
      expectNoLeak(ev, n, 'rules/evaluate');
      const sel = await post(key, 'tools/select', { scope: SCOPE, context: { intent: 'work' }, candidates: TOOLS });
      expect(sel.status).toBe(200);
      expect(sel.body.selection).toMatchObject({ selected: `tool-${n}` });
      expect(sel.body.decision.source_rule_ids).toEqual([seeded[n].ruleId]);
      expectNoLeak(sel, n, 'tools/select');
      const rec = await post(key, 'recall', { scope: SCOPE, query_embedding: axisVector(3, dim), rules_context: { intent: 'work' }, rules_include_shadow: true });
      expect(rec.status).toBe(200);
      expect(JSON.stringify(rec.body.rules)).toContain(seeded[n].ruleId);
      expectNoLeak(rec, n, 'recall with rules_context');
    });

    it.each(NAMES)("rules/state, feedback and tools/feedback: %s naming another namespace's rule or decision is refused and changes nothing", async (n) => {
      for (const o of others(n)) {
        const before = await env.counts();
        const state = await post(NS[n].key, 'rules/state', { scope: SCOPE, rule_node_id: seeded[o].ruleId, state: 'disabled', input_text: 'x' });
        expectContractError(state, 400, 'rule_not_found_in_scope');
        const fb = await post(NS[n].key, 'feedback', { scope: SCOPE, rule_node_id: seeded[o].ruleId, outcome: 'negative', input_text: 'x' });
        expectContractError(fb, 400, 'rule_not_found_in_scope');
        const tf = await post(NS[n].key, 'tools/feedback', {
          scope: SCOPE,
          context: { intent: 'work' },
          candidates: TOOLS,
          selected_tool: `tool-${o}`,
          decision_id: seeded[o].decisionId,
          outcome: 'negative',
          input_text: 'x',
        });
        expectContractError(tf, 400, 'decision_not_found_in_scope');
        for (const r of [state, fb, tf]) expect(text(r)).not.toContain(NS[o].canary);
        expect(await env.counts()).toEqual(before);
        // The other namespace's rule is still active, without feedback; its decision unlinked.
        const theirs = await post(NS[o].key, 'rules/evaluate', { scope: SCOPE, context: { intent: 'work' } });
        expect(theirs.body.active).toEqual([expect.objectContaining({ rule_node_id: seeded[o].ruleId, state: 'active', stats: { positive: 0, negative: 0 } })]);
      }
      const decisions = await sql<{ n: number }>`SELECT count(*)::int AS n FROM memory_decisions WHERE commit_id IS NOT NULL`.execute(env.t.tdb.database.db);
      expect(decisions.rows[0]!.n).toBe(0);
    });

    it('every route with another tenant named (body tenant_id or X-Tenant-Id) is 403 identity_mismatch and writes nothing', async () => {
      const before = await env.counts();
      const routes: [string, 'post' | 'get', object | undefined][] = [
        ['write', 'post', { scope: SCOPE, input_text: 'x', nodes: [{ type: 'event', title: 'y' }] }],
        ['recall', 'post', { scope: SCOPE, query_embedding: axisVector(3, dim) }],
        ['recall_text', 'post', { scope: SCOPE, query_text: 'x' }],
        ['find', 'post', { scope: SCOPE }],
        ['sessions', 'post', { scope: SCOPE, session_id: 's' }],
        ['events', 'post', { scope: SCOPE, session_id: 's', text_summary: 'x' }],
        [`sessions/sess-1/events?scope=${SCOPE}`, 'get', undefined],
        ['packs/export', 'post', { scope: SCOPE }],
        ['packs/import', 'post', { pack: seeded.a.pack }],
        ['archive/rehydrate', 'post', { scope: SCOPE, client_ids: ['archived'], input_text: 'x' }],
        ['nodes/activate', 'post', { scope: SCOPE, client_ids: ['secret'], input_text: 'x' }],
        [`commits?scope=${SCOPE}`, 'get', undefined],
        ['commits/verify', 'post', { scope: SCOPE }],
        ['rules/evaluate', 'post', { scope: SCOPE, context: {} }],
        ['tools/select', 'post', { scope: SCOPE, candidates: TOOLS }],
        ['tools/feedback', 'post', { scope: SCOPE, candidates: TOOLS, selected_tool: 'tool-a', outcome: 'positive', input_text: 'x' }],
        ['rules/state', 'post', { scope: SCOPE, rule_node_id: seeded.a.ruleId, state: 'active', input_text: 'x' }],
        ['feedback', 'post', { scope: SCOPE, rule_node_id: seeded.a.ruleId, outcome: 'positive', input_text: 'x' }],
      ];
      for (const [path, method, body] of routes) {
        const viaBody =
          method === 'get'
            ? await env.api.get(`/v1/memory/${path}${path.includes('?') ? '&' : '?'}tenant_id=${OTHER_TENANT}`).set(env.as('plain'))
            : await env.api.post(`/v1/memory/${path}`).set(env.as('plain')).send({ ...body, tenant_id: OTHER_TENANT });
        expectContractError(viaBody, 403, 'identity_mismatch');
        expect(viaBody.body.details).toEqual({ field: 'tenant_id', provided: OTHER_TENANT, expected: TENANT });
        const viaHeader = await call('plain', method, `/v1/memory/${path}`, body).set('X-Tenant-Id', OTHER_TENANT);
        expectContractError(viaHeader, 403, 'identity_mismatch');
        expect(text(viaBody) + text(viaHeader)).not.toContain(NS.b.canary);
      }
      expect(await env.counts()).toEqual(before);
    });
  });

  describe('lanes within a tenant', () => {
    const LANE = 'CANARY-PRIVATE-AGENT-A-5d1c';
    const SHARED = 'shared-by-agent-b';
    let privateId = '';

    beforeAll(async () => {
      // agent-a's private node (the lane defaults to private; the owner is the key's agent).
      const w = await post('agentA', 'write', { scope: 'lanes', input_text: 'private', nodes: [{ client_id: 'private-a', type: 'concept', title: LANE, text_summary: LANE, embedding: axisVector(5, dim) }] });
      expect(w.status).toBe(200);
      privateId = w.body.nodes[0].id;
      // agent-b's shared node, near the same query: agent-b's reads do return data.
      await post('agentB', 'write', { scope: 'lanes', input_text: 'shared', memory_lane: 'shared', nodes: [{ client_id: 'shared-b', type: 'concept', title: SHARED, embedding: axisVector(5, dim, 0.01) }], edges: [] }).expect(200);
      // A private event of agent-a in a session agent-b also writes to.
      await post('agentB', 'sessions', { scope: 'lanes', session_id: 'lane-sess', memory_lane: 'shared' }).expect(200);
      await post('agentB', 'events', { scope: 'lanes', session_id: 'lane-sess', event_id: 'b1', text_summary: SHARED, memory_lane: 'shared' }).expect(200);
      await post('agentA', 'events', { scope: 'lanes', session_id: 'lane-sess', event_id: 'a1', text_summary: LANE }).expect(200);
      // An edge between the private node and agent-b's node (written by the tenant-wide key).
      await post('plain', 'write', { scope: 'lanes', input_text: 'link', edges: [{ type: 'related_to', src: { id: privateId }, dst: { client_id: 'shared-b' } }], nodes: [{ client_id: 'shared-b', type: 'concept' }] }).expect(200);
      await env.waitReady('agentA', 'lanes', ['session_event:lane-sess:a1']);
      await env.waitReady('agentB', 'lanes', ['session_event:lane-sess:b1']);
    });

    it('the owner sees its private canary through recall, recall_text, find, session events and its export (the checks below can fail)', async () => {
      const reads = [
        await post('agentA', 'recall', { scope: 'lanes', query_embedding: axisVector(5, dim), limit: 50 }),
        await post('agentA', 'recall_text', { scope: 'lanes', query_text: 'anything', limit: 50 }),
        await post('agentA', 'find', { scope: 'lanes', client_id: 'private-a' }),
        await get('agentA', 'sessions/lane-sess/events?scope=lanes'),
        await post('agentA', 'packs/export', { scope: 'lanes' }),
      ];
      for (const r of reads) {
        expect(r.status).toBe(200);
        expect(JSON.stringify(r.body)).toContain(LANE);
      }
    });

    it.each(['agentB', 'teamX', 'plain'] as const)('never reaches %s through recall, recall_text, find or session events', async (key) => {
      const reads = [
        await post(key, 'recall', { scope: 'lanes', query_embedding: axisVector(5, dim), limit: 50, include_meta: true, include_slots: true }),
        await post(key, 'recall_text', { scope: 'lanes', query_text: 'anything', limit: 50 }),
        await post(key, 'find', { scope: 'lanes', limit: 200 }),
        await post(key, 'find', { scope: 'lanes', client_id: 'private-a' }),
        await post(key, 'find', { scope: 'lanes', id: privateId }),
        await post(key, 'find', { scope: 'lanes', title_contains: 'CANARY' }),
        await get(key, 'sessions/lane-sess/events?scope=lanes&limit=200&include_slots=true'),
      ];
      for (const r of reads) {
        expect(r.status).toBe(200);
        // (find echoes its filters: the id the caller sent is its own input.)
        const shown = JSON.stringify({ ...r.body, filters: undefined });
        expect(shown).not.toContain(LANE);
        expect(shown).not.toContain(privateId);
      }
      // The shared data is there: the reads do show data.
      expect(JSON.stringify(reads[0]!.body)).toContain(SHARED);
      expect(JSON.stringify(reads[6]!.body)).toContain(SHARED);
    });

    it("an agent-bound key's pack export holds only what its agent may read; the tenant-wide key's holds every lane", async () => {
      const b = await post('agentB', 'packs/export', { scope: 'lanes' });
      expect(b.status).toBe(200);
      expect(JSON.stringify(b.body)).not.toContain(LANE);
      expect(JSON.stringify(b.body.pack.nodes)).not.toContain(privateId);
      // No edge with the private node as an endpoint either.
      expect(JSON.stringify(b.body.pack.edges)).not.toContain(privateId);
      expect(JSON.stringify(b.body)).toContain(SHARED);
      const tenantWide = await post('plain', 'packs/export', { scope: 'lanes' });
      expect(JSON.stringify(tenantWide.body.pack.nodes)).toContain(LANE);
    });

    it("a bound key cannot read as another agent or team (403 identity_mismatch)", async () => {
      const cases = [
        await post('agentB', 'recall', { scope: 'lanes', query_embedding: axisVector(5, dim), consumer_agent_id: 'agent-a' }),
        await post('agentB', 'find', { scope: 'lanes', consumer_agent_id: 'agent-a' }),
        await get('agentB', 'sessions/lane-sess/events?scope=lanes&consumer_agent_id=agent-a'),
        await post('agentB', 'packs/export', { scope: 'lanes', consumer_agent_id: 'agent-a' }),
        await post('teamX', 'find', { scope: 'lanes', consumer_team_id: 'team-y' }),
      ];
      for (const r of cases) {
        expectContractError(r, 403, 'identity_mismatch');
        expect(JSON.stringify(r.body)).not.toContain(LANE);
      }
      // A bound key cannot write as another agent either.
      const before = await env.counts();
      expectContractError(await post('agentB', 'write', { scope: 'lanes', input_text: 'x', owner_agent_id: 'agent-a', nodes: [{ type: 'event', title: 'x' }] }), 403, 'identity_mismatch');
      expect(await env.counts()).toEqual(before);
    });

    it('a private node without an owner (the default lane, a tenant-wide key) is invisible to every reader', async () => {
      const w = await post('plain', 'write', { scope: 'ownerless', input_text: 'x', nodes: [{ client_id: 'orphan', type: 'concept', title: 'orphan', embedding: axisVector(9, dim) }] });
      expect(w.status).toBe(200);
      for (const key of ['plain', 'agentA', 'agentB', 'teamX'] as const) {
        expect((await post(key, 'find', { scope: 'ownerless' })).body.nodes).toEqual([]);
        expect((await post(key, 'recall', { scope: 'ownerless', query_embedding: axisVector(9, dim) })).body.seeds).toEqual([]);
      }
      // It exists: the tenant-wide export holds it.
      expect((await post('plain', 'packs/export', { scope: 'ownerless' })).body.pack.nodes).toEqual([expect.objectContaining({ client_id: 'orphan', memory_lane: 'private', owner_agent_id: null })]);
    });
  });

  describe('key scopes and authentication', () => {
    const ROUTES: { path: string; method: 'post' | 'get'; body?: object | (() => object); scope: 'memory:read' | 'memory:write' }[] = [
      { path: 'write', method: 'post', body: { scope: 'auth', input_text: 'x', nodes: [{ type: 'event', title: 'x' }] }, scope: 'memory:write' },
      { path: 'recall', method: 'post', body: { scope: SCOPE, query_embedding: axisVector(3) }, scope: 'memory:read' },
      { path: 'recall_text', method: 'post', body: { scope: SCOPE, query_text: 'x' }, scope: 'memory:read' },
      { path: 'find', method: 'post', body: { scope: SCOPE }, scope: 'memory:read' },
      { path: 'sessions', method: 'post', body: { scope: 'auth', session_id: 's' }, scope: 'memory:write' },
      { path: 'events', method: 'post', body: { scope: 'auth', session_id: 's', text_summary: 'x' }, scope: 'memory:write' },
      { path: `sessions/sess-1/events?scope=${SCOPE}`, method: 'get', scope: 'memory:read' },
      { path: 'packs/export', method: 'post', body: { scope: SCOPE }, scope: 'memory:read' },
      { path: 'packs/import', method: 'post', body: { pack: { version: 'aionis_pack_v1', tenant_id: TENANT, scope: 'auth', nodes: [{ id: '5d7c1c3e-9a6b-4c1e-8d2f-1a2b3c4d5e6f', type: 'event', title: 'p' }] } }, scope: 'memory:write' },
      { path: 'archive/rehydrate', method: 'post', body: { scope: SCOPE, client_ids: ['archived'], input_text: 'x' }, scope: 'memory:write' },
      { path: 'nodes/activate', method: 'post', body: { scope: SCOPE, client_ids: ['secret'], input_text: 'x' }, scope: 'memory:write' },
      { path: `commits?scope=${SCOPE}`, method: 'get', scope: 'memory:read' },
      { path: 'commits/verify', method: 'post', body: { scope: SCOPE }, scope: 'memory:read' },
      { path: 'rules/evaluate', method: 'post', body: { scope: SCOPE, context: { intent: 'work' } }, scope: 'memory:read' },
      { path: 'tools/select', method: 'post', body: { scope: SCOPE, context: { intent: 'work' }, candidates: TOOLS }, scope: 'memory:read' },
      { path: 'tools/feedback', method: 'post', body: { scope: SCOPE, context: { intent: 'work' }, candidates: TOOLS, selected_tool: 'tool-a', outcome: 'positive', input_text: 'x' }, scope: 'memory:write' },
      { path: 'rules/state', method: 'post', body: () => ({ scope: SCOPE, rule_node_id: seeded.a.ruleId, state: 'active', input_text: 'x' }), scope: 'memory:write' },
      { path: 'feedback', method: 'post', body: () => ({ scope: SCOPE, rule_node_id: seeded.a.ruleId, outcome: 'positive', input_text: 'x' }), scope: 'memory:write' },
    ];
    const send = (r: (typeof ROUTES)[number], headers: Record<string, string>) => {
      const req = env.api[r.method](`/v1/memory/${r.path}`).set(headers);
      return r.body === undefined ? req : req.send(typeof r.body === 'function' ? r.body() : r.body);
    };

    it('every route is refused with 403 forbidden to a key without its scope, and nothing is written', async () => {
      const before = await env.counts();
      for (const r of ROUTES) {
        const key: KeyName = r.scope === 'memory:write' ? 'readOnly' : 'writeOnly';
        const res = await send(r, env.as(key));
        expectContractError(res, 403, 'forbidden');
        expect(res.body.details).toEqual({ missing_scopes: [r.scope] });
        expect(text(res)).not.toContain(NS.a.canary);
      }
      expect(await env.counts()).toEqual(before);
    });

    it('every route is open to a key with its scope', async () => {
      for (const r of ROUTES) {
        const key: KeyName = r.scope === 'memory:write' ? 'writeOnly' : 'readOnly';
        const res = await send(r, env.as(key));
        expect({ route: r.path, status: res.status }).toEqual({ route: r.path, status: 200 });
      }
    });

    it('every route answers 401 without a key, with an unknown key and with a malformed one; nothing is written', async () => {
      const before = await env.counts();
      for (const r of ROUTES) {
        const attempts: Record<string, string>[] = [
          { 'Content-Type': 'application/json' },
          { 'x-api-key': 'aio_live_unknown0123456789', 'Content-Type': 'application/json' },
          { Authorization: 'Bearer not-a-key', 'Content-Type': 'application/json' },
        ];
        for (const headers of attempts) {
          const res = await send(r, headers);
          expectContractError(res, 401, 'unauthorized');
          expect(text(res)).not.toContain(NS.a.canary);
        }
      }
      expect(await env.counts()).toEqual(before);
    });
  });

  describe('the commit chain (hosted addition)', () => {
    it('chains commits linearly even with concurrent writers, and verify recomputes every hash', async () => {
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => post(i % 2 ? 'plain' : 'writeOnly', 'write', { scope: 'busy', input_text: `write ${i}`, nodes: [{ client_id: `n${i}`, type: 'event', title: `event ${i}` }] })),
      );
      for (const r of results) expect(r.status).toBe(200);
      const commits = await get('readOnly', 'commits?scope=busy&limit=500');
      expect(commits.status).toBe(200);
      const chain = commits.body.commits as { seq: number; commit_id: string; chain_prev_hash: string | null; chain_hash: string; parent_id: string | null }[];
      expect(chain.map((c) => c.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(chain[0]!.chain_prev_hash).toBeNull();
      for (let i = 1; i < chain.length; i++) expect(chain[i]!.chain_prev_hash).toBe(chain[i - 1]!.chain_hash);
      // The contract parent is what the write named: none here.
      expect(chain.every((c) => c.parent_id === null)).toBe(true);
      expect(new Set(chain.map((c) => c.commit_id))).toEqual(new Set(results.map((r) => r.body.commit_id)));
      // Paged with a cursor, the same chain.
      const page1 = await get('readOnly', 'commits?scope=busy&limit=3');
      const page2 = await get('readOnly', `commits?scope=busy&limit=500&cursor=${encodeURIComponent(page1.body.next_cursor)}`);
      expect([...page1.body.commits, ...page2.body.commits].map((c: { seq: number }) => c.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(page2.body.next_cursor).toBeNull();
      const ok = await post('readOnly', 'commits/verify', { scope: 'busy' });
      expect(ok.body).toMatchObject({ ok: true, commits: 8, problems: [], head_hash: chain[7]!.chain_hash });

      // An edit of history is caught.
      await sql`UPDATE memory_commits SET input_sha256 = repeat('0', 64) WHERE tenant_id = ${TENANT} AND project_key = '' AND scope = 'busy' AND seq = 3`.execute(env.t.tdb.database.db);
      const bad = await post('readOnly', 'commits/verify', { scope: 'busy' });
      expect(bad.body.ok).toBe(false);
      expect(bad.body.problems).toEqual([expect.objectContaining({ seq: 3, problem: 'commit_hash_mismatch' })]);
    });

    it('a write naming a commit of another namespace as its parent is 400 parent_commit_not_found and writes nothing', async () => {
      const before = await env.counts();
      for (const key of ['project', 'other'] as const) {
        const res = await post(key, 'write', { scope: SCOPE, parent_commit_id: seeded.a.commitIds[0], input_text: 'x', nodes: [{ type: 'event', title: 'y' }] });
        expectContractError(res, 400, 'parent_commit_not_found');
      }
      expect(await env.counts()).toEqual(before);
    });
  });

  describe('find paging', () => {
    it('pages with limit and offset (newest first), page.has_more says when to stop, and % and _ are literal', async () => {
      const nodes = Array.from({ length: 7 }, (_, i) => ({ client_id: `p${i}`, type: 'topic', title: `page topic ${i}`, memory_lane: 'shared' }));
      await post('plain', 'write', { scope: 'paging', input_text: 'p', nodes }).expect(200);
      const seen: string[] = [];
      for (let offset = 0; ; offset += 3) {
        const res = await post('plain', 'find', { scope: 'paging', title_contains: 'page topic', limit: 3, offset });
        expect(res.body.page).toEqual({ limit: 3, offset, returned: res.body.nodes.length, has_more: offset + 3 < 7 });
        seen.push(...res.body.nodes.map((n: { client_id: string }) => n.client_id));
        if (!res.body.page.has_more) break;
      }
      expect(seen.sort()).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
      expect((await post('plain', 'find', { scope: 'paging', title_contains: '%' })).body.nodes).toEqual([]);
      expect((await post('plain', 'find', { scope: 'paging', title_contains: 'page_topic' })).body.nodes).toEqual([]);
    });
  });
});
