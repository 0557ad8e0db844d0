import { randomUUID } from 'node:crypto';
import { AppError } from '../../platform/errors/app-error';
import { eventMetadata, newCommandId, systemCommandContext } from '../../platform/event-store/command-context';
import type { Actor, Checkpoint, EventStore } from '../../platform/event-store/event-store';
import type { EmbeddingStatus } from '../memory/domain/model';
import { type MemoryRepository } from '../memory/memory.repository';
import { jobNodes } from './outbox-worker';
import { type DeadLetterFilter, jobNodeIds, type OutboxRepository, type OutboxRow } from './outbox.repository';

export type { DeadLetterFilter } from './outbox.repository';

export const REPLAY_LIMIT_DEFAULT = 50;
export const REPLAY_LIMIT_MAX = 500;

/**
 * Whether a tenant's derived work is done (pure): every node ready, and no job pending, retrying,
 * processing or dead-lettered. What the dead-letter runbook checks after a replay.
 */
export function embeddingReadiness(
  nodes: Readonly<Record<EmbeddingStatus, number>>,
  outbox: { readonly pending: number; readonly retrying: number; readonly processing: number; readonly dead_letter: number; readonly done: number; readonly discarded: number },
): { all_ready: boolean; nodes: Record<EmbeddingStatus | 'total', number>; outbox: typeof outbox } {
  const total = nodes.ready + nodes.pending + nodes.failed;
  const busy = outbox.pending + outbox.retrying + outbox.processing + outbox.dead_letter;
  return { all_ready: nodes.pending === 0 && nodes.failed === 0 && busy === 0, nodes: { ...nodes, total }, outbox };
}

export interface DeadLetterView {
  readonly job_id: string;
  readonly tenant_id: string;
  readonly project_id: string | null;
  readonly scope: string;
  readonly type: string;
  readonly attempts: number;
  readonly last_error: string | null;
  readonly node_count: number;
  readonly created_at: string;
  readonly dead_lettered_at: string;
}

export interface OperationRequest extends DeadLetterFilter {
  readonly reason: string;
  readonly dryRun: boolean;
  readonly limit: number;
  readonly allowAllTenants: boolean;
}

export interface OperationResult {
  readonly dry_run: boolean;
  readonly matched: number;
  readonly affected: number;
  readonly job_ids: string[];
  readonly sample: DeadLetterView[];
  readonly event_id: string | null;
  /** Log position of the event (null for dry runs): callers wait for the audit trail on it. */
  readonly position: Checkpoint | null;
}

const view = (r: OutboxRow): DeadLetterView => ({
  job_id: r.job_id,
  tenant_id: r.tenant_id,
  project_id: r.project_key === '' ? null : r.project_key,
  scope: r.scope,
  type: r.type,
  attempts: r.attempts,
  last_error: r.last_error,
  node_count: jobNodeIds(r.payload).length,
  created_at: new Date(r.created_at).toISOString(),
  dead_lettered_at: new Date(r.updated_at).toISOString(),
});

/**
 * Dead-lettered outbox jobs: list, replay, discard. Used by the admin API and by the CLI twin.
 * Every replay and discard is an event in the log (who, why, which jobs), written in the same
 * transaction as the change; a dry run changes nothing and writes no event. An operation without
 * ids or a tenant must say allow_all_tenants, so maintenance for one tenant never touches another.
 */
export class DeadLetters {
  constructor(
    private readonly outbox: OutboxRepository,
    private readonly memory: MemoryRepository,
    private readonly store: EventStore,
  ) {}

  async list(f: DeadLetterFilter & { afterId?: string; limit: number }): Promise<{ items: DeadLetterView[]; counts_by_tenant: Record<string, number> }> {
    const r = await this.outbox.listDeadLetters(f);
    return { items: r.rows.map(view), counts_by_tenant: r.countsByTenant };
  }

  private check(req: OperationRequest): void {
    if (!req.ids && !req.tenantId && !req.allowAllTenants) {
      throw new AppError('validation_failed', 'give ids or tenant_id, or set allow_all_tenants to act across every tenant', {
        errors: [{ field: 'body.allow_all_tenants', message: 'required without ids or tenant_id' }],
      });
    }
    if (req.reason.trim().length === 0) throw new AppError('validation_failed', 'a reason is required', { errors: [{ field: 'body.reason', message: 'required' }] });
  }

  replay(req: OperationRequest, actor: Actor, ids: { requestId: string | null; correlationId: string }): Promise<OperationResult> {
    return this.operate('replay', req, actor, ids);
  }

  discard(req: OperationRequest, actor: Actor, ids: { requestId: string | null; correlationId: string }): Promise<OperationResult> {
    return this.operate('discard', req, actor, ids);
  }

  private async operate(kind: 'replay' | 'discard', req: OperationRequest, actor: Actor, ids: { requestId: string | null; correlationId: string }): Promise<OperationResult> {
    this.check(req);
    return this.memory.transaction(async (trx) => {
      const { rows, matched } = await this.outbox.lockDeadLetters(trx, req, req.limit);
      const jobIds = rows.map((r) => r.job_id);
      if (req.dryRun || rows.length === 0) {
        return { dry_run: req.dryRun, matched, affected: 0, job_ids: jobIds, sample: rows.slice(0, 20).map(view), event_id: null, position: null };
      }
      if (kind === 'replay') {
        await this.outbox.requeue(trx, jobIds);
        for (const r of rows) {
          if (r.type === 'embed_nodes') await this.memory.failedToPending(trx, { tenantId: r.tenant_id, projectKey: r.project_key }, jobNodes(r));
        }
      } else {
        await this.outbox.discard(trx, jobIds);
      }
      const tenants = [...new Set(rows.map((r) => r.tenant_id))].sort();
      const single = tenants.length === 1 ? tenants[0]! : null;
      const eventId = randomUUID();
      const appended = await this.store.append(
        single ? `dead-letters-${single}` : 'dead-letters-all',
        [
          {
            type: kind === 'replay' ? 'OutboxJobsReplayed' : 'OutboxJobsDiscarded',
            eventId,
            data: { job_ids: jobIds, tenants, filter: { ids: req.ids ?? null, tenant_id: req.tenantId ?? null, type: req.type ?? null }, reason: req.reason, count: jobIds.length },
          },
        ],
        {
          expectedRevision: 'any',
          tenantId: single,
          trx,
          metadata: eventMetadata(systemCommandContext({ actor, requestId: ids.requestId, correlationId: ids.correlationId }), newCommandId()),
        },
      );
      return { dry_run: false, matched, affected: jobIds.length, job_ids: jobIds, sample: rows.slice(0, 20).map(view), event_id: eventId, position: appended.position };
    });
  }
}
