import { createHash, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { type ContractEnv, deepObject, type KeyName, TENANT, OTHER_TENANT, startContractEnv, expectContractError, expectEachRefused } from '../../support/contract';
import { HEX64, sha, sha256, UUID } from '../../support/spec-hash';

/**
 * POST /v1/memory/packs/export and /packs/import, from the contract (§2.9, §2.10, §8): the manifest
 * and the pack with the §8.1 row formats (with and without meta, absent values null, rows ordered
 * by created_at then id), max_rows and truncation, the hash (sha of the pack), the export → import
 * round trip the contract's §8.4 fix makes work, verify_only, every import refusal, the lane rules
 * of an export (tenant-wide: every lane; agent-bound: what the agent may read, a listed hosted
 * difference), the import's mapping (ids from client ids, a missing lane read as shared) and its
 * provenance row, isolation, and bad input refused with nothing written.
 */
function stableUuid(name: string): string {
  const h = createHash('sha256').update(`aionis-memory-graph:${name}`, 'utf8').digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}
const keyOf = (scope: string): string => `tenant:${TENANT}::scope:${scope}`;
const nodeIdOf = (scope: string, clientId: string): string => stableUuid(`${keyOf(scope)}:node:${clientId}`);
const PG_TS = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?\+00$/;
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const NODE_META_KEYS = ['id', 'client_id', 'type', 'tier', 'memory_lane', 'producer_agent_id', 'owner_agent_id', 'owner_team_id', 'title', 'text_summary', 'slots', 'raw_ref', 'evidence_ref', 'salience', 'importance', 'confidence', 'created_at', 'updated_at', 'commit_id'];
const EDGE_META_KEYS = ['id', 'type', 'src_id', 'dst_id', 'src_client_id', 'dst_client_id', 'weight', 'confidence', 'decay_rate', 'created_at', 'commit_id'];
const COMMIT_META_KEYS = ['id', 'parent_id', 'input_sha256', 'actor', 'model_version', 'prompt_version', 'created_at', 'commit_hash'];
const sorted = (xs: readonly string[]) => [...xs].sort();
/** A timestamp of a pack row as a number (ms), for ordering. */
const tsOf = (pg: string): number => Date.parse(pg.replace(' ', 'T').replace(/\+00$/, 'Z'));

type Pack = { version: string; tenant_id: string; scope: string; nodes: Record<string, unknown>[]; edges: Record<string, unknown>[]; commits: Record<string, unknown>[] };

const example = (scope: string) => ({
  scope,
  input_text: 'Maria said she is vegetarian and likes window seats.',
  memory_lane: 'shared',
  nodes: [
    { client_id: 'user:maria', type: 'entity', title: 'Maria', text_summary: 'Frequent flyer, Lisbon office' },
    { client_id: 'evt:diet-2026-02-20', type: 'event', text_summary: 'Maria is vegetarian and prefers window seats' },
  ],
  edges: [{ type: 'related_to', src: { client_id: 'evt:diet-2026-02-20' }, dst: { client_id: 'user:maria' }, weight: 0.9, confidence: 0.85 }],
});

describe('contract: POST /v1/memory/packs/export and /v1/memory/packs/import', () => {
  let env: ContractEnv;
  beforeAll(async () => {
    env = await startContractEnv();
  });
  afterAll(async () => {
    await env.stop();
  });
  const exportPack = (body: unknown, key: KeyName = 'plain') => env.api.post('/v1/memory/packs/export').set(env.as(key)).send(body as object);
  const importPack = (body: unknown, key: KeyName = 'plain') => env.api.post('/v1/memory/packs/import').set(env.as(key)).send(body as object);
  const write = (body: unknown, key: KeyName = 'plain') => env.api.post('/v1/memory/write').set(env.as(key)).send(body as object).expect(200);
  const find = (body: Record<string, unknown>, key: KeyName = 'plain') => env.api.post('/v1/memory/find').set(env.as(key)).send(body);
  const nodesIn = async (scope: string) => {
    const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM memory_nodes WHERE tenant_id = ${TENANT} AND project_key = '' AND scope = ${scope}`.execute(env.t.tdb.database.db);
    return Number(r.rows[0]!.n);
  };

  /** The example written once into `pk-meta`, with its write response. */
  let seeded: { commit_id: string; commit_hash: string };
  beforeAll(async () => {
    seeded = (await write(example('pk-meta'))).body;
  });

  it("reproduces the contract's example pack hashes with this suite's canonical JSON", () => {
    const maria = { id: '46b4c798-6f5d-5574-9514-85a8d784fdd8', client_id: 'user:maria', type: 'entity', title: 'Maria', text_summary: 'Frequent flyer, Lisbon office', slots: {} };
    expect(sha({ version: 'aionis_pack_v1', tenant_id: 'default', scope: 'travel-desk', nodes: [maria], edges: [], commits: [] })).toBe('6e2a6771d3d8b8e08571c0aec560322deec7eac5daab72e4057f1da146fee3d5');
    expect(stableUuid('travel-desk:node:user:maria')).toBe(maria.id);
  });

  it('exports with meta (the default): every manifest and pack member, the §8.1 rows with null for absent values, sha256 = sha(pack)', async () => {
    const res = await exportPack({ scope: 'pk-meta' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const maria = nodeIdOf('pk-meta', 'user:maria');
    const diet = nodeIdOf('pk-meta', 'evt:diet-2026-02-20');
    const edgeId = stableUuid(`${keyOf('pk-meta')}:edge:Maria said she is vegetarian and likes window seats.:related_to:evt:diet-2026-02-20:user:maria`);
    const nodeRow = (id: string, clientId: string, type: string, title: string | null, summary: string) => ({
      id,
      client_id: clientId,
      type,
      tier: 'hot',
      memory_lane: 'shared',
      producer_agent_id: null,
      owner_agent_id: null,
      owner_team_id: null,
      title,
      text_summary: summary,
      slots: {},
      raw_ref: null,
      evidence_ref: null,
      salience: 0.5,
      importance: 0.5,
      confidence: 0.5,
      created_at: expect.stringMatching(PG_TS),
      updated_at: expect.stringMatching(PG_TS),
      commit_id: seeded.commit_id,
    });
    // One write: equal created_at, so the id decides the order.
    const rows = [nodeRow(maria, 'user:maria', 'entity', 'Maria', 'Frequent flyer, Lisbon office'), nodeRow(diet, 'evt:diet-2026-02-20', 'event', null, 'Maria is vegetarian and prefers window seats')].sort((a, b) => (a.id < b.id ? -1 : 1));
    expect(res.body).toEqual({
      tenant_id: TENANT,
      scope: 'pk-meta',
      manifest: {
        version: 'aionis_pack_manifest_v1',
        pack_version: 'aionis_pack_v1',
        sha256: sha(res.body.pack),
        generated_at: expect.stringMatching(ISO_MS),
        counts: { nodes: 2, edges: 1, commits: 1 },
        truncated: { nodes: false, edges: false, commits: false },
        max_rows: 5000,
      },
      pack: {
        version: 'aionis_pack_v1',
        tenant_id: TENANT,
        scope: 'pk-meta',
        nodes: rows,
        edges: [
          {
            id: edgeId,
            type: 'related_to',
            src_id: diet,
            dst_id: maria,
            src_client_id: 'evt:diet-2026-02-20',
            dst_client_id: 'user:maria',
            weight: 0.9,
            confidence: 0.85,
            decay_rate: 0.01,
            created_at: expect.stringMatching(PG_TS),
            commit_id: seeded.commit_id,
          },
        ],
        commits: [
          {
            id: seeded.commit_id,
            parent_id: null,
            input_sha256: sha256('Maria said she is vegetarian and likes window seats.'),
            actor: 'system',
            model_version: null,
            prompt_version: null,
            created_at: expect.stringMatching(PG_TS),
            commit_hash: seeded.commit_hash,
          },
        ],
      },
    });
    expect(Math.abs(Date.parse(res.body.manifest.generated_at) - Date.now())).toBeLessThan(60_000);
  });

  it("exports without meta in the §8.1 short rows: the contract's example for tenant contract-a, byte for byte", async () => {
    const res = await exportPack({ scope: 'pk-meta', include_meta: false, include_commits: false, max_rows: 100 });
    const maria = nodeIdOf('pk-meta', 'user:maria');
    const diet = nodeIdOf('pk-meta', 'evt:diet-2026-02-20');
    const pack = {
      version: 'aionis_pack_v1',
      tenant_id: TENANT,
      scope: 'pk-meta',
      nodes: [
        { id: maria, client_id: 'user:maria', type: 'entity', title: 'Maria', text_summary: 'Frequent flyer, Lisbon office', slots: {} },
        { id: diet, client_id: 'evt:diet-2026-02-20', type: 'event', title: null, text_summary: 'Maria is vegetarian and prefers window seats', slots: {} },
      ].sort((a, b) => (a.id < b.id ? -1 : 1)),
      edges: [
        {
          id: stableUuid(`${keyOf('pk-meta')}:edge:Maria said she is vegetarian and likes window seats.:related_to:evt:diet-2026-02-20:user:maria`),
          type: 'related_to',
          src_id: diet,
          dst_id: maria,
          src_client_id: 'evt:diet-2026-02-20',
          dst_client_id: 'user:maria',
          weight: 0.9,
          confidence: 0.85,
        },
      ],
      commits: [],
    };
    expect(res.body).toEqual({
      tenant_id: TENANT,
      scope: 'pk-meta',
      manifest: {
        version: 'aionis_pack_manifest_v1',
        pack_version: 'aionis_pack_v1',
        sha256: sha(pack),
        generated_at: expect.stringMatching(ISO_MS),
        counts: { nodes: 2, edges: 1, commits: 0 },
        truncated: { nodes: false, edges: false, commits: false },
        max_rows: 100,
      },
      pack,
    });
    const commits = await exportPack({ scope: 'pk-meta', include_meta: false, include_nodes: false, include_edges: false });
    expect(commits.body.pack).toEqual({ version: 'aionis_pack_v1', tenant_id: TENANT, scope: 'pk-meta', nodes: [], edges: [], commits: [{ id: seeded.commit_id, parent_id: null, commit_hash: seeded.commit_hash }] });
    expect(commits.body.manifest).toMatchObject({ sha256: sha(commits.body.pack), counts: { nodes: 0, edges: 0, commits: 1 }, truncated: { nodes: false, edges: false, commits: false } });
  });

  it('orders every section by created_at, then id, and cuts each at max_rows (1..50000, default 5000) with truncated flags', async () => {
    const scope = 'pk-order';
    const first = await write({ scope, input_text: 'first', memory_lane: 'shared', nodes: [{ client_id: 'first', type: 'entity', title: 'first' }, { client_id: 'first-b', type: 'entity', title: 'first b' }], edges: [{ type: 'related_to', src: { client_id: 'first' }, dst: { client_id: 'first-b' } }] });
    // A later node whose id sorts before the earlier ones: created_at must decide.
    const floor = [nodeIdOf(scope, 'first'), nodeIdOf(scope, 'first-b')].sort()[0]!;
    const late = Array.from({ length: 64 }, (_, i) => `late-${i}`).find((c) => nodeIdOf(scope, c) < floor)!;
    expect(late).toBeDefined();
    await new Promise((r) => setTimeout(r, 5));
    const second = await write({ scope, input_text: 'second', memory_lane: 'shared', nodes: [{ client_id: late, type: 'entity', title: 'late' }, { client_id: 'late-z', type: 'entity', title: 'late z' }], edges: [{ type: 'related_to', src: { client_id: late }, dst: { client_id: 'late-z' } }] });
    const full = await exportPack({ scope });
    const p = full.body.pack as Pack;
    expect(p.nodes.map((n) => n.id)).toEqual([...[nodeIdOf(scope, 'first'), nodeIdOf(scope, 'first-b')].sort(), ...[nodeIdOf(scope, late), nodeIdOf(scope, 'late-z')].sort()]);
    expect(p.edges.map((e) => e.commit_id)).toEqual([first.body.commit_id, second.body.commit_id]);
    expect(p.commits.map((c) => c.id)).toEqual([first.body.commit_id, second.body.commit_id]);
    // Every row has exactly the §8.1 members of its section.
    for (const [rows, keys] of [
      [p.nodes, NODE_META_KEYS],
      [p.edges, EDGE_META_KEYS],
      [p.commits, COMMIT_META_KEYS],
    ] as const) {
      for (const row of rows) expect(sorted(Object.keys(row))).toEqual(sorted(keys));
    }
    for (const section of [p.nodes, p.edges, p.commits]) {
      for (let i = 1; i < section.length; i++) {
        const [a, b] = [section[i - 1]!, section[i]!];
        const order = tsOf(a.created_at as string) - tsOf(b.created_at as string) || ((a.id as string) < (b.id as string) ? -1 : 1);
        expect(order).toBeLessThan(0);
      }
    }
    expect(tsOf(p.nodes[2]!.created_at as string)).toBeGreaterThan(tsOf(p.nodes[1]!.created_at as string));

    const one = await exportPack({ scope, max_rows: 1 });
    expect(one.body.manifest).toMatchObject({ sha256: sha(one.body.pack), counts: { nodes: 1, edges: 1, commits: 1 }, truncated: { nodes: true, edges: true, commits: true }, max_rows: 1 });
    expect(one.body.pack).toMatchObject({ nodes: [p.nodes[0]], edges: [p.edges[0]], commits: [p.commits[0]] });
    const exact = await exportPack({ scope, max_rows: 2 });
    expect(exact.body.manifest).toMatchObject({ counts: { nodes: 2, edges: 2, commits: 2 }, truncated: { nodes: true, edges: false, commits: false } });
    const none = await exportPack({ scope, include_nodes: false, include_edges: false, include_commits: false, max_rows: 1 });
    expect(none.body.manifest).toMatchObject({ counts: { nodes: 0, edges: 0, commits: 0 }, truncated: { nodes: false, edges: false, commits: false } });
    expect(none.body.pack).toEqual({ version: 'aionis_pack_v1', tenant_id: TENANT, scope, nodes: [], edges: [], commits: [] });
    expect((await exportPack({ scope, max_rows: 50_000 })).body.manifest).toMatchObject({ max_rows: 50_000, counts: { nodes: 4, edges: 2, commits: 2 } });
    for (const max_rows of [0, 50_001, 1.5, -1, '5']) {
      const bad = await exportPack({ scope, max_rows });
      expectContractError(bad, 400, 'invalid_request');
      expect(bad.body.issues).toEqual([expect.objectContaining({ path: 'max_rows' })]);
    }
  });

  it('re-imports an unmodified export (with meta) verified by manifest_sha256, and a repeat import returns the same commit and writes nothing', async () => {
    const exported = await exportPack({ scope: 'pk-meta' });
    const nodesBefore = await nodesIn('pk-meta');
    const res = await importPack({ pack: exported.body.pack, manifest_sha256: exported.body.manifest.sha256 });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      ok: true,
      verified: true,
      imported: true,
      tenant_id: TENANT,
      scope: 'pk-meta',
      pack_sha256: exported.body.manifest.sha256,
      commit_id: expect.stringMatching(UUID),
      commit_hash: expect.stringMatching(HEX64),
      nodes: 2,
      edges: 1,
      embedding_backfill: null,
    });
    // The same tenant and scope, nodes with client ids: the same ids, no new nodes.
    expect(await nodesIn('pk-meta')).toBe(nodesBefore);
    const commit = await sql<{ actor: string; input_sha256: string; commit_hash: string }>`SELECT actor, input_sha256, commit_hash FROM memory_commits WHERE commit_id = ${res.body.commit_id}::uuid`.execute(env.t.tdb.database.db);
    expect(commit.rows).toEqual([{ actor: 'pack_import', input_sha256: sha256(`pack import ${exported.body.manifest.sha256}`), commit_hash: res.body.commit_hash }]);
    const provenance = await sql<{ project_key: string; commit_id: string; nodes: number; edges: number; key_id: string }>`
      SELECT project_key, commit_id::text AS commit_id, nodes, edges, key_id FROM memory_pack_imports WHERE tenant_id = ${TENANT} AND scope = 'pk-meta' AND pack_sha256 = ${exported.body.manifest.sha256}`.execute(env.t.tdb.database.db);
    expect(provenance.rows).toEqual([{ project_key: '', commit_id: res.body.commit_id, nodes: 2, edges: 1, key_id: expect.any(String) }]);
    const before = await env.counts();
    const again = await importPack({ pack: exported.body.pack, manifest_sha256: exported.body.manifest.sha256 });
    expect(again.body).toEqual(res.body);
    expect(await env.counts()).toEqual(before);
    // Without manifest_sha256 the pack is not checked against a hash, but still hashed.
    expect((await importPack({ pack: exported.body.pack })).body).toMatchObject({ verified: true, pack_sha256: exported.body.manifest.sha256, commit_id: res.body.commit_id });
  });

  it('re-imports an unmodified export without meta in which a node has no client_id and no title (the §8.4 fix): that node is created as shared', async () => {
    const scope = 'pk-nometa';
    const anon = (await write({ scope, input_text: 'a', memory_lane: 'shared', nodes: [{ type: 'event', text_summary: 'anonymous' }] })).body.nodes[0].id as string;
    await write({ scope, input_text: 'b', memory_lane: 'shared', nodes: [{ client_id: 'named', type: 'entity', title: 'Named' }], edges: [{ type: 'related_to', src: { id: anon }, dst: { client_id: 'named' }, weight: 0.3 }] });
    const exported = await exportPack({ scope, include_meta: false });
    const p = exported.body.pack as Pack;
    expect(p.nodes).toContainEqual({ id: anon, client_id: null, type: 'event', title: null, text_summary: 'anonymous', slots: {} });
    expect(p.edges).toEqual([expect.objectContaining({ src_id: anon, src_client_id: null, dst_client_id: 'named', weight: 0.3 })]);
    const res = await importPack({ pack: p, manifest_sha256: exported.body.manifest.sha256 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: true, verified: true, imported: true, pack_sha256: exported.body.manifest.sha256, nodes: 2, edges: 1 });
    const cid = `pack:${exported.body.manifest.sha256.slice(0, 16)}:node:${anon}`;
    // A node without a lane (every no-meta row) is imported as shared: an agent-bound reader sees it.
    const found = await find({ scope, client_id: cid, include_meta: true }, 'agentB');
    expect(found.body.nodes).toEqual([expect.objectContaining({ id: nodeIdOf(scope, cid), client_id: cid, text_summary: 'anonymous', title: null, memory_lane: 'shared', embedding_status: 'failed', commit_id: res.body.commit_id })]);
    const edges = await sql<{ dst_id: string }>`SELECT dst_id::text AS dst_id FROM memory_edges WHERE tenant_id = ${TENANT} AND scope = ${scope} AND src_id = ${nodeIdOf(scope, cid)}::uuid`.execute(env.t.tdb.database.db);
    expect(edges.rows).toEqual([{ dst_id: nodeIdOf(scope, 'named') }]);
  });

  it('imports a pack into a fresh scope: the §8.3 mapping (ids from client ids, carried fields, nothing else), auto_embed false by default', async () => {
    const scope = 'pk-fresh';
    const keep = nodeIdOf(scope, 'keep-me');
    const loose = randomUUID();
    const pack = {
      version: 'aionis_pack_v1',
      tenant_id: TENANT,
      scope,
      nodes: [
        {
          id: keep,
          client_id: ' keep-me ',
          type: 'entity',
          tier: 'warm',
          memory_lane: 'private',
          producer_agent_id: 'agent-p',
          owner_agent_id: 'agent-a',
          owner_team_id: 'team-x',
          title: '  Kept   node ',
          text_summary: 'kept summary',
          slots: { k: 'v', n: [1, 2] },
          raw_ref: 's3://raw',
          evidence_ref: 'doc#2',
          salience: 0.25,
          importance: 0.75,
          confidence: 0.125,
          created_at: '2020-01-01 00:00:00+00',
          updated_at: '2020-01-01 00:00:00+00',
          commit_id: randomUUID(),
        },
        { id: loose, type: 'event', text_summary: 'no client id' },
      ],
      edges: [{ id: randomUUID(), type: 'related_to', src_id: loose, dst_id: keep, weight: 0.4, confidence: 0.3, decay_rate: 0.02 }],
      commits: [{ id: randomUUID(), parent_id: null, commit_hash: 'not checked' }],
    };
    const res = await importPack({ pack, manifest_sha256: sha(pack) });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ imported: true, scope, pack_sha256: sha(pack), nodes: 2, edges: 1, embedding_backfill: null });
    const kept = await find({ scope, client_id: 'keep-me', include_meta: true, include_slots: true, consumer_agent_id: 'agent-a' });
    expect(kept.body.nodes).toEqual([
      expect.objectContaining({
        id: keep,
        title: 'Kept node',
        text_summary: 'kept summary',
        slots: { k: 'v', n: [1, 2] },
        tier: 'warm',
        memory_lane: 'private',
        producer_agent_id: 'agent-p',
        owner_agent_id: 'agent-a',
        owner_team_id: 'team-x',
        raw_ref: 's3://raw',
        evidence_ref: 'doc#2',
        salience: 0.25,
        importance: 0.75,
        confidence: 0.125,
        embedding_status: 'failed',
        commit_id: res.body.commit_id,
      }),
    ]);
    expect(kept.body.nodes[0].created_at).not.toBe('2020-01-01 00:00:00+00');
    const cid = `pack:${sha(pack).slice(0, 16)}:node:${loose}`;
    const looseFound = await find({ scope, client_id: cid, include_meta: true });
    expect(looseFound.body.nodes).toEqual([expect.objectContaining({ id: nodeIdOf(scope, cid), memory_lane: 'shared' })]);
    expect(looseFound.body.nodes[0].id).not.toBe(loose);
    const edge = await sql<{ dst_id: string; weight: number; confidence: number; decay_rate: number }>`
      SELECT dst_id::text AS dst_id, weight, confidence, decay_rate FROM memory_edges WHERE tenant_id = ${TENANT} AND scope = ${scope} AND src_id = ${nodeIdOf(scope, cid)}::uuid`.execute(env.t.tdb.database.db);
    expect(edge.rows.map((e) => ({ dst_id: e.dst_id, weight: Number(e.weight), confidence: Number(e.confidence), decay_rate: Number(e.decay_rate) }))).toEqual([
      { dst_id: keep, weight: expect.closeTo(0.4, 6), confidence: expect.closeTo(0.3, 6), decay_rate: expect.closeTo(0.02, 6) },
    ]);
    // auto_embed true queues the imported nodes.
    const embedded = await importPack({ pack: { ...pack, nodes: [{ id: randomUUID(), client_id: 'to-embed', type: 'entity', title: 'Embed me', memory_lane: 'shared' }], edges: [], commits: [] }, auto_embed: true, actor: 'migrator' });
    expect(embedded.body).toMatchObject({ imported: true, nodes: 1, edges: 0, embedding_backfill: { enqueued: true, pending_nodes: 1 } });
    const actor = await sql<{ actor: string }>`SELECT actor FROM memory_commits WHERE commit_id = ${embedded.body.commit_id}::uuid`.execute(env.t.tdb.database.db);
    expect(actor.rows).toEqual([{ actor: 'migrator' }]);
    await env.waitReady('plain', scope, ['to-embed']);
  });

  it('verify_only answers planned{nodes, edges, commits_in_pack} and writes nothing', async () => {
    const exported = await exportPack({ scope: 'pk-meta' });
    const before = await env.counts();
    const res = await importPack({ pack: exported.body.pack, manifest_sha256: exported.body.manifest.sha256, verify_only: true });
    expect(res.status).toBe(200);
    const commits = (exported.body.pack as Pack).commits.length;
    expect(commits).toBeGreaterThanOrEqual(1);
    expect(res.body).toEqual({ ok: true, verified: true, imported: false, tenant_id: TENANT, scope: 'pk-meta', pack_sha256: exported.body.manifest.sha256, planned: { nodes: 2, edges: 1, commits_in_pack: commits } });
    // The contract's one-node example, for this tenant.
    const one = { version: 'aionis_pack_v1', tenant_id: TENANT, scope: 'travel-desk', nodes: [{ id: nodeIdOf('travel-desk', 'user:maria'), client_id: 'user:maria', type: 'entity', title: 'Maria', text_summary: 'Frequent flyer, Lisbon office', slots: {} }], edges: [], commits: [] };
    const example1 = await importPack({ scope: 'travel-desk', verify_only: true, manifest_sha256: sha(one), pack: one });
    expect(example1.body).toEqual({ ok: true, verified: true, imported: false, tenant_id: TENANT, scope: 'travel-desk', pack_sha256: sha(one), planned: { nodes: 1, edges: 0, commits_in_pack: 0 } });
    expect(await env.counts()).toEqual(before);
  });

  it('refuses a tampered pack with 400 pack_hash_mismatch {expected, actual}, and writes nothing', async () => {
    const exported = await exportPack({ scope: 'pk-meta' });
    const tampered = structuredClone(exported.body.pack) as Pack;
    tampered.nodes[0]!.title = 'Edited';
    const before = await env.counts();
    for (const verify_only of [false, true]) {
      const res = await importPack({ pack: tampered, manifest_sha256: exported.body.manifest.sha256, verify_only });
      expectContractError(res, 400, 'pack_hash_mismatch');
      expect(res.body.details).toEqual({ expected: exported.body.manifest.sha256, actual: sha(tampered) });
    }
    expect(await env.counts()).toEqual(before);
  });

  it('refuses a pack of another scope or tenant with 400 pack_scope_mismatch', async () => {
    const exported = await exportPack({ scope: 'pk-meta' });
    const pack = exported.body.pack as Pack;
    const before = await env.counts();
    const cases: [string, () => ReturnType<typeof importPack>][] = [
      ['a request scope other than the pack’s', () => importPack({ scope: 'elsewhere', pack, manifest_sha256: exported.body.manifest.sha256 })],
      ['a pack naming another tenant', () => importPack({ pack: { ...pack, tenant_id: OTHER_TENANT } })],
      ["the other tenant importing this tenant's pack", () => importPack({ pack, manifest_sha256: exported.body.manifest.sha256 }, 'other')],
      ['verify_only, another scope', () => importPack({ scope: 'elsewhere', pack, verify_only: true })],
    ];
    for (const [name, send] of cases) {
      const res = await send();
      expect({ name, status: res.status, error: res.body?.error }).toEqual({ name, status: 400, error: 'pack_scope_mismatch' });
      expectContractError(res, 400, 'pack_scope_mismatch');
    }
    // Naming the pack's own tenant and scope is fine.
    expect((await importPack({ tenant_id: TENANT, scope: ' pk-meta ', pack, verify_only: true })).status).toBe(200);
    expectContractError(await importPack({ tenant_id: OTHER_TENANT, pack }), 403, 'identity_mismatch');
    expect(await env.counts()).toEqual(before);
  });

  it('refuses an edge naming a node the pack does not hold with 400 pack_edge_reference_missing {edge_id, src_id, dst_id}, also with verify_only', async () => {
    const a = randomUUID();
    const ghost = randomUUID();
    const edgeId = randomUUID();
    const before = await env.counts();
    for (const edge of [
      { id: edgeId, type: 'related_to', src_id: a, dst_id: ghost },
      { id: edgeId, type: 'related_to', src_id: a, dst_id: ghost, dst_client_id: 'not-in-pack' },
    ]) {
      const pack = { version: 'aionis_pack_v1', tenant_id: TENANT, scope: 'pk-edges', nodes: [{ id: a, client_id: 'a', type: 'entity', title: 'A' }], edges: [edge], commits: [] };
      for (const verify_only of [false, true]) {
        const res = await importPack({ pack, verify_only });
        expectContractError(res, 400, 'pack_edge_reference_missing');
        expect(res.body.details).toEqual({ edge_id: edgeId, src_id: a, dst_id: ghost });
      }
    }
    expect(await env.counts()).toEqual(before);
  });

  it('refuses a private rule without an owner with invalid_private_rule_owner; a rule without a lane is shared and imports as a draft', async () => {
    const before = await env.counts();
    const privateRule = { version: 'aionis_pack_v1', tenant_id: TENANT, scope: 'pk-rules', nodes: [{ id: randomUUID(), client_id: 'r', type: 'rule', memory_lane: 'private', slots: { if: { intent: 'x' } } }] };
    for (const verify_only of [false, true]) {
      const res = await importPack({ pack: privateRule, verify_only });
      expectContractError(res, 400, 'invalid_private_rule_owner');
      expect(res.body.details).toMatchObject({ client_id: 'r', memory_lane: 'private', type: 'rule' });
    }
    expect(await env.counts()).toEqual(before);
    const shared = await importPack({ pack: { ...privateRule, nodes: [{ id: randomUUID(), client_id: 'r', type: 'rule', slots: { if: { intent: 'x' }, then: { tool: { deny: ['rm'] } } } }] } });
    expect(shared.status).toBe(200);
    const defs = await sql<{ state: string }>`SELECT state FROM memory_rule_defs WHERE tenant_id = ${TENANT} AND scope = 'pk-rules' AND rule_node_id = ${nodeIdOf('pk-rules', 'r')}::uuid`.execute(env.t.tdb.database.db);
    expect(defs.rows).toEqual([{ state: 'draft' }]);
  });

  it("exports every lane for a tenant-wide key, but only what an agent- or team-bound key may read (a listed hosted difference)", async () => {
    const scope = 'pk-lanes';
    const hub = (await write({ scope, input_text: 'hub', memory_lane: 'shared', nodes: [{ client_id: 'hub', type: 'entity', title: 'Hub' }] })).body.nodes[0].id as string;
    await write({ scope, input_text: 'nobody', nodes: [{ client_id: 'nobody', type: 'entity', title: 'private, no owner' }] });
    await write({ scope, input_text: 'a', nodes: [{ client_id: 'a-private', type: 'entity', title: 'A' }], edges: [{ type: 'related_to', src: { client_id: 'a-private' }, dst: { id: hub } }] }, 'agentA');
    await write({ scope, input_text: 'b', nodes: [{ client_id: 'b-private', type: 'entity', title: 'B' }], edges: [{ type: 'related_to', src: { client_id: 'b-private' }, dst: { id: hub } }] }, 'agentB');
    await write({ scope, input_text: 't', nodes: [{ client_id: 't-private', type: 'entity', title: 'T' }] }, 'teamX');
    const seen = async (key: KeyName) => {
      const res = await exportPack({ scope }, key);
      expect(res.status).toBe(200);
      const p = res.body.pack as Pack;
      expect(res.body.manifest).toMatchObject({ sha256: sha(p), counts: { nodes: p.nodes.length, edges: p.edges.length } });
      return { nodes: p.nodes.map((n) => n.client_id).sort(), edges: p.edges.map((e) => e.src_client_id).sort() };
    };
    expect(await seen('plain')).toEqual({ nodes: ['a-private', 'b-private', 'hub', 'nobody', 't-private'], edges: ['a-private', 'b-private'] });
    expect(await seen('agentA')).toEqual({ nodes: ['a-private', 'hub'], edges: ['a-private'] });
    expect(await seen('agentB')).toEqual({ nodes: ['b-private', 'hub'], edges: ['b-private'] });
    expect(await seen('teamX')).toEqual({ nodes: ['hub', 't-private'], edges: [] });
    // The plain key's export holds the private rows as stored.
    const all = (await exportPack({ scope })).body.pack as Pack;
    expect(all.nodes.find((n) => n.client_id === 'a-private')).toMatchObject({ memory_lane: 'private', producer_agent_id: 'agent-a', owner_agent_id: 'agent-a' });
    expect(all.nodes.find((n) => n.client_id === 'nobody')).toMatchObject({ memory_lane: 'private', owner_agent_id: null, owner_team_id: null });
  });

  it("keeps tenants and projects apart: the other tenant's and the project's exports hold none of plain's rows", async () => {
    for (const key of ['other', 'project'] as const) {
      const res = await exportPack({ scope: 'pk-meta' }, key);
      expect(res.status).toBe(200);
      expect(res.body.pack).toMatchObject({ scope: 'pk-meta', nodes: [], edges: [], commits: [] });
      expect(res.body.manifest.counts).toEqual({ nodes: 0, edges: 0, commits: 0 });
    }
    expect((await exportPack({ scope: 'pk-meta' }, 'other')).body).toMatchObject({ tenant_id: OTHER_TENANT, pack: { tenant_id: OTHER_TENANT } });
  });

  it("ignores the importer's injected identity (the rows decide owners), but refuses a contradicting one with 403", async () => {
    const pack = { version: 'aionis_pack_v1', tenant_id: TENANT, scope: 'pk-agent', nodes: [{ id: randomUUID(), client_id: 'n', type: 'entity', title: 'N' }] };
    const res = await importPack({ pack }, 'agentA');
    expect(res.status).toBe(200);
    const found = await find({ scope: 'pk-agent', client_id: 'n', include_meta: true }, 'agentB');
    expect(found.body.nodes).toEqual([expect.objectContaining({ memory_lane: 'shared', producer_agent_id: null, owner_agent_id: null, owner_team_id: null })]);
    const before = await env.counts();
    const bad = await importPack({ pack, owner_agent_id: 'agent-b' }, 'agentA');
    expectContractError(bad, 403, 'identity_mismatch');
    expect(await env.counts()).toEqual(before);
  });

  it('needs memory:read to export and memory:write to import: 401 and 403 in the contract shape', async () => {
    const pack = { version: 'aionis_pack_v1', tenant_id: TENANT, scope: 'pk-auth' };
    expectContractError(await env.api.post('/v1/memory/packs/export').set('Content-Type', 'application/json').send({}), 401, 'unauthorized');
    expectContractError(await env.api.post('/v1/memory/packs/import').set('Content-Type', 'application/json').send({ pack }), 401, 'unauthorized');
    expectContractError(await exportPack({ scope: 'pk-meta' }, 'writeOnly'), 403, 'forbidden');
    expectContractError(await importPack({ pack }, 'readOnly'), 403, 'forbidden');
    expect((await exportPack({ scope: 'pk-meta' }, 'readOnly')).body.manifest.counts.nodes).toBe(2);
    expect((await importPack({ pack, verify_only: true }, 'writeOnly')).status).toBe(200);
  });

  it('refuses each client mistake with a 4xx in the contract shape, never a 5xx, and writes nothing', async () => {
    const before = await env.counts();
    const node = { id: randomUUID(), client_id: 'x', type: 'entity', title: 'x' };
    const pack = (over: Record<string, unknown> = {}) => ({ version: 'aionis_pack_v1', tenant_id: TENANT, scope: 'pk-bad', nodes: [node], edges: [], commits: [], ...over });
    const rawImport = (s: string) => env.api.post('/v1/memory/packs/import').set(env.as('plain')).send(s);
    const rawExport = (s: string) => env.api.post('/v1/memory/packs/export').set(env.as('plain')).send(s);
    const packJson = (nodeJson: string) => `{"pack":{"version":"aionis_pack_v1","tenant_id":"${TENANT}","scope":"pk-bad","nodes":[${nodeJson}]}}`;
    const cases: [string, () => ReturnType<typeof importPack>, number, string][] = [
      ['import without a pack', () => importPack({ scope: 'pk-bad' }), 400, 'invalid_request'],
      ['import without a body', () => env.api.post('/v1/memory/packs/import').set(env.as('plain')), 400, 'invalid_request'],
      ['a null pack', () => importPack({ pack: null }), 400, 'invalid_request'],
      ['a pack of another version', () => importPack({ pack: pack({ version: 'aionis_pack_v2' }) }), 400, 'invalid_request'],
      ['a pack without a scope', () => importPack({ pack: { version: 'aionis_pack_v1', tenant_id: TENANT } }), 400, 'invalid_request'],
      ['nodes that are not an array', () => importPack({ pack: pack({ nodes: 'x' }) }), 400, 'invalid_request'],
      ['a node id that is not a uuid', () => importPack({ pack: pack({ nodes: [{ ...node, id: 'n-1' }] }) }), 400, 'invalid_request'],
      ['a node without an id', () => importPack({ pack: pack({ nodes: [{ type: 'entity' }] }) }), 400, 'invalid_request'],
      ['an unknown node type', () => importPack({ pack: pack({ nodes: [{ ...node, type: 'memory' }] }) }), 400, 'invalid_request'],
      ['an unknown edge type', () => importPack({ pack: pack({ edges: [{ id: randomUUID(), type: 'likes', src_id: node.id, dst_id: node.id }] }) }), 400, 'invalid_request'],
      ['an unknown tier', () => importPack({ pack: pack({ nodes: [{ ...node, tier: 'frozen' }] }) }), 400, 'invalid_request'],
      ['salience out of range', () => importPack({ pack: pack({ nodes: [{ ...node, salience: 1.5 }] }) }), 400, 'invalid_request'],
      ['an infinite salience', () => rawImport(packJson(`{"id":"${node.id}","type":"entity","salience":1e999}`)), 400, 'invalid_request'],
      ['an infinite edge weight', () => rawImport(`{"pack":{"version":"aionis_pack_v1","tenant_id":"${TENANT}","scope":"pk-bad","nodes":[{"id":"${node.id}","type":"entity"}],"edges":[{"id":"${randomUUID()}","type":"part_of","src_id":"${node.id}","dst_id":"${node.id}","weight":-1e999}]}}`), 400, 'invalid_request'],
      ['a manifest_sha256 that is not hex64', () => importPack({ pack: pack(), manifest_sha256: 'ABC' }), 400, 'invalid_request'],
      ['a string as verify_only', () => importPack({ pack: pack(), verify_only: 'yes' }), 400, 'invalid_request'],
      ['a string as auto_embed', () => importPack({ pack: pack(), auto_embed: 'true' }), 400, 'invalid_request'],
      ['a pack whose scope is blank', () => importPack({ pack: pack({ scope: '   ' }) }), 400, 'invalid_scope'],
      ['a blank request scope (not the pack’s)', () => importPack({ scope: '  ', pack: pack() }), 400, 'pack_scope_mismatch'],
      ['JSON nested 200 levels deep in a pack', () => importPack({ pack: pack({ nodes: [{ ...node, slots: deepObject(200) }] }) }), 400, 'invalid_request'],
      ['a NUL character in a pack', () => rawImport(packJson(`{"id":"${node.id}","type":"entity","title":"a\\u0000b"}`)), 400, 'invalid_request'],
      ['malformed JSON', () => rawImport('{"pack":{'), 400, 'invalid_request'],
      ['a 6 MiB import', () => importPack({ pack: pack({ nodes: [{ ...node, text_summary: 'x'.repeat(6 * 1024 * 1024) }] }) }), 413, 'payload_too_large'],
      ['a string as include_meta', () => exportPack({ scope: 'pk-meta', include_meta: 'false' }), 400, 'invalid_request'],
      ['a number as include_nodes', () => exportPack({ scope: 'pk-meta', include_nodes: 1 }), 400, 'invalid_request'],
      ['an infinite max_rows', () => rawExport('{"scope":"pk-meta","max_rows":1e999}'), 400, 'invalid_request'],
      ['an export body that is an array', () => env.api.post('/v1/memory/packs/export').set(env.as('plain')).send([]), 400, 'invalid_request'],
      ['a NUL character in an export', () => rawExport('{"scope":"a\\u0000b"}'), 400, 'invalid_request'],
      ['an export nested 200 levels deep', () => exportPack({ scope: 'pk-meta', x: deepObject(200) }), 400, 'invalid_request'],
      ['a 6 MiB export body', () => exportPack({ scope: 'pk-meta', padding: 'x'.repeat(6 * 1024 * 1024) }), 413, 'payload_too_large'],
    ];
    await expectEachRefused(cases);
    expect(await env.counts()).toEqual(before);
  });

  it('refuses a non-finite number inside pack slots (raw JSON 1e999) with 400, not a 5xx', async () => {
    const before = await env.counts();
    const send = (verify_only: boolean) =>
      env.api
        .post('/v1/memory/packs/import')
        .set(env.as('plain'))
        .send(`{"verify_only":${verify_only},"pack":{"version":"aionis_pack_v1","tenant_id":"${TENANT}","scope":"pk-inf","nodes":[{"id":"${randomUUID()}","client_id":"n","type":"entity","slots":{"x":1e999}}]}}`);
    const [imported, verified] = [await send(false), await send(true)];
    expect({ import: imported.status, verify_only: verified.status }).toEqual({ import: 400, verify_only: 400 });
    expectContractError(imported, 400, 'invalid_request');
    expectContractError(verified, 400, 'invalid_request');
    expect(await env.counts()).toEqual(before);
  });
});
