import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../platform/config/config';
import type { KeyPrincipal } from '../control-plane/api-keys/key-verifier';
import { AppError } from '../platform/errors/app-error';
import { sha256Hex } from '../platform/event-store/canonical-json';
import {
  canonicalDiff,
  commitHash,
  type EdgeInput,
  edgeId,
  type EndpointRef,
  type Namespace,
  type NodeInput,
  type PreparedEdge,
  type PreparedNode,
  prepareNode,
  verifyCommitChain,
} from './memory.domain';
import { cosine } from './embeddings/embedding-provider';
import { MemoryRepository, type NodeRow } from './memory.repository';
import { QuotaEnforcer } from './quotas/quota-enforcer';
import { VectorSupport } from './vector-support';

export interface WriteRequest {
  readonly scope: string;
  readonly input_text?: string;
  readonly input_sha256?: string;
  readonly nodes: readonly NodeInput[];
  readonly edges: readonly EdgeInput[];
}

export interface WriteResult {
  readonly tenant_id: string;
  readonly project_id: string | null;
  readonly scope: string;
  readonly commit_id: string | null;
  readonly commit_hash: string | null;
  /** True when the write changed nothing (a repeat): no new commit, the head is returned. */
  readonly unchanged: boolean;
  readonly nodes: { id: string; client_id: string | null; type: string }[];
  readonly edges: { id: string; type: string; src_id: string; dst_id: string }[];
  readonly embeddings_queued: number;
}

export function namespaceOf(p: KeyPrincipal, scope: string): Namespace {
  return { tenantId: p.tenant_id, projectKey: p.project_id ?? '', scope };
}

/**
 * Memory writes: one transaction per write, holding the scope's head, so concurrent writers to
 * a scope produce a linear commit chain. Rows, the commit and the outbox jobs commit together;
 * embeddings are derived later and never block the write.
 */
@Injectable()
export class MemoryService {
  constructor(
    private readonly repo: MemoryRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly quotas: QuotaEnforcer,
    private readonly vectors: VectorSupport,
  ) {}

  /** Exact top-k by cosine similarity: in SQL with pgvector, else by scanning the namespace's vectors here. */
  async rank(n: Namespace, query: readonly number[], limit: number, minSimilarity: number, path: 'auto' | 'pgvector' | 'scan' = 'auto'): Promise<{ id: string; similarity: number }[]> {
    const usePg = path === 'pgvector' || (path === 'auto' && this.vectors.enabled);
    if (usePg) return this.repo.nearestByVector(n, query, limit, minSimilarity);
    const candidates = await this.repo.readyVectors(n);
    return candidates
      .map((c) => ({ id: c.node_id, similarity: cosine(query, c.embedding) }))
      .filter((c) => c.similarity >= minSimilarity)
      .sort((a, b) => b.similarity - a.similarity || (a.id < b.id ? -1 : 1))
      .slice(0, limit);
  }

