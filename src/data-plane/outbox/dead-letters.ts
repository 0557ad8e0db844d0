import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../../platform/db/database';
import type { DB } from '../../platform/db/schema';
import { AppError } from '../../platform/errors/app-error';
import type { Actor, Checkpoint, EventStore } from '../../platform/event-store/event-store';
import { OUTBOX_CHANNEL } from './outbox-worker';

export const REPLAY_LIMIT_DEFAULT = 50;
export const REPLAY_LIMIT_MAX = 500;

export interface DeadLetterFilter {
  readonly ids?: readonly string[];
  readonly tenantId?: string;
  readonly type?: string;
  readonly from?: string;
  readonly to?: string;
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

type Executor = Kysely<DB> | Transaction<DB>;

function where(f: DeadLetterFilter) {
  const parts = [sql`status = 'dead_letter'`];
  if (f.ids) parts.push(sql`job_id = ANY(${sql.val([...f.ids])}::uuid[])`);
  if (f.tenantId) parts.push(sql`tenant_id = ${f.tenantId}`);
  if (f.type) parts.push(sql`type = ${f.type}`);
  if (f.from) parts.push(sql`updated_at >= ${f.from}::timestamptz`);
  if (f.to) parts.push(sql`updated_at < ${f.to}::timestamptz`);
  return sql.join(parts, sql` AND `);
}

interface Row {
  job_id: string;
  tenant_id: string;
  project_key: string;
  scope: string;
  type: string;
  attempts: number;
  last_error: string | null;
  payload: { node_ids?: string[] };
  created_at: Date;
  updated_at: Date;
}

const view = (r: Row): DeadLetterView => ({
  job_id: r.job_id,
  tenant_id: r.tenant_id,
  project_id: r.project_key === '' ? null : r.project_key,
  scope: r.scope,
  type: r.type,
  attempts: r.attempts,
  last_error: r.last_error,
  node_count: r.payload.node_ids?.length ?? 0,
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
    private readonly database: Database,
    private readonly store: EventStore,
  ) {}

  async list(f: DeadLetterFilter & { afterId?: string; limit: number }): Promise<{ items: DeadLetterView[]; counts_by_tenant: Record<string, number> }> {
    const r = await sql<Row>`
      SELECT job_id::text AS job_id, tenant_id, project_key, scope, type, attempts, last_error, payload, created_at, updated_at
      FROM memory_outbox WHERE ${where(f)} ${f.afterId ? sql`AND job_id > ${f.afterId}::uuid` : sql``}
      ORDER BY memory_outbox.job_id LIMIT ${f.limit}`.execute(this.database.db);
    const counts = await sql<{ tenant_id: string; n: number }>`
      SELECT tenant_id, count(*)::int AS n FROM memory_outbox WHERE ${where({ ...f, ids: undefined })} GROUP BY tenant_id ORDER BY tenant_id`.execute(this.database.db);
    return { items: r.rows.map(view), counts_by_tenant: Object.fromEntries(counts.rows.map((c) => [c.tenant_id, c.n])) };
  }

  private check(req: OperationRequest): void {
    if (!req.ids && !req.tenantId && !req.allowAllTenants) {
      throw new AppError('validation_failed', 'give ids or tenant_id, or set allow_all_tenants to act across every tenant', {
        errors: [{ field: 'body.allow_all_tenants', message: 'required without ids or tenant_id' }],
      });
    }
    if (req.reason.trim().length === 0) throw new AppError('validation_failed', 'a reason is required', { errors: [{ field: 'body.reason', message: 'required' }] });
  }

  private async select(trx: Executor, req: OperationRequest): Promise<{ rows: Row[]; matched: number }> {
    const matched = await sql<{ n: number }>`SELECT count(*)::int AS n FROM memory_outbox WHERE ${where(req)}`.execute(trx);
    const rows = await sql<Row>`
      SELECT job_id::text AS job_id, tenant_id, project_key, scope, type, attempts, last_error, payload, created_at, updated_at
      FROM memory_outbox WHERE ${where(req)} ORDER BY memory_outbox.updated_at, memory_outbox.job_id LIMIT ${req.limit} FOR UPDATE`.execute(trx);
    return { rows: rows.rows, matched: matched.rows[0]?.n ?? 0 };
  }

  replay(req: OperationRequest, actor: Actor, ids: { requestId: string | null; correlationId: string }): Promise<OperationResult> {
    return this.operate('replay', req, actor, ids);
  }

  discard(req: OperationRequest, actor: Actor, ids: { requestId: string | null; correlationId: string }): Promise<OperationResult> {
    return this.operate('discard', req, actor, ids);
  }

  private async operate(kind: 'replay' | 'discard', req: OperationRequest, actor: Actor, ids: { requestId: string | null; correlationId: string }): Promise<OperationResult> {
    this.check(req);
    return this.database.db.transaction().execute(async (trx) => {
      const { rows, matched } = await this.select(trx, req);
      const jobIds = rows.map((r) => r.job_id);
      if (req.dryRun || rows.length === 0) {
        return { dry_run: req.dryRun, matched, affected: 0, job_ids: jobIds, sample: rows.slice(0, 20).map(view), event_id: null, position: null };
      }
      if (kind === 'replay') {
        await sql`UPDATE memory_outbox SET status = 'pending', attempts = 0, next_attempt_at = clock_timestamp(), claimed_at = NULL, claimed_by = NULL, updated_at = clock_timestamp()
          WHERE job_id = ANY(${sql.val(jobIds)}::uuid[])`.execute(trx);
        for (const r of rows) {
          if (r.type === 'embed_nodes' && r.payload.node_ids?.length) {
            await sql`UPDATE memory_nodes SET embedding_status = 'pending', updated_at = clock_timestamp()
              WHERE tenant_id = ${r.tenant_id} AND project_key = ${r.project_key} AND scope = ${r.scope}
                AND node_id = ANY(${sql.val(r.payload.node_ids)}::uuid[]) AND embedding_status = 'failed'`.execute(trx);
          }
        }
        await sql`SELECT pg_notify(${OUTBOX_CHANNEL}, '')`.execute(trx);
      } else {
        await sql`UPDATE memory_outbox SET status = 'discarded', updated_at = clock_timestamp() WHERE job_id = ANY(${sql.val(jobIds)}::uuid[])`.execute(trx);
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
          metadata: {
            actor,
            occurred_at: new Date().toISOString(),
            correlation_id: ids.correlationId,
            causation_id: null,
            request_id: ids.requestId,
            command_id: `dead-letters:${eventId}`,
          },
        },
      );
      return { dry_run: false, matched, affected: jobIds.length, job_ids: jobIds, sample: rows.slice(0, 20).map(view), event_id: eventId, position: appended.position };
    });
  }
}
