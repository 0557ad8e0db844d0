import { randomUUID } from 'node:crypto';
import type { Database } from '../../platform/db/database';
import { eventMetadata, newCommandId, systemCommandContext } from '../../platform/event-store/command-context';
import type { Actor, EventStore } from '../../platform/event-store/event-store';
import { OutboxRepository } from '../outbox/outbox.repository';
import { embeddableText } from './domain/write-plan';
import { MemorySettingsRepository } from './memory-settings.repository';

export const REEMBED_STREAM = 'memory-maintenance';

export interface ReembedOptions {
  readonly dimension: number;
  readonly dryRun: boolean;
  readonly batchSize: number;
  readonly reason: string;
  readonly actor: Actor;
  readonly maxAttempts: number;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface ReembedReport {
  readonly dry_run: boolean;
  readonly from_dimension: number | null;
  readonly to_dimension: number;
  readonly nodes: number;
  /** Stored vectors before, by dimension and model (a client-supplied vector's model is `client` or the client's name). */
  readonly vectors_before: { dimension: number; model: string | null; nodes: number }[];
  /** Nodes whose embedding the workers derive again at the new dimension. */
  readonly requeued: number;
  /** Nodes with no title or summary to derive a vector from: failed until written again with a vector. */
  readonly failed_no_text: number;
  readonly jobs: number;
  readonly event_id: string | null;
}

export class ServiceRunningError extends Error {}

/**
 * Re-embed the whole database at another dimension (runbooks/embedding-dimension.md): every
 * node's vector is forgotten and its embedding queued again from its text (§1.8: title or summary
 * by type), batch by batch, each batch one transaction (nodes reset + one outbox job per scope).
 * The new dimension is recorded last, with an EmbeddingsReset event, so an interrupted run leaves
 * the database at its old dimension (the service keeps refusing the new one) and can simply be run
 * again. The service must be stopped: its workers would embed at the old dimension meanwhile.
 */
export async function reembed(database: Database, store: EventStore, o: ReembedOptions): Promise<ReembedReport> {
  const settings = new MemorySettingsRepository(database);
  const outbox = new OutboxRepository(database);
  const session = await database.openSession();
  try {
    if (database.kind === 'pg' && !(await settings.tryVectorStorageExclusive(session))) {
      throw new ServiceRunningError('a service instance is running on this database (it holds the vector-storage lock): stop every instance first');
    }
    return await run(database, store, settings, outbox, o);
  } finally {
    // Closing the session releases the lock.
    await session.release();
  }
}

async function run(database: Database, store: EventStore, settings: MemorySettingsRepository, outbox: OutboxRepository, o: ReembedOptions): Promise<ReembedReport> {
  const from = await settings.embeddingDimension();
  const vectorsBefore = await settings.vectorSummary();
  const total = await settings.countNodes();
  let done = 0;
  let requeued = 0;
  let failedNoText = 0;
  let jobs = 0;
  for (let after: Parameters<MemorySettingsRepository['nodePage']>[0] = null; ; ) {
    const page = await settings.nodePage(after, o.batchSize);
    if (page.length === 0) break;
    const planned = page.map((n) => ({ ...n, text: embeddableText(n.type, n.title, n.text_summary, null) }));
    requeued += planned.filter((n) => n.text !== null).length;
    failedNoText += planned.filter((n) => n.text === null).length;
    if (!o.dryRun) {
      await database.db.transaction().execute(async (trx) => {
        await settings.resetEmbeddings(trx, planned.map((n) => ({ tenant_id: n.tenant_id, project_key: n.project_key, scope: n.scope, node_id: n.node_id, pending: n.text !== null })));
        const byScope = new Map<string, typeof planned>();
        for (const n of planned.filter((x) => x.text !== null)) {
          const k = JSON.stringify([n.tenant_id, n.project_key, n.scope]);
          byScope.set(k, [...(byScope.get(k) ?? []), n]);
        }
        for (const nodes of byScope.values()) {
          const first = nodes[0]!;
          const commitId = await settings.headCommit(trx, first.tenant_id, first.project_key, first.scope);
          if (!commitId) continue;
          await outbox.enqueue(
            trx,
            { job_id: randomUUID(), tenant_id: first.tenant_id, project_key: first.project_key, scope: first.scope, commit_id: commitId, type: 'embed_nodes', payload: { nodes: nodes.map((n) => ({ id: n.node_id, scope: n.scope, text: n.text as string })) } },
            o.maxAttempts,
            new Date().toISOString(),
          );
          jobs++;
        }
      });
    }
    done += page.length;
    o.onProgress?.(done, total);
    const last = page.at(-1)!;
    after = { tenant_id: last.tenant_id, project_key: last.project_key, scope: last.scope, node_id: last.node_id };
  }
  let eventId: string | null = null;
  if (!o.dryRun) {
    eventId = randomUUID();
    const id = eventId;
    await database.db.transaction().execute(async (trx) => {
      await settings.dropVectorColumn(trx);
      await settings.recordEmbeddingDimensionIn(trx, o.dimension);
      await store.append(
        REEMBED_STREAM,
        [{ type: 'EmbeddingsReset', eventId: id, data: { from_dimension: from, to_dimension: o.dimension, nodes: total, requeued, failed_no_text: failedNoText, jobs, vectors_before: vectorsBefore, reason: o.reason } }],
        { expectedRevision: 'any', tenantId: null, trx, metadata: eventMetadata(systemCommandContext({ actor: o.actor }), newCommandId()) },
      );
    });
  }
  return { dry_run: o.dryRun, from_dimension: from, to_dimension: o.dimension, nodes: total, vectors_before: vectorsBefore, requeued, failed_no_text: failedNoText, jobs, event_id: eventId };
}