  async write(principal: KeyPrincipal, req: WriteRequest, now: Date = new Date()): Promise<WriteResult> {
    const n = namespaceOf(principal, req.scope);
    const nodes = req.nodes.map((x) => prepareNode(n, x));
    const ids = new Set<string>();
    for (const node of nodes) {
      if (ids.has(node.node_id)) {
        throw new AppError('validation_failed', `two nodes in this write have the id ${node.node_id}`, { errors: [{ field: 'body.nodes', message: 'duplicate node id or client_id' }] });
      }
      ids.add(node.node_id);
    }
    const inputSha256 = req.input_sha256 ?? sha256Hex(req.input_text ?? '');
    const at = now.toISOString();

    return this.repo.database.db.transaction().execute(async (trx) => {
      const head = await this.repo.lockScope(trx, n);
      const existing = await this.repo.existingNodes(trx, n, [...ids]);
      const byClientInWrite = new Map(nodes.filter((x) => x.client_id !== null).map((x) => [x.client_id as string, x.node_id]));
      const wantedClients = req.edges.flatMap((e) => [e.src, e.dst]).flatMap((r) => ('client_id' in r && !byClientInWrite.has(r.client_id) ? [r.client_id] : []));
      const byClientStored = await this.repo.nodeIdsByClientId(trx, n, [...new Set(wantedClients)]);
      const wantedIds = req.edges.flatMap((e) => [e.src, e.dst]).flatMap((r) => ('id' in r && !ids.has(r.id) ? [r.id] : []));
      const storedById = await this.repo.existingNodes(trx, n, [...new Set(wantedIds)]);

      const resolve = (ref: EndpointRef, field: string): string => {
        if ('id' in ref) {
          if (ids.has(ref.id) || storedById.has(ref.id)) return ref.id;
        } else {
          const id = byClientInWrite.get(ref.client_id) ?? byClientStored.get(ref.client_id);
          if (id) return id;
        }
        throw new AppError('edge_endpoint_not_found', `${field} names a node that does not exist in this scope`, { errors: [{ field, message: 'no such node in this scope' }] });
      };
      const edges: PreparedEdge[] = req.edges.map((e, i) => {
        const src_id = resolve(e.src, `body.edges.${i}.src`);
        const dst_id = resolve(e.dst, `body.edges.${i}.dst`);
        return { edge_id: edgeId(n, e.type, src_id, dst_id), type: e.type, src_id, dst_id, weight: e.weight ?? 1 };
      });
      const edgeIds = new Set<string>();
      for (const e of edges) {
        if (edgeIds.has(e.edge_id)) throw new AppError('validation_failed', 'the same edge appears twice in this write', { errors: [{ field: 'body.edges', message: 'duplicate edge' }] });
        edgeIds.add(e.edge_id);
      }
      const storedEdges = await this.repo.existingEdges(trx, n, [...edgeIds]);

      const changedNodes: PreparedNode[] = nodes.filter((x) => {
        const old = existing.get(x.node_id);
        return !old || old.content_sha256 !== x.content_sha256 || x.embedding !== null;
      });
      const changedEdges = edges.filter((e) => storedEdges.get(e.edge_id) !== e.weight);
      const result = {
        tenant_id: principal.tenant_id,
        project_id: principal.project_id,
        scope: req.scope,
        nodes: nodes.map((x) => ({ id: x.node_id, client_id: x.client_id, type: x.type })),
        edges: edges.map((e) => ({ id: e.edge_id, type: e.type, src_id: e.src_id, dst_id: e.dst_id })),
      };
      if (changedNodes.length === 0 && changedEdges.length === 0) {
        return { ...result, commit_id: head.head_commit_id, commit_hash: head.head_hash, unchanged: true, embeddings_queued: 0 };
      }

      const added = changedNodes.filter((x) => !existing.has(x.node_id)).length;
      if (added > 0) {
        // Stored-node limit (whole tenant, every project and scope), checked inside the write's transaction.
        const max = (await this.quotas.quotaOf(principal.tenant_id)).values.max_stored_nodes;
        const stored = await this.repo.countTenantNodes(trx, principal.tenant_id);
        if (stored + added > max) {
          throw new AppError('quota_exceeded', `this write would store ${stored + added} nodes; the tenant's limit is ${max}`, { quota: 'max_stored_nodes', limit: max, stored });
        }
      }
      const diff = canonicalDiff(changedNodes, changedEdges);
      const { commitHash: hash, diffSha256 } = commitHash({ namespace: n, parentHash: head.head_hash, inputSha256, actorKeyId: principal.key_id, diff });
      const commitId = randomUUID();
      await this.repo.insertCommit(trx, n, {
        commit_id: commitId,
        seq: head.commit_count + 1,
        parent_commit_id: head.head_commit_id,
        parent_hash: head.head_hash,
        commit_hash: hash,
        input_sha256: inputSha256,
        diff,
        diff_sha256: diffSha256,
        actor_key_id: principal.key_id,
        created_at: at,
      });
      await this.repo.upsertNodes(trx, n, changedNodes, commitId, at);
      await this.repo.upsertEdges(trx, n, changedEdges, commitId, at);
      const toEmbed = changedNodes.filter((x) => x.embedding === null).map((x) => x.node_id);
      if (toEmbed.length > 0) await this.repo.enqueue(trx, n, { job_id: randomUUID(), commit_id: commitId, type: 'embed_nodes', payload: { node_ids: toEmbed } }, this.config.outbox.maxAttempts, at);
      return { ...result, commit_id: commitId, commit_hash: hash, unchanged: false, embeddings_queued: toEmbed.length };
    });
  }

