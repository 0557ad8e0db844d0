import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
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
import { MemoryRepository } from './memory.repository';

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
  constructor(private readonly repo: MemoryRepository) {}

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
      if (toEmbed.length > 0) await this.repo.enqueue(trx, n, { job_id: randomUUID(), commit_id: commitId, type: 'embed_nodes', payload: { node_ids: toEmbed } }, at);
      return { ...result, commit_id: commitId, commit_hash: hash, unchanged: false, embeddings_queued: toEmbed.length };
    });
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
