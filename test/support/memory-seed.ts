import { sql } from 'kysely';
import request from 'supertest';
import type { TestService } from './service';

const json = { 'Content-Type': 'application/json' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A client-chosen node id in upper case: the checks must compare ids case-insensitively, as PostgreSQL's uuid does. */
export const UPPER_ID = 'ABCDEF01-2345-4678-89AB-CDEF01234567';

export interface SeededTenant {
  readonly tenantId: string;
  /** The tenant's project: most memory lives there. */
  readonly projectId: string;
  /** Keys that wrote memory: bound to the project, and tenant-wide. */
  readonly projectKey: string;
  readonly wideKey: string;
  /** A key of the tenant's project that never wrote anything (for corruptions of the key read model alone). */
  readonly spareKeyId: string;
}

/**
 * A clean memory system for the consistency checks, made through the real API only, on every
 * path that writes memory: writes (nodes, edges, an edge written again by a later commit, a
 * client embedding, an upper-case client id, a shared and a private rule, an archived node),
 * sessions and events, archive rehydration, node activation, the policy routes (a rule promoted,
 * rule feedback, a tool selection and its feedback), and a pack import (the scope `s`
 * exported and imported as scope `packed`, a node of it then activated). Per tenant: scopes `s`, `other` and `packed` of its
 * project and scope `s` of its tenant-wide namespace. Then waits until the outbox worker has
 * embedded everything it was asked to.
 */
export async function seedMemory(t: TestService, tenants: readonly string[], dim: number): Promise<SeededTenant[]> {
  const api = request(t.url);
  const out: SeededTenant[] = [];
  for (const id of tenants) {
    const projectId = `${id}-p`;
    await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: id, tier: 'enterprise' }).expect(201);
    await api.post('/v1/admin/control/projects').set(t.auth).set(json).send({ tenant_id: id, project_id: projectId }).expect(201);
    const mk = async (body: Record<string, unknown>) => (await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send(body).expect(201)).body as { api_key: string; key: { key_id: string } };
    const projectKey = (await mk({ tenant_id: id, project_id: projectId })).api_key;
    const wideKey = (await mk({ tenant_id: id })).api_key;
    const spareKeyId = (await mk({ tenant_id: id, project_id: projectId, label: 'spare' })).key.key_id;
    const call = (key: string, path: string, body: Record<string, unknown>) => api.post(`/v1/memory/${path}`).set({ 'x-api-key': key, ...json }).send(body).expect(200);
    const write = (body: Record<string, unknown>) => call(projectKey, 'write', { scope: 's', memory_lane: 'shared', ...body });

    // seq 1 and 2: two nodes and an edge each.
    for (let i = 0; i < 2; i++) {
      await write({ input_text: `${i}`, nodes: [{ client_id: `n${i}`, type: 'event', title: `x${i}` }, { client_id: `m${i}`, type: 'event', title: `y${i}` }], edges: [{ type: 'related_to', src: { client_id: `n${i}` }, dst: { client_id: `m${i}` } }] });
    }
    // seq 3: the n0 -> m0 edge again (a higher weight): it is now the edge of this commit. n0 is unchanged (first write wins).
    await write({ input_text: 'update', nodes: [{ client_id: 'n0', type: 'event', title: 'x0 changed' }, { client_id: 'm0', type: 'event' }], edges: [{ type: 'related_to', src: { client_id: 'n0' }, dst: { client_id: 'm0' }, weight: 0.75 }] });
    // seq 4: a node with a client embedding (ready at once) and an id in upper case, linked by that id.
    await write({
      input_text: 'vector',
      nodes: [{ id: UPPER_ID, type: 'concept', title: 'v', embedding: Array.from({ length: dim }, (_, i) => (i % 7) / 7) }],
      edges: [{ type: 'derived_from', src: { id: UPPER_ID }, dst: { id: (await api.post('/v1/memory/find').set({ 'x-api-key': projectKey, ...json }).send({ scope: 's', client_id: 'n1' })).body.nodes[0].id } }],
    });
    // seq 5: rules, shared and private (with its owner), each with its definition.
    await write({
      input_text: 'rules',
      nodes: [
        { client_id: 'rule-shared', type: 'rule', title: 'prefer tea', text_summary: 'prefer tea', slots: { if: { intent: 'drink' }, then: { tool: { allow: ['kettle'] } } } },
        { client_id: 'rule-private', type: 'rule', title: 'agent r only', memory_lane: 'private', owner_agent_id: 'agent-r', slots: { rule_scope: 'agent', target_agent_id: 'agent-r' } },
      ],
    });
    // seq 6: an archived node (rehydrated below).
    await write({ input_text: 'archive', nodes: [{ client_id: 'arch', type: 'entity', title: 'old', tier: 'archive' }] });
    // seq 7, 8: a session and an event in it.
    await call(projectKey, 'sessions', { scope: 's', session_id: 'sess-1', title: 'a session', memory_lane: 'shared' });
    await call(projectKey, 'events', { scope: 's', session_id: 'sess-1', event_id: 'e1', text_summary: 'something happened', memory_lane: 'shared' });
    // seq 9, 10: rehydration and activation (commits of their own kinds, parented on the head).
    await call(projectKey, 'archive/rehydrate', { scope: 's', client_ids: ['arch'], target_tier: 'warm', input_text: 'bring it back' });
    await call(projectKey, 'nodes/activate', { scope: 's', client_ids: ['n1'], outcome: 'positive', input_text: 'it helped' });
    // seq 11-13: Memory -> Policy: the shared rule promoted, direct feedback on it, a tool choice and its feedback
    // (tools/select records a decision, no commit; tools/feedback links it).
    const rule = (await api.post('/v1/memory/find').set({ 'x-api-key': projectKey, ...json }).send({ scope: 's', client_id: 'rule-shared' })).body.nodes[0].id as string;
    await call(projectKey, 'rules/state', { scope: 's', rule_node_id: rule, state: 'active', input_text: 'promote' });
    await call(projectKey, 'feedback', { scope: 's', rule_node_id: rule, outcome: 'positive', run_id: 'run-0', input_text: 'the rule helped' });
    const tools = { scope: 's', context: { intent: 'drink' }, candidates: ['kettle', 'pot'] };
    await call(projectKey, 'tools/select', { ...tools, run_id: 'run-1' });
    await call(projectKey, 'tools/feedback', { ...tools, selected_tool: 'kettle', outcome: 'positive', run_id: 'run-1', input_text: 'the tool worked' });
    // Scope `packed`: scope `s` exported and imported there (a pack names its scope; no manifest hash, so it may).
    const exported = (await call(projectKey, 'packs/export', { scope: 's' })).body as { pack: Record<string, unknown> };
    await call(projectKey, 'packs/import', { pack: { ...exported.pack, scope: 'packed' } });
    await call(projectKey, 'nodes/activate', { scope: 'packed', client_ids: ['n0'], outcome: 'negative', input_text: 'it did not help' });
    // Another scope of the project, and the tenant-wide namespace.
    await call(projectKey, 'write', { scope: 'other', input_text: 'o', memory_lane: 'shared', nodes: [{ client_id: 'o', type: 'topic', title: 'other scope' }] });
    await call(wideKey, 'write', { scope: 's', input_text: 'wide', memory_lane: 'shared', nodes: [{ client_id: 'w', type: 'event', title: 'tenant-wide' }] });
    out.push({ tenantId: id, projectId, projectKey, wideKey, spareKeyId });
  }
  // The outbox worker embeds what was queued; the clean system is the one where it has finished.
  const until = Date.now() + 30_000;
  for (;;) {
    const r = await sql<{ n: number }>`
      SELECT (SELECT count(*) FROM memory_nodes WHERE embedding_status = 'pending') + (SELECT count(*) FROM memory_outbox WHERE status <> 'done') AS n`.execute(t.tdb.database.db);
    if (Number(r.rows[0]?.n) === 0) break;
    if (Date.now() > until) throw new Error('timed out waiting for the outbox worker');
    await sleep(100);
  }
  return out;
}
