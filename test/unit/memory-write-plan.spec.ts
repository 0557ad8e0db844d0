import { AppError } from '../../src/platform/errors/app-error';
import { chainHash, verifyChain, type StoredCommit, writeCommitHash } from '../../src/data-plane/memory/domain/commit';
import { scopeKey, stableUuid } from '../../src/data-plane/memory/domain/ids';
import { isVisible } from '../../src/data-plane/memory/domain/lanes';
import { normaliseText, redact, type RedactionCounts } from '../../src/data-plane/memory/domain/text';
import { formatUri, isUriProblem, parseUri } from '../../src/data-plane/memory/domain/uri';
import { backfillOf, planWrite, prepareWrite, type WriteInput, type WriteSettings, type WriteSnapshot } from '../../src/data-plane/memory/domain/write-plan';

const settings = (over: Partial<WriteSettings> = {}): WriteSettings => ({
  ns: { tenantId: 'default', projectKey: '', scope: 'travel-desk' },
  text: { maxLen: 8000, redaction: true },
  embeddingsEnabled: true,
  defaultActor: 'system',
  ...over,
});
const empty: WriteSnapshot = { nodes: new Map(), parent: null };
const errorOf = (f: () => unknown): AppError => {
  try {
    f();
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error('expected an AppError');
};

/** The contract's §2.2 example write, verbatim. */
const mariaWrite: WriteInput = {
  input_text: 'Maria said she is vegetarian and likes window seats.',
  memory_lane: 'shared',
  nodes: [
    { client_id: 'user:maria', type: 'entity', title: 'Maria', text_summary: 'Frequent flyer, Lisbon office' },
    { client_id: 'evt:diet-2026-02-20', type: 'event', text_summary: 'Maria is vegetarian and prefers window seats' },
  ],
  edges: [{ type: 'related_to', src: { client_id: 'evt:diet-2026-02-20' }, dst: { client_id: 'user:maria' }, weight: 0.9, confidence: 0.85 }],
};

describe('identifiers (contract §1.5, §1.9)', () => {
  it('given the default tenant, scope travel-desk and client id user:maria, then the id is the test vector', () => {
    expect(stableUuid('travel-desk:node:user:maria')).toBe('46b4c798-6f5d-5574-9514-85a8d784fdd8');
  });
  it('given another tenant or a project key, then the scope key names them (ids differ per tenant and project)', () => {
    expect(scopeKey({ tenantId: 'default', projectKey: '', scope: 's' })).toBe('s');
    expect(scopeKey({ tenantId: 'acme', projectKey: '', scope: 's' })).toBe('tenant:acme::scope:s');
    expect(scopeKey({ tenantId: 'acme', projectKey: 'bot', scope: 's' })).toBe('tenant:acme::project:bot::scope:s');
  });
  it('given a URI, when it is formatted and parsed, then the segments round-trip; malformed ones name the problem', () => {
    const uri = formatUri('acme', 'user:42', 'entity', '46b4c798-6f5d-5574-9514-85a8d784fdd8');
    expect(uri).toBe('aionis://acme/user%3A42/entity/46b4c798-6f5d-5574-9514-85a8d784fdd8');
    expect(parseUri(uri)).toEqual({ tenant_id: 'acme', scope: 'user:42', type: 'entity', id: '46b4c798-6f5d-5574-9514-85a8d784fdd8' });
    for (const bad of ['http://x', 'aionis://a/b/c', 'aionis://a/b/fact/46b4c798-6f5d-5574-9514-85a8d784fdd8', 'aionis://a/b/entity/not-a-uuid', 'aionis://a//entity/46b4c798-6f5d-5574-9514-85a8d784fdd8', 'aionis://a/%E0%A4%A/entity/x']) {
      expect(isUriProblem(parseUri(bad))).toBe(true);
    }
  });
});

describe('text handling (contract §1.7)', () => {
  it('given whitespace runs and newlines, when normalised, then they collapse to one space and the ends are trimmed', () => {
    expect(normaliseText('  a \n\t b  ')).toBe('a b');
  });
  it('given text longer than the limit, when normalised, then it is cut to limit-1 characters plus an ellipsis', () => {
    const out = normaliseText('x'.repeat(20), 10);
    expect(out).toBe(`${'x'.repeat(9)}\u2026`);
  });
  it('given an e-mail, an SSN, an IP and a phone number, when redacted, then each becomes a hashed token and is counted', () => {
    const counts: RedactionCounts = {};
    const out = redact('mail bob@example.com ssn 123-45-6789 ip 10.0.0.1 call (555) 123-4567', counts);
    expect(out).toMatch(/^mail \[EMAIL#[0-9a-f]{8}\] ssn \[SSN#[0-9a-f]{8}\] ip \[IP#[0-9a-f]{8}\] call \[PHONE#[0-9a-f]{8}\]$/);
    expect(counts).toEqual({ email: 1, ssn: 1, ip: 1, phone: 1 });
  });
});

describe('lane visibility (contract §3.2)', () => {
  const node = (memory_lane: 'private' | 'shared', owner_agent_id: string | null, owner_team_id: string | null) => ({ memory_lane, owner_agent_id, owner_team_id });
  it('given a shared node, then every reader sees it', () => {
    expect(isVisible(node('shared', null, null), { agentId: null, teamId: null })).toBe(true);
  });
  it('given a private node, then only its owner agent or owner team sees it', () => {
    expect(isVisible(node('private', 'a1', null), { agentId: 'a1', teamId: null })).toBe(true);
    expect(isVisible(node('private', 'a1', null), { agentId: 'a2', teamId: null })).toBe(false);
    expect(isVisible(node('private', null, 't1'), { agentId: 'a2', teamId: 't1' })).toBe(true);
  });
  it('given a private node without owner, then no reader sees it (two nulls never match)', () => {
    expect(isVisible(node('private', null, null), { agentId: null, teamId: null })).toBe(false);
  });
});

describe('prepareWrite + planWrite (contract §2.2)', () => {
  it('given the contract example write, then ids, edge id and commit hash are the example values', () => {
    const prepared = prepareWrite(mariaWrite, settings());
    const plan = planWrite(prepared, empty);
    expect(prepared.response.nodes).toEqual([
      { id: '46b4c798-6f5d-5574-9514-85a8d784fdd8', client_id: 'user:maria', type: 'entity' },
      { id: '7919ed2e-9ac2-5804-8b13-1b720871bed6', client_id: 'evt:diet-2026-02-20', type: 'event' },
    ]);
    expect(prepared.response.edges).toEqual([
      { id: 'e0f1cfb9-a35b-5f61-9e28-b53e29f62f8a', type: 'related_to', src_id: '7919ed2e-9ac2-5804-8b13-1b720871bed6', dst_id: '46b4c798-6f5d-5574-9514-85a8d784fdd8' },
    ]);
    expect(plan.commit.commit_hash).toBe('c6997d530e1063a111f3b95c2734c427a15611a95bd569fb8254d81025ba8a71');
    expect(backfillOf(plan)).toEqual({ enqueued: true, pending_nodes: 2 });
    expect(plan.insertNodes.map((n) => n.embedding_status)).toEqual(['pending', 'pending']);
  });

  it('given the same write twice, then the plan is identical (same commit hash: an exact replay finds its commit)', () => {
    expect(planWrite(prepareWrite(mariaWrite, settings()), empty).commit.commit_hash).toBe(planWrite(prepareWrite(mariaWrite, settings()), empty).commit.commit_hash);
  });

  it('given nodes already stored, then nothing is inserted and ready nodes are not queued again unless force_reembed', () => {
    const prepared = prepareWrite(mariaWrite, settings());
    const stored: WriteSnapshot = {
      parent: null,
      nodes: new Map([
        ['46b4c798-6f5d-5574-9514-85a8d784fdd8', { scope: 'travel-desk', embedding_status: 'ready' as const }],
        ['7919ed2e-9ac2-5804-8b13-1b720871bed6', { scope: 'travel-desk', embedding_status: 'failed' as const }],
      ]),
    };
    const plan = planWrite(prepared, stored);
    expect(plan.insertNodes).toHaveLength(0);
    expect(plan.embed.map((e) => e.id)).toEqual(['7919ed2e-9ac2-5804-8b13-1b720871bed6']);
    expect(plan.markPending.map((e) => e.id)).toEqual(['7919ed2e-9ac2-5804-8b13-1b720871bed6']);
    const forced = planWrite(prepareWrite({ ...mariaWrite, force_reembed: true }, settings()), stored);
    expect(forced.embed).toHaveLength(2);
  });

  it('given no owner anywhere, then nodes default to the private lane owned by their producer', () => {
    const p = prepareWrite({ input_text: 'x', producer_agent_id: 'agent-1', nodes: [{ type: 'entity', title: 'A' }] }, settings());
    expect(p.nodes[0]).toMatchObject({ memory_lane: 'private', producer_agent_id: 'agent-1', owner_agent_id: 'agent-1', owner_team_id: null });
  });

  it('given a client embedding, then the node is ready with model "client"; given auto_embed false, then failed', () => {
    const plan = planWrite(
      prepareWrite({ input_text: 'x', auto_embed: false, nodes: [{ client_id: 'a', type: 'entity', title: 'A', embedding: [1, 0] }, { client_id: 'b', type: 'entity', title: 'B' }] }, settings()),
      empty,
    );
    expect(plan.insertNodes.map((n) => [n.embedding_status, n.embedding_model])).toEqual([
      ['ready', 'client'],
      ['failed', null],
    ]);
    expect(plan.embed).toEqual([]);
  });

  it('given PII in titles, summaries and slots, then the stored text is redacted and the diff counts it', () => {
    const p = prepareWrite({ input_text: 'mail me at bob@example.com', nodes: [{ type: 'entity', title: 'bob@example.com', slots: { phone: '555-123-4567', nested: ['10.1.2.3'] } }] }, settings());
    expect(p.nodes[0]!.title).toMatch(/^\[EMAIL#/);
    expect(p.nodes[0]!.slots).toEqual({ phone: expect.stringMatching(/^\[PHONE#/), nested: [expect.stringMatching(/^\[IP#/)] });
    expect(p.diff.redaction).toEqual({ email: 2, phone: 1, ip: 1 });
  });

  it('given a session node, then its system slot keys are never redacted (the contract fix for mangled ids)', () => {
    const p = prepareWrite({ input_text: 'x', nodes: [{ type: 'event', title: 'e', slots: { system_kind: 'session_event', event_id: '123-45-6789', note: '123-45-6789' } }] }, settings());
    expect(p.nodes[0]!.slots).toEqual({ system_kind: 'session_event', event_id: '123-45-6789', note: expect.stringMatching(/^\[SSN#/) });
  });

  it('given an edge to a client id not in the request, then edge_endpoint_not_found (400), never a server error', () => {
    const e = errorOf(() => prepareWrite({ input_text: 'x', nodes: [], edges: [{ type: 'part_of', src: { client_id: 'a' }, dst: { client_id: 'b' } }] }, settings()));
    expect(e.code).toBe('edge_endpoint_not_found');
  });

  it('given an edge from a node to itself, then edge_self_loop', () => {
    const e = errorOf(() => prepareWrite({ input_text: 'x', nodes: [{ client_id: 'a', type: 'entity' }], edges: [{ type: 'part_of', src: { client_id: 'a' }, dst: { client_id: 'a' } }] }, settings()));
    expect(e.code).toBe('edge_self_loop');
  });

  it('given an edge between nodes of two scopes, then cross_scope_edge', () => {
    const e = errorOf(() =>
      prepareWrite({ input_text: 'x', nodes: [{ client_id: 'a', type: 'entity' }, { client_id: 'b', type: 'entity', scope: 'other' }], edges: [{ type: 'part_of', src: { client_id: 'a' }, dst: { client_id: 'b' } }] }, settings()),
    );
    expect(e.code).toBe('cross_scope_edge');
  });

  it('given an edge to an id that is nowhere, or in another scope, then the plan refuses it', () => {
    const id = '11111111-1111-4111-8111-111111111111';
    const p = prepareWrite({ input_text: 'x', nodes: [{ client_id: 'a', type: 'entity' }], edges: [{ type: 'part_of', src: { client_id: 'a' }, dst: { id } }] }, settings());
    expect(errorOf(() => planWrite(p, empty)).code).toBe('edge_endpoint_not_found');
    expect(errorOf(() => planWrite(p, { parent: null, nodes: new Map([[id, { scope: 'other', embedding_status: 'ready' as const }]]) })).code).toBe('cross_scope_edge');
    expect(planWrite(p, { parent: null, nodes: new Map([[id, { scope: 'travel-desk', embedding_status: 'ready' as const }]]) }).upsertEdges).toHaveLength(1);
  });

  it('given an explicit node id stored under another scope, then node_id_conflict', () => {
    const id = '22222222-2222-4222-8222-222222222222';
    const p = prepareWrite({ input_text: 'x', nodes: [{ id, type: 'entity' }] }, settings());
    expect(errorOf(() => planWrite(p, { parent: null, nodes: new Map([[id, { scope: 'other', embedding_status: 'ready' as const }]]) })).code).toBe('node_id_conflict');
  });

  it('given an unknown parent commit, then parent_commit_not_found; a known one is hashed in', () => {
    const p = prepareWrite({ ...mariaWrite, parent_commit_id: '33333333-3333-4333-8333-333333333333' }, settings());
    expect(errorOf(() => planWrite(p, empty)).code).toBe('parent_commit_not_found');
    const withParent = planWrite(p, { nodes: new Map(), parent: { commit_id: '33333333-3333-4333-8333-333333333333', commit_hash: 'ab'.repeat(32) } });
    expect(withParent.commit.parent_hash).toBe('ab'.repeat(32));
    expect(withParent.commit.commit_hash).not.toBe('c6997d530e1063a111f3b95c2734c427a15611a95bd569fb8254d81025ba8a71');
  });

  it('given whitespace-only input_text or client_id, or neither input, then invalid_request issues with their paths', () => {
    const e = errorOf(() => prepareWrite({ input_text: '   ', nodes: [{ client_id: '  ', type: 'entity' }] }, settings()));
    expect(e.code).toBe('validation_failed');
    expect(e.details.errors?.map((x) => x.field)).toEqual(['body.input_text', 'body.nodes.0.client_id']);
    expect(errorOf(() => prepareWrite({ nodes: [] }, settings())).details.errors).toEqual([{ field: 'body', message: 'one of input_text / input_sha256 is required' }]);
  });

  it('given a private rule without owner, then invalid_private_rule_owner with the node named', () => {
    const e = errorOf(() => prepareWrite({ input_text: 'x', nodes: [{ client_id: 'r', type: 'rule', slots: { if: {}, then: {} } }] }, settings()));
    expect(e.code).toBe('invalid_private_rule_owner');
    expect(e.details).toMatchObject({ client_id: 'r', memory_lane: 'private', type: 'rule' });
  });

  it('given a shared rule node, then a draft definition is planned from its slots (scope case-insensitive, unknown scope = global)', () => {
    const plan = planWrite(
      prepareWrite({ input_text: 'x', memory_lane: 'shared', nodes: [{ client_id: 'r1', type: 'rule', slots: { if: { intent: 'x' }, rule_scope: 'AGENT', target_agent_id: 'a1' } }, { client_id: 'r2', type: 'rule', slots: { rule_scope: 'planet' } }] }, settings()),
      empty,
    );
    expect(plan.ruleDefs.map((r) => r.seed)).toEqual([
      { if_json: { intent: 'x' }, then_json: {}, exceptions_json: [], rule_scope: 'agent', target_agent_id: 'a1', target_team_id: null },
      { if_json: {}, then_json: {}, exceptions_json: [], rule_scope: 'global', target_agent_id: null, target_team_id: null },
    ]);
  });

  it('given an agent-scoped rule without its target, then invalid_rule_scope_target (the open core answered 500)', () => {
    expect(errorOf(() => prepareWrite({ input_text: 'x', memory_lane: 'shared', nodes: [{ type: 'rule', slots: { rule_scope: 'agent' } }] }, settings())).code).toBe('invalid_rule_scope_target');
  });

  it('given the same edge twice in one write, then one row with the larger weight and confidence', () => {
    const plan = planWrite(
      prepareWrite(
        {
          input_text: 'x',
          nodes: [{ client_id: 'a', type: 'entity' }, { client_id: 'b', type: 'entity' }],
          edges: [
            { type: 'part_of', src: { client_id: 'a' }, dst: { client_id: 'b' }, weight: 0.2, confidence: 0.9 },
            { type: 'part_of', src: { client_id: 'a' }, dst: { client_id: 'b' }, weight: 0.7, confidence: 0.1 },
          ],
        },
        settings(),
      ),
      empty,
    );
    expect(plan.upsertEdges).toHaveLength(1);
    expect(plan.upsertEdges[0]).toMatchObject({ weight: 0.7, confidence: 0.9 });
  });

  it('given no embedding provider, then nothing is queued and new nodes are failed', () => {
    const plan = planWrite(prepareWrite(mariaWrite, settings({ embeddingsEnabled: false })), empty);
    expect(plan.embed).toEqual([]);
    expect(plan.insertNodes.every((n) => n.embedding_status === 'failed')).toBe(true);
  });
});

describe('the per-scope chain', () => {
  const ns = { tenantId: 't1', projectKey: '', scope: 's', scopeKey: 'tenant:t1::scope:s' };
  const commit = (seq: number, prev: string | null, over: Partial<StoredCommit> = {}): StoredCommit => {
    const diff = { redaction: {}, nodes: [], edges: [] };
    const { commitHash, diffSha } = writeCommitHash({ parentHash: '', inputSha: `${seq}`.padStart(64, '0'), diff, scopeKey: ns.scopeKey, actor: 'system', modelVersion: null, promptVersion: null });
    const base = {
      commit_id: `00000000-0000-4000-8000-00000000000${seq}`,
      seq,
      format: 2,
      kind: 'write' as const,
      parent_id: null,
      parent_hash: '',
      input_sha256: `${seq}`.padStart(64, '0'),
      diff,
      diff_sha256: diffSha,
      actor: 'system',
      model_version: null,
      prompt_version: null,
      commit_hash: commitHash,
      key_id: 'key1',
      chain_prev_hash: prev,
      created_at: '2026-12-01T00:00:00.000Z',
    };
    return { ...base, chain_hash: chainHash({ prevChainHash: prev, seq, commitId: base.commit_id, commitHash, keyId: 'key1', createdAt: base.created_at }), ...over };
  };
  it('given an intact chain, then verification finds nothing; given an edited key id or a removed commit, then it says where', () => {
    const c1 = commit(1, null);
    const c2 = commit(2, c1.chain_hash);
    const c3 = commit(3, c2.chain_hash);
    expect(verifyChain(ns, [c1, c2, c3], () => null)).toEqual([]);
    expect(verifyChain(ns, [c1, { ...c2, key_id: 'other' }, c3], () => null).map((p) => p.problem)).toEqual(['chain_hash_mismatch']);
    expect(verifyChain(ns, [c1, c3], () => null).map((p) => p.problem)).toEqual(['seq_gap', 'chain_link_mismatch']);
    expect(verifyChain(ns, [c1, { ...c2, diff: { redaction: {}, nodes: [{ id: 'x' }], edges: [] } }, c3], () => null).map((p) => p.problem)).toEqual(['diff_hash_mismatch', 'commit_hash_mismatch']);
  });
  it("given a commit whose stored parent_hash is not its parent's commit hash, then parent_hash_mismatch (the hashes themselves are computed from the parent row)", () => {
    const c1 = commit(1, null);
    const parentHash = c1.commit_hash;
    const { commitHash } = writeCommitHash({ parentHash, inputSha: '2'.padStart(64, '0'), diff: c1.diff, scopeKey: ns.scopeKey, actor: 'system', modelVersion: null, promptVersion: null });
    const c2base = commit(2, c1.chain_hash);
    const c2 = commit(2, c1.chain_hash, { parent_id: c1.commit_id, parent_hash: parentHash, commit_hash: commitHash });
    const chained = { ...c2, chain_hash: chainHash({ prevChainHash: c1.chain_hash, seq: 2, commitId: c2base.commit_id, commitHash, keyId: 'key1', createdAt: c2.created_at }) };
    const parentOf = (id: string) => (id === c1.commit_id ? parentHash : null);
    expect(verifyChain(ns, [c1, chained], parentOf)).toEqual([]);
    expect(verifyChain(ns, [c1, { ...chained, parent_hash: '0'.repeat(64) }], parentOf).map((p) => p.problem)).toEqual(['parent_hash_mismatch']);
  });
});

describe('limits of indexed strings', () => {
  it('given a client id over 1800 bytes or a node scope over 512 bytes, then invalid_request at their paths (never an index error)', () => {
    const e = errorOf(() => prepareWrite({ input_text: 'x', nodes: [{ client_id: 'é'.repeat(901), type: 'entity' }, { scope: 's'.repeat(513), type: 'entity' }] }, settings()));
    expect(e.details.errors?.map((x) => x.field)).toEqual(['body.nodes.0.client_id', 'body.nodes.1.scope']);
  });
});