  /**
   * Recall: rank the scope's ready vectors by cosine similarity to the query (exact scan), take
   * the best as seeds, expand their neighbourhood over edges (1-2 hops, bounded), and render a
   * context an LLM can use. Nodes whose embedding is not ready are not candidates.
   */
  async recall(
    principal: KeyPrincipal,
    q: { scope: string; embedding: readonly number[]; limit: number; hops: 1 | 2; maxNodes: number; maxEdges: number; minSimilarity: number },
  ): Promise<RecallResult> {
    const n = namespaceOf(principal, q.scope);
    const ranked = await this.rank(n, q.embedding, q.limit, q.minSimilarity);
    const seedIds = ranked.map((r) => r.id);
    const nodeIds = new Set(seedIds);
    const edges = new Map<string, { edge_id: string; type: string; src_id: string; dst_id: string; weight: number }>();
    let frontier = seedIds;
    for (let hop = 0; hop < q.hops && frontier.length > 0 && nodeIds.size < q.maxNodes; hop++) {
      const found = await this.repo.edgesTouching(n, frontier, q.maxEdges);
      const next: string[] = [];
      for (const e of found) {
        if (edges.size >= q.maxEdges) break;
        edges.set(e.edge_id, e);
        for (const id of [e.src_id, e.dst_id]) {
          if (!nodeIds.has(id) && nodeIds.size < q.maxNodes) {
            nodeIds.add(id);
            next.push(id);
          }
        }
      }
      frontier = next;
    }
    const rows = nodeIds.size > 0 ? await this.repo.findNodes(n, { ids: [...nodeIds], limit: nodeIds.size }) : [];
    const byId = new Map(rows.map((r) => [r.node_id, r]));
    const keptEdges = [...edges.values()].filter((e) => byId.has(e.src_id) && byId.has(e.dst_id));
    const seeds = ranked.flatMap((r) => {
      const node = byId.get(r.id);
      return node ? [{ ...nodeSummary(node), similarity: Math.round(r.similarity * 1e6) / 1e6 }] : [];
    });
    const lines = seeds.map((s) => `- [${s.type}] ${s.title ?? '(untitled)'}${s.text_summary ? `: ${s.text_summary}` : ''}`);
    const related = rows.filter((r) => !seedIds.includes(r.node_id));
    if (related.length > 0) lines.push('Related:', ...related.map((r) => `- [${r.type}] ${r.title ?? '(untitled)'}${r.text_summary ? `: ${r.text_summary}` : ''}`));
    return {
      tenant_id: principal.tenant_id,
      scope: q.scope,
      seeds,
      subgraph: { nodes: rows.map(nodeSummary), edges: keptEdges.map((e) => ({ id: e.edge_id, type: e.type, from_id: e.src_id, to_id: e.dst_id, weight: e.weight })) },
      context: { text: lines.join('\n'), citations: seeds.map((s) => s.id) },
    };
  }

  async verify(principal: KeyPrincipal, scope: string): Promise<{ scope: string; commits: number; head_hash: string | null; ok: boolean; problems: ReturnType<typeof verifyCommitChain> }> {
    const n = namespaceOf(principal, scope);
    const all = [];
    let after = 0;
    for (;;) {
      const page = await this.repo.commits(n, { afterSeq: after, limit: 1000 });
      all.push(...page);
      const last = page.at(-1);
      if (!last || page.length < 1000) break;
      after = last.seq;
    }
    const problems = verifyCommitChain(n, all);
    const head = await this.repo.head(n);
    if (head && all.length > 0 && head.head_hash !== all.at(-1)!.commit_hash) {
      problems.push({ commit_id: head.head_commit_id ?? '', seq: head.commit_count, problem: 'parent_mismatch' });
    }
    return { scope, commits: all.length, head_hash: head?.head_hash ?? null, ok: problems.length === 0, problems };
  }
}

function nodeSummary(n: NodeRow) {
  return { id: n.node_id, client_id: n.client_id, type: n.type, title: n.title, text_summary: n.text_summary, tier: n.tier, salience: n.salience, confidence: n.confidence };
}

export interface RecallResult {
  readonly tenant_id: string;
  readonly scope: string;
  readonly seeds: (ReturnType<typeof nodeSummary> & { similarity: number })[];
  readonly subgraph: { nodes: ReturnType<typeof nodeSummary>[]; edges: { id: string; type: string; from_id: string; to_id: string; weight: number }[] };
  readonly context: { text: string; citations: string[] };
}
