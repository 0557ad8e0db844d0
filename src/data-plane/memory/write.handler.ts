import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Transaction } from 'kysely';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config';
import type { DB } from '../../platform/db/schema';
import { retryTransient } from '../../platform/db/transient';
import { AppError } from '../../platform/errors/app-error';
import { OutboxRepository } from '../outbox/outbox.repository';
import { QuotaEnforcer } from '../quotas/quota-enforcer';
import { UsageRepository } from '../quotas/usage.repository';
import { nextCommit } from './domain/commit';
import type { Namespace } from './domain/ids';
import type { Principal } from './domain/identity';
import { backfillOf, planWrite, prepareWrite, type PreparedWrite, type WriteInput, type WritePlan, type WriteSettings } from './domain/write-plan';
import { MemoryRepository } from './memory.repository';

export interface WriteOutcome {
  readonly commit_id: string;
  readonly commit_hash: string;
  readonly nodes: PreparedWrite['response']['nodes'];
  readonly edges: PreparedWrite['response']['edges'];
  readonly embedding_backfill: { enqueued: true; pending_nodes: number } | undefined;
  /** False when an identical write had already made this commit (an exact replay). */
  readonly newCommit: boolean;
  readonly plan: WritePlan;
}

/** The request a data-plane change comes from: ids for the commit and for any event it causes. */
export interface RequestFacts {
  readonly requestId: string | null;
  readonly correlationId: string;
  readonly sourceIp: string | null;
  readonly userAgent: string | null;
  readonly now: Date;
}

/**
 * The write path of every route that writes the graph (write, sessions, events, packs import).
 * Load, plan, apply, in one transaction holding the scope's head: the pure planner decides every
 * rule (domain/write-plan.ts); this handler only reads what the plan depends on and stores its
 * outcome. A constant number of statements, whatever the tenant's size.
 */
@Injectable()
export class WriteHandler {
  private readonly logger = new Logger('Write');

  constructor(
    private readonly repo: MemoryRepository,
    private readonly outbox: OutboxRepository,
    private readonly usage: UsageRepository,
    private readonly quotas: QuotaEnforcer,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  settings(ns: Namespace, defaultActor: string, embeddingsEnabled: boolean): WriteSettings {
    return { ns, text: { maxLen: this.config.memory.maxTextLen, redaction: this.config.memory.piiRedaction }, embeddingsEnabled, defaultActor };
  }

  prepare(input: WriteInput, settings: WriteSettings): PreparedWrite {
    return prepareWrite(input, settings);
  }

  /**
   * Apply a prepared write. `extra` runs in the same transaction once the commit exists (pack
   * import records its provenance there).
   */
  async execute(p: Principal, prepared: PreparedWrite, facts: RequestFacts, extra?: (trx: Transaction<DB>, commitId: string) => Promise<void>): Promise<WriteOutcome> {
    const maxNodes = (await this.quotas.quotaOf(p.tenantId)).values.max_stored_nodes;
    // A deadlock victim or a serialization failure was rolled back whole by the server: the write
    // runs again from the start (everything it reads is read inside the transaction).
    return retryTransient(() => this.apply(p, prepared, facts, maxNodes, extra), {
      onRetry: (code, attempt, err) =>
        this.logger.warn(JSON.stringify({ msg: 'write transaction retried', sqlstate: code, attempt, request_id: facts.requestId, tenant_id: p.tenantId, error: err instanceof Error ? err.message : String(err) })),
    });
  }

  private apply(p: Principal, prepared: PreparedWrite, facts: RequestFacts, maxNodes: number, extra?: (trx: Transaction<DB>, commitId: string) => Promise<void>): Promise<WriteOutcome> {
    const owner = { tenantId: p.tenantId, projectKey: p.projectKey };
    const at = facts.now.toISOString();
    return this.repo.transaction(async (trx) => {
      const head = await this.repo.lockHead(trx, prepared.ns);
      const ids = [...new Set([...prepared.nodes.map((n) => n.id), ...prepared.storedEndpoints.map((e) => e.id)])];
      const snapshot = await this.repo.writeSnapshot(trx, prepared.ns, ids, prepared.parentCommitId);
      const plan = planWrite(prepared, snapshot);

      const existing = await this.repo.commitIdByHash(trx, prepared.ns, plan.commit.commit_hash);
      const commitId = existing ?? randomUUID();
      if (!existing) {
        await this.repo.appendCommit(
          trx,
          prepared.ns,
          nextCommit(head, { commit_id: commitId, kind: 'write', ...plan.commit, key_id: p.keyId, request_id: facts.requestId, created_at: at }),
        );
      }
      const inserted = await this.repo.insertNodes(trx, owner, plan.insertNodes, commitId, at);
      const over = await this.usage.addStoredNodes(trx, p.tenantId, inserted.length, maxNodes);
      if (over !== null) {
        throw new AppError('quota_exceeded', `this write would store ${over + inserted.length} nodes; the tenant's limit is ${maxNodes}`, { quota: 'max_stored_nodes', limit: maxNodes, stored: over });
      }
      const inserting = new Set(inserted);
      await this.repo.insertRuleDefs(trx, owner, plan.ruleDefs.filter((r) => inserting.has(r.node.id)), commitId, at);
      await this.repo.upsertEdges(trx, owner, plan.upsertEdges, commitId, at);
      await this.repo.markPending(trx, owner, plan.markPending, at);
      if (plan.embed.length > 0) {
        await this.outbox.enqueue(
          trx,
          {
            job_id: randomUUID(),
            tenant_id: p.tenantId,
            project_key: p.projectKey,
            scope: prepared.ns.scope,
            commit_id: commitId,
            type: 'embed_nodes',
            payload: { nodes: plan.embed, ...(prepared.forceReembed ? { force: true } : {}) },
          },
          this.config.outbox.maxAttempts,
          at,
        );
      }
      if (extra) await extra(trx, commitId);
      return {
        commit_id: commitId,
        commit_hash: plan.commit.commit_hash,
        nodes: prepared.response.nodes,
        edges: prepared.response.edges,
        embedding_backfill: backfillOf(plan),
        newCommit: !existing,
        plan,
      };
    });
  }
}
