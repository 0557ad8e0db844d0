import { createHash } from 'node:crypto';
import { canonicalJson, sha256Hex } from '../platform/event-store/canonical-json';

/**
 * The memory kernel's write model, pure: deterministic ids, content hashes, the canonical diff
 * and the commit hash. The tenant, project and scope are part of every id, so the same client id
 * in two tenants (or two scopes) names two different nodes.
 */
export const NODE_TYPES = ['event', 'entity', 'topic', 'rule', 'evidence', 'concept', 'procedure', 'self_model'] as const;
export type NodeType = (typeof NODE_TYPES)[number];
export const MEMORY_TIERS = ['hot', 'warm', 'cold', 'archive'] as const;
export type MemoryTier = (typeof MEMORY_TIERS)[number];
export const EDGE_TYPES = ['part_of', 'related_to', 'derived_from'] as const;
export type EdgeType = (typeof EDGE_TYPES)[number];
export const SCOPE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Where memory lives: tenant, project (or '' for tenant-wide keys) and scope. */
export interface Namespace {
  readonly tenantId: string;
  readonly projectKey: string;
  readonly scope: string;
}

export interface NodeInput {
  readonly id?: string;
  readonly client_id?: string;
  readonly type: NodeType;
  readonly title?: string;
  readonly text_summary?: string;
  readonly slots?: Readonly<Record<string, unknown>>;
  readonly tier?: MemoryTier;
  readonly salience?: number;
  readonly importance?: number;
  readonly confidence?: number;
  readonly embedding?: readonly number[];
}

export type EndpointRef = { readonly id: string } | { readonly client_id: string };

export interface EdgeInput {
  readonly type: EdgeType;
  readonly src: EndpointRef;
  readonly dst: EndpointRef;
  readonly weight?: number;
}

export interface PreparedNode {
  readonly node_id: string;
  readonly client_id: string | null;
  readonly type: NodeType;
  readonly title: string | null;
  readonly text_summary: string | null;
  readonly slots: Readonly<Record<string, unknown>>;
  readonly tier: MemoryTier;
  readonly salience: number;
  readonly importance: number;
  readonly confidence: number;
  readonly embedding: readonly number[] | null;
  readonly content_sha256: string;
}

export interface PreparedEdge {
  readonly edge_id: string;
  readonly type: EdgeType;
  readonly src_id: string;
  readonly dst_id: string;
  readonly weight: number;
}

/** A name-based UUID (version 8 layout, SHA-256): the same name always gives the same id. */
export function stableUuid(name: string): string {
  const h = createHash('sha256').update(name, 'utf8').digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

const ns = (n: Namespace): string => `${n.tenantId}\u0000${n.projectKey}\u0000${n.scope}`;

/** The content that defines a node (what a repeated write compares). */
export function nodeContent(n: NodeInput) {
  return {
    type: n.type,
    title: n.title ?? null,
    text_summary: n.text_summary ?? null,
    slots: n.slots ?? {},
    tier: n.tier ?? 'hot',
    salience: n.salience ?? 0.5,
    importance: n.importance ?? 0.5,
    confidence: n.confidence ?? 0.5,
  };
}

export function prepareNode(namespace: Namespace, n: NodeInput): PreparedNode {
  const content = nodeContent(n);
  const content_sha256 = sha256Hex(canonicalJson(content));
  const node_id = n.id ?? (n.client_id !== undefined ? stableUuid(`${ns(namespace)}\u0000node\u0000${n.client_id}`) : stableUuid(`${ns(namespace)}\u0000node-content\u0000${content_sha256}`));
  return { node_id, client_id: n.client_id ?? null, ...content, embedding: n.embedding ?? null, content_sha256 };
}

export function edgeId(namespace: Namespace, type: EdgeType, src: string, dst: string): string {
  return stableUuid(`${ns(namespace)}\u0000edge\u0000${type}\u0000${src}\u0000${dst}`);
}

export interface CommitInput {
  readonly namespace: Namespace;
  readonly parentHash: string | null;
  readonly inputSha256: string;
  readonly actorKeyId: string;
  readonly diff: CommitDiff;
}

/** What a commit changed: node ids with their content hashes, and edges. Sorted: canonical. */
export interface CommitDiff {
  readonly nodes: readonly { node_id: string; content_sha256: string }[];
  readonly edges: readonly { edge_id: string; type: EdgeType; src_id: string; dst_id: string; weight: number }[];
}

export function canonicalDiff(nodes: readonly PreparedNode[], edges: readonly PreparedEdge[]): CommitDiff {
  return {
    nodes: [...nodes].map((n) => ({ node_id: n.node_id, content_sha256: n.content_sha256 })).sort((a, b) => (a.node_id < b.node_id ? -1 : 1)),
    edges: [...edges].map((e) => ({ edge_id: e.edge_id, type: e.type, src_id: e.src_id, dst_id: e.dst_id, weight: e.weight })).sort((a, b) => (a.edge_id < b.edge_id ? -1 : 1)),
  };
}

/** commit_hash = SHA-256 of the canonical {parent hash, tenant, project, scope, actor, input hash, diff hash}. */
export function commitHash(c: CommitInput): { commitHash: string; diffSha256: string } {
  const diffSha256 = sha256Hex(canonicalJson(c.diff));
  const commitHash = sha256Hex(
    canonicalJson({
      parent_hash: c.parentHash,
      tenant_id: c.namespace.tenantId,
      project_key: c.namespace.projectKey,
      scope: c.namespace.scope,
      actor_key_id: c.actorKeyId,
      input_sha256: c.inputSha256,
      diff_sha256: diffSha256,
    }),
  );
  return { commitHash, diffSha256 };
}

export interface StoredCommit {
  readonly commit_id: string;
  readonly seq: number;
  readonly parent_commit_id: string | null;
  readonly parent_hash: string | null;
  readonly commit_hash: string;
  readonly input_sha256: string;
  readonly diff: CommitDiff;
  readonly diff_sha256: string;
  readonly actor_key_id: string;
}

export interface ChainProblem {
  readonly commit_id: string;
  readonly seq: number;
  readonly problem: 'seq_gap' | 'parent_mismatch' | 'diff_hash_mismatch' | 'commit_hash_mismatch';
}

/** Recompute every hash of a scope's chain (ordered by seq) and report each break. Pure. */
export function verifyCommitChain(namespace: Namespace, commits: readonly StoredCommit[]): ChainProblem[] {
  const problems: ChainProblem[] = [];
  let prev: StoredCommit | null = null;
  for (const c of commits) {
    const at = { commit_id: c.commit_id, seq: c.seq };
    if (c.seq !== (prev ? prev.seq + 1 : 1)) problems.push({ ...at, problem: 'seq_gap' });
    if (c.parent_commit_id !== (prev?.commit_id ?? null) || c.parent_hash !== (prev?.commit_hash ?? null)) problems.push({ ...at, problem: 'parent_mismatch' });
    const recomputed = commitHash({ namespace, parentHash: c.parent_hash, inputSha256: c.input_sha256, actorKeyId: c.actor_key_id, diff: c.diff });
    if (recomputed.diffSha256 !== c.diff_sha256) problems.push({ ...at, problem: 'diff_hash_mismatch' });
    if (recomputed.commitHash !== c.commit_hash) problems.push({ ...at, problem: 'commit_hash_mismatch' });
    prev = c;
  }
  return problems;
}
