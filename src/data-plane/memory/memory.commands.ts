import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config';
import { AppError } from '../../platform/errors/app-error';
import { sha256Hex } from '../../platform/event-store/canonical-json';
import { nextCommit } from './domain/commit';
import { type Namespace, scopeKey } from './domain/ids';
import { nsOf, type Principal, scopeOf } from './domain/identity';
import { type CommitDraft, type FoundNode, type Outcome, planActivate, planRehydrate, resolveIds } from './domain/lifecycle';
import { type PackIn, planPackImport } from './domain/packs';
import { eventWrite, type EventRequest, sessionWrite, type SessionRequest } from './domain/sessions';
import { formatUri } from './domain/uri';
import { prepareText, type RedactionCounts } from './domain/text';
import type { WriteInput } from './domain/write-plan';
import { type Executor, MemoryRepository } from './memory.repository';
import { type RequestFacts, WriteHandler } from './write.handler';

const backfill = (b: { enqueued: true; pending_nodes: number } | undefined) => b ?? null;

/**
 * The routes that change memory besides /write: sessions, events, packs import (all through the
 * write path), archive rehydration and node activation (their own commits). Each is load, plan
 * (pure, in domain/), apply, in one transaction.
 */
@Injectable()
export class MemoryCommands {
  constructor(
    private readonly writes: WriteHandler,
    private readonly repo: MemoryRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** /write itself. */
  async write(p: Principal, scope: string, input: WriteInput, embeddingsEnabled: boolean, facts: RequestFacts) {
    const ns = nsOf(p, scope);
    const prepared = this.writes.prepare(input, this.writes.settings(ns, 'system', embeddingsEnabled));
    const out = await this.writes.execute(p, prepared, facts);
    return {
      tenant_id: p.tenantId,
      scope,
      commit_id: out.commit_id,
      commit_hash: out.commit_hash,
      nodes: out.nodes,
      edges: out.edges,
      ...(out.embedding_backfill ? { embedding_backfill: out.embedding_backfill } : {}),
    };
  }

  async createSession(p: Principal, scope: string, r: SessionRequest, embeddingsEnabled: boolean, facts: RequestFacts) {
    const sessionId = this.sessionId(r.session_id);
    const ns = nsOf(p, scope);
    const out = await this.writes.execute(p, this.writes.prepare(sessionWrite(sessionId, r), this.writes.settings(ns, 'session_api', embeddingsEnabled)), facts);
    const node = out.nodes[0]!;
    return {
      tenant_id: p.tenantId,
      scope,
      session_id: sessionId,
      session_node_id: node.id,
      session_uri: formatUri(p.tenantId, scope, 'topic', node.id),
      commit_id: out.commit_id,
      commit_hash: out.commit_hash,
      nodes: out.nodes,
      edges: out.edges,
      embedding_backfill: backfill(out.embedding_backfill),
    };
  }

  async writeEvent(p: Principal, scope: string, r: EventRequest, embeddingsEnabled: boolean, facts: RequestFacts) {
    const sessionId = this.sessionId(r.session_id);
    const eventId = r.event_id ?? randomUUID();
    const ns = nsOf(p, scope);
    const out = await this.writes.execute(p, this.writes.prepare(eventWrite(sessionId, eventId, r), this.writes.settings(ns, 'event_api', embeddingsEnabled)), facts);
    const [session, event] = [out.nodes[0]!, out.nodes[1]!];
    return {
      tenant_id: p.tenantId,
      scope,
      session_id: sessionId,
      event_id: eventId,
      event_node_id: event.id,
      session_node_id: session.id,
      event_uri: formatUri(p.tenantId, scope, 'event', event.id),
      session_uri: formatUri(p.tenantId, scope, 'topic', session.id),
      commit_id: out.commit_id,
      commit_hash: out.commit_hash,
      nodes: out.nodes,
      edges: out.edges,
      embedding_backfill: backfill(out.embedding_backfill),
    };
  }

  private sessionId(raw: string): string {
    const id = raw.trim();
    if (id === '') throw new AppError('validation_failed', '1 invalid field(s): body.session_id', { errors: [{ field: 'body.session_id', message: 'must contain text other than whitespace' }] });
    return id;
  }

  async importPack(
    p: Principal,
    body: { raw_pack: unknown; pack: PackIn; tenant_id?: string | undefined; scope?: string | undefined; manifest_sha256?: string | undefined; verify_only?: boolean | undefined; auto_embed?: boolean | undefined; actor?: string | undefined },
    embeddingsEnabled: boolean,
    facts: RequestFacts,
  ) {
    const plan = planPackImport(body.raw_pack, body.pack, { tenantId: p.tenantId, tenant_id: body.tenant_id, scope: body.scope, manifest_sha256: body.manifest_sha256, actor: body.actor, auto_embed: body.auto_embed });
    const scope = scopeOf(plan.scope);
    const ns = nsOf(p, scope);
    // Preparing the write checks every row (ids, owners of private rules) also for verify_only.
    const prepared = this.writes.prepare(plan.write, this.writes.settings(ns, 'pack_import', embeddingsEnabled));
    const head = { ok: true, verified: true, tenant_id: p.tenantId, scope, pack_sha256: plan.pack_sha256 };
    if (body.verify_only === true) return { ...head, imported: false, planned: plan.planned };
    const out = await this.writes.execute(p, prepared, facts, (trx, commitId) =>
      this.repo.recordPackImport(trx, ns, { pack_sha256: plan.pack_sha256, commit_id: commitId, key_id: p.keyId, nodes: plan.planned.nodes, edges: plan.planned.edges, at: facts.now.toISOString() }),
    );
    return { ...head, imported: true, commit_id: out.commit_id, commit_hash: out.commit_hash, nodes: out.nodes.length, edges: out.edges.length, embedding_backfill: backfill(out.embedding_backfill) };
  }

  private inputSha(r: { input_text?: string | undefined; input_sha256?: string | undefined }, counts: RedactionCounts): string {
    if (r.input_sha256 !== undefined) return r.input_sha256;
    const text = prepareText(r.input_text ?? '', this.textPolicy(), counts);
    if (text === '') throw new AppError('validation_failed', '1 invalid field(s): body.input_text', { errors: [{ field: 'body.input_text', message: 'must contain text other than whitespace' }] });
    return sha256Hex(text);
  }

  private textPolicy() {
    return { maxLen: this.config.memory.maxTextLen, redaction: this.config.memory.piiRedaction };
  }

  /** Load the requested nodes (by id and client id) under the head lock, and resolve them. */
  private async resolve(trx: Executor, ns: Namespace, nodeIds: readonly string[] | undefined, clientIds: readonly string[] | undefined) {
    const byId = await this.repo.nodesByIds(trx, ns, [...new Set((nodeIds ?? []).map((x) => x.toLowerCase()))], null);
    const byClient = await this.repo.nodesByClientIds(trx, ns, clientIds ?? []);
    const all = new Map([...byId, ...byClient].map((n) => [n.id, n]));
    const resolution = resolveIds(nodeIds, clientIds, new Map(byClient.map((n) => [n.client_id ?? '', n.id])), new Set(byId.map((n) => n.id)));
    const found: FoundNode[] = resolution.resolved.flatMap((id) => {
      const n = all.get(id);
      return n ? [{ id: n.id, tier: n.tier, slots: n.slots }] : [];
    });
    return { resolution, found };
  }

  private async commitDraft(trx: Executor, p: Principal, ns: Namespace, head: Awaited<ReturnType<MemoryRepository['lockHead']>>, draft: CommitDraft, facts: RequestFacts): Promise<string> {
    const commitId = randomUUID();
    await this.repo.appendCommit(
      trx,
      ns,
      nextCommit(head, {
        commit_id: commitId,
        kind: draft.kind,
        parent_id: head.head_commit_id,
        parent_hash: draft.parent_hash,
        input_sha256: draft.input_sha256,
        diff: draft.diff,
        diff_sha256: draft.diff_sha256,
        actor: draft.actor,
        model_version: null,
        prompt_version: null,
        commit_hash: draft.commit_hash,
        key_id: p.keyId,
        request_id: facts.requestId,
        created_at: facts.now.toISOString(),
      }),
    );
    return commitId;
  }

  async rehydrate(
    p: Principal,
    scope: string,
    r: { node_ids?: string[] | undefined; client_ids?: string[] | undefined; target_tier?: 'warm' | 'hot' | undefined; reason?: string | undefined; input_text?: string | undefined; input_sha256?: string | undefined; actor?: string | undefined },
    facts: RequestFacts,
  ) {
    const ns = nsOf(p, scope);
    const counts: RedactionCounts = {};
    const inputSha = this.inputSha(r, counts);
    const reason = r.reason !== undefined ? prepareText(r.reason, this.textPolicy(), counts) : null;
    const target = r.target_tier ?? 'warm';
    const at = facts.now.toISOString();
    return this.repo.transaction(async (trx) => {
      const head = await this.repo.lockHead(trx, ns);
      const { resolution, found } = await this.resolve(trx, ns, r.node_ids, r.client_ids);
      if (resolution.resolved.length === 0) throw new AppError('rehydrate_no_resolved_nodes', 'none of the given node_ids / client_ids resolves to a node of this scope', { missing_client_ids: resolution.missing_client_ids });
      const plan = planRehydrate(found, { target, reason, inputSha, actor: r.actor ?? 'system', at, parentHash: head.head_commit_hash ?? '', scopeKey: scopeKey(ns) });
      let commit: { commit_id: string; commit_hash: string } | null = null;
      if (plan.commit) {
        const commitId = await this.commitDraft(trx, p, ns, head, plan.commit, facts);
        await this.repo.updateNodes(trx, ns, plan.moves.map((m) => ({ id: m.id, tier: m.tier, slots: m.slots, activate: true })), at, commitId);
        commit = { commit_id: commitId, commit_hash: plan.commit.commit_hash };
      } else await this.repo.unlockUnused(trx, ns, head);
      return {
        tenant_id: p.tenantId,
        scope,
        target_tier: target,
        commit_id: commit?.commit_id ?? null,
        commit_hash: commit?.commit_hash ?? null,
        rehydrated: {
          requested_node_ids: resolution.requested_node_ids,
          requested_client_ids: resolution.requested_client_ids,
          resolved_node_ids: resolution.resolved.length,
          found_nodes: found.length,
          moved_nodes: plan.moves.length,
          noop_nodes: plan.noop.length,
          missing_node_ids: resolution.missing_node_ids,
          missing_client_ids: resolution.missing_client_ids,
          moved_ids: plan.moves.map((m) => m.id),
          noop_ids: plan.noop,
        },
      };
    });
  }

  async activate(
    p: Principal,
    scope: string,
    r: {
      node_ids?: string[] | undefined;
      client_ids?: string[] | undefined;
      run_id?: string | undefined;
      outcome?: Outcome | undefined;
      activate?: boolean | undefined;
      reason?: string | undefined;
      input_text?: string | undefined;
      input_sha256?: string | undefined;
      actor?: string | undefined;
    },
    facts: RequestFacts,
  ) {
    const ns = nsOf(p, scope);
    const counts: RedactionCounts = {};
    const inputSha = this.inputSha(r, counts);
    const reason = r.reason !== undefined ? prepareText(r.reason, this.textPolicy(), counts) : null;
    const outcome = r.outcome ?? 'neutral';
    const activate = r.activate ?? true;
    const at = facts.now.toISOString();
    return this.repo.transaction(async (trx) => {
      const head = await this.repo.lockHead(trx, ns);
      const { resolution, found } = await this.resolve(trx, ns, r.node_ids, r.client_ids);
      if (resolution.resolved.length === 0) throw new AppError('nodes_activate_no_resolved_nodes', 'none of the given node_ids / client_ids resolves to a node of this scope', { missing_client_ids: resolution.missing_client_ids });
      const plan = planActivate(found, { outcome, activate, runId: r.run_id ?? null, reason, inputSha, actor: r.actor ?? 'system', at, parentHash: head.head_commit_hash ?? '', scopeKey: scopeKey(ns) });
      const summary = {
        requested_node_ids: resolution.requested_node_ids,
        requested_client_ids: resolution.requested_client_ids,
        resolved_node_ids: resolution.resolved.length,
        found_nodes: found.length,
        updated_nodes: plan ? plan.updates.length : 0,
        missing_node_ids: resolution.missing_node_ids,
        missing_client_ids: resolution.missing_client_ids,
        updated_ids: plan ? plan.updates.map((u) => u.id) : [],
      };
      if (!plan) {
        await this.repo.unlockUnused(trx, ns, head);
        return { tenant_id: p.tenantId, scope, commit_id: null, commit_hash: null, activated: summary };
      }
      const commitId = await this.commitDraft(trx, p, ns, head, plan.commit, facts);
      await this.repo.updateNodes(trx, ns, plan.updates, at, commitId);
      return { tenant_id: p.tenantId, scope, commit_id: commitId, commit_hash: plan.commit.commit_hash, activated: { ...summary, outcome, activate } };
    });
  }
}
