import { Inject, Injectable } from '@nestjs/common';
import { type Kysely, type RawBuilder, sql, type Transaction } from 'kysely';
import { DATABASE, type Database } from '../../platform/db/database';
import type { DB } from '../../platform/db/schema';
import type { BacklogHistory } from './backlog-history';

type Executor = Kysely<DB> | Transaction<DB>;

export const OUTBOX_CHANNEL = 'aionis_outbox';
/** The tenant's own derived work (its dashboard's outbox numbers): alert deliveries about a tenant are the platform's. */
const TENANT_JOB_TYPE = 'embed_nodes';

/** embed_nodes: derived embeddings of a memory write; alert_delivery: one alert event to one alert route (src/alerting). */
export const OUTBOX_JOB_TYPES = ['embed_nodes', 'alert_delivery'] as const;
export type OutboxJobType = (typeof OUTBOX_JOB_TYPES)[number];

/**
 * What an embed job derives: each node with the text its embedding is made from (the write's
 * text, contract §1.8) and its scope. Jobs enqueued by the previous release carry `node_ids` only
 * (their text is the node's title and summary).
 */
export interface EmbedPayload {
  readonly nodes?: readonly { readonly id: string; readonly scope: string; readonly text: string }[];
  readonly force?: boolean;
  readonly node_ids?: readonly string[];
}

/** The payload of a job of another type: its handler reads it (e.g. an alert delivery). */
export type JobPayload = EmbedPayload & Readonly<Record<string, unknown>>;

export interface ClaimedJob {
  readonly job_id: string;
  readonly tenant_id: string;
  readonly project_key: string;
  readonly scope: string;
  readonly type: string;
  readonly payload: JobPayload;
  readonly attempts: number;
  readonly max_attempts: number;
}

export interface DeadLetterFilter {
  readonly ids?: readonly string[];
  readonly tenantId?: string;
  readonly type?: string;
  readonly from?: string;
  readonly to?: string;
}

export interface OutboxRow {
  readonly job_id: string;
  readonly tenant_id: string;
  readonly project_key: string;
  readonly scope: string;
  readonly type: string;
  readonly attempts: number;
  readonly last_error: string | null;
  readonly payload: JobPayload;
  readonly created_at: Date;
  readonly updated_at: Date;
}

/** One job type's line of the outbox gauges (OutboxRepository.backlogByType). */
export interface OutboxTypeBacklog {
  readonly type: string;
  readonly pending: number;
  readonly retrying: number;
  readonly processing: number;
  readonly dead_letter: number;
  /** Seconds since the oldest pending, retrying or processing job was enqueued; 0 when there is none. */
  readonly oldest_age_s: number;
}

/** The node ids a job covers, in either payload format. */
export const jobNodeIds = (p: EmbedPayload): string[] => (p.nodes ? p.nodes.map((n) => n.id) : [...(p.node_ids ?? [])]);

function deadLetterWhere(f: DeadLetterFilter): RawBuilder<unknown> {
  const parts = [sql`status = 'dead_letter'`];
  if (f.ids) parts.push(sql`job_id = ANY(${sql.val([...f.ids])}::uuid[])`);
  if (f.tenantId) parts.push(sql`tenant_id = ${f.tenantId}`);
  if (f.type) parts.push(sql`type = ${f.type}`);
  if (f.from) parts.push(sql`updated_at >= ${f.from}::timestamptz`);
  if (f.to) parts.push(sql`updated_at < ${f.to}::timestamptz`);
  return sql.join(parts, sql` AND `);
}

const ROW = sql`job_id::text AS job_id, tenant_id, project_key, scope, type, attempts, last_error, payload, created_at, updated_at`;
const n = (v: unknown): number => Number(v ?? 0);

/**
 * memory_outbox: derived work enqueued in the same transaction as the write that needs it, claimed
 * by workers with FOR UPDATE SKIP LOCKED, retried with backoff, dead-lettered, replayed. Every
 * statement on the table is here (the worker, the dead-letter operations, dashboards and gates).
 */
@Injectable()
export class OutboxRepository {
  constructor(@Inject(DATABASE) private readonly database: Database) {}

  /** Enqueue a job and wake the workers when the transaction commits (a rolled-back write notifies no one). */
  async enqueue(trx: Executor, job: { job_id: string; tenant_id: string; project_key: string; scope: string; commit_id: string; type: OutboxJobType; payload: JobPayload }, maxAttempts: number, at: string): Promise<void> {
    await sql`
      WITH ins AS (
        INSERT INTO memory_outbox (job_id, tenant_id, project_key, scope, commit_id, type, payload, status, max_attempts, next_attempt_at, created_at, updated_at)
        VALUES (${job.job_id}::uuid, ${job.tenant_id}, ${job.project_key}, ${job.scope}, ${job.commit_id}::uuid, ${job.type}, ${JSON.stringify(job.payload)}::jsonb,
                'pending', ${maxAttempts}, ${at}::timestamptz, ${at}::timestamptz, ${at}::timestamptz)
        RETURNING 1)
      SELECT pg_notify(${OUTBOX_CHANNEL}, '') FROM ins`.execute(trx);
  }

  /** Claim due jobs (and jobs whose claim timed out: a crashed worker's). */
  async claim(workerId: string, batchSize: number, claimTimeoutMs: number): Promise<ClaimedJob[]> {
    const r = await sql<ClaimedJob>`
      UPDATE memory_outbox SET status = 'processing', claimed_at = clock_timestamp(), claimed_by = ${workerId},
             attempts = attempts + 1, updated_at = clock_timestamp()
      WHERE job_id IN (
        SELECT job_id FROM memory_outbox
        WHERE (status = 'pending' AND next_attempt_at <= clock_timestamp())
           OR (status = 'processing' AND claimed_at < clock_timestamp() - make_interval(secs => ${claimTimeoutMs / 1000}))
        ORDER BY next_attempt_at
        LIMIT ${batchSize}
        FOR UPDATE SKIP LOCKED)
      RETURNING job_id::text AS job_id, tenant_id, project_key, scope, type, payload, attempts, max_attempts`.execute(this.database.db);
    return r.rows;
  }

  async complete(jobId: string, workerId: string): Promise<void> {
    await sql`UPDATE memory_outbox SET status = 'done', last_error = NULL, updated_at = clock_timestamp()
      WHERE job_id = ${jobId}::uuid AND claimed_by = ${workerId} AND status = 'processing'`.execute(this.database.db);
  }

  async retryLater(jobId: string, workerId: string, error: string, delayMs: number): Promise<void> {
    await sql`UPDATE memory_outbox SET status = 'pending', last_error = ${error}, claimed_at = NULL, claimed_by = NULL,
        next_attempt_at = clock_timestamp() + make_interval(secs => ${delayMs / 1000}), updated_at = clock_timestamp()
      WHERE job_id = ${jobId}::uuid AND claimed_by = ${workerId}`.execute(this.database.db);
  }

  async deadLetter(trx: Executor, jobId: string, workerId: string, error: string): Promise<void> {
    await sql`UPDATE memory_outbox SET status = 'dead_letter', last_error = ${error}, updated_at = clock_timestamp()
      WHERE job_id = ${jobId}::uuid AND claimed_by = ${workerId}`.execute(trx);
  }

  // ------------------------------------------------------------------ dead letters (operators)

  async listDeadLetters(f: DeadLetterFilter & { afterId?: string; limit: number }): Promise<{ rows: OutboxRow[]; countsByTenant: Record<string, number> }> {
    const r = await sql<OutboxRow>`
      SELECT ${ROW} FROM memory_outbox WHERE ${deadLetterWhere(f)} ${f.afterId ? sql`AND job_id > ${f.afterId}::uuid` : sql``}
      ORDER BY memory_outbox.job_id LIMIT ${f.limit}`.execute(this.database.db);
    const counts = await sql<{ tenant_id: string; n: number }>`
      SELECT tenant_id, count(*)::int AS n FROM memory_outbox WHERE ${deadLetterWhere({ ...f, ids: undefined })} GROUP BY tenant_id ORDER BY tenant_id`.execute(this.database.db);
    return { rows: r.rows, countsByTenant: Object.fromEntries(counts.rows.map((c) => [c.tenant_id, n(c.n)])) };
  }

  /** Lock the dead letters an operation acts on (oldest first, at most `limit`) and count all that match. */
  async lockDeadLetters(trx: Executor, f: DeadLetterFilter, limit: number): Promise<{ rows: OutboxRow[]; matched: number }> {
    const matched = await sql<{ n: number }>`SELECT count(*)::int AS n FROM memory_outbox WHERE ${deadLetterWhere(f)}`.execute(trx);
    const rows = await sql<OutboxRow>`
      SELECT ${ROW} FROM memory_outbox WHERE ${deadLetterWhere(f)} ORDER BY memory_outbox.updated_at, memory_outbox.job_id LIMIT ${limit} FOR UPDATE`.execute(trx);
    return { rows: rows.rows, matched: n(matched.rows[0]?.n) };
  }

  async requeue(trx: Executor, jobIds: readonly string[]): Promise<void> {
    await sql`
      WITH up AS (
        UPDATE memory_outbox SET status = 'pending', attempts = 0, next_attempt_at = clock_timestamp(), claimed_at = NULL, claimed_by = NULL, updated_at = clock_timestamp()
        WHERE job_id = ANY(${sql.val([...jobIds])}::uuid[]) RETURNING 1)
      SELECT pg_notify(${OUTBOX_CHANNEL}, '') WHERE EXISTS (SELECT 1 FROM up)`.execute(trx);
  }

  async discard(trx: Executor, jobIds: readonly string[]): Promise<void> {
    await sql`UPDATE memory_outbox SET status = 'discarded', updated_at = clock_timestamp() WHERE job_id = ANY(${sql.val([...jobIds])}::uuid[])`.execute(trx);
  }

  // ------------------------------------------------------------------ gauges (dashboard, gates, reports)

  /** Open jobs (pending or processing) per tenant, largest first. */
  async openByTenant(ex: Executor = this.database.db): Promise<{ tenant_id: string; n: number }[]> {
    const r = await sql<{ tenant_id: string; n: number }>`
      SELECT tenant_id, count(*)::int AS n FROM memory_outbox WHERE status IN ('pending', 'processing') GROUP BY tenant_id ORDER BY n DESC, tenant_id`.execute(ex);
    return r.rows.map((x) => ({ tenant_id: x.tenant_id, n: n(x.n) }));
  }

  /** Open jobs enqueued more than `maxAgeMs` ago (count and the oldest few), and the age of the oldest open job. */
  async overdue(maxAgeMs: number, sampleSize: number, ex: Executor = this.database.db): Promise<{ count: number; oldestMs: number | null; sample: Record<string, unknown>[] }> {
    const tooOld = sql`status IN ('pending', 'processing') AND created_at < clock_timestamp() - make_interval(secs => ${maxAgeMs / 1000})`;
    const r = await sql<{ n: number; oldest_ms: number | string | null }>`
      SELECT (SELECT count(*)::int FROM memory_outbox WHERE ${tooOld}) AS n,
             (SELECT (extract(epoch FROM clock_timestamp() - min(created_at)) * 1000)::bigint FROM memory_outbox WHERE status IN ('pending', 'processing')) AS oldest_ms`.execute(ex);
    const count = n(r.rows[0]?.n);
    const oldest = r.rows[0]?.oldest_ms;
    const sample =
      count > 0
        ? (
            await sql<Record<string, unknown>>`
              SELECT job_id::text AS job_id, tenant_id, status, attempts, (extract(epoch FROM clock_timestamp() - created_at) * 1000)::bigint AS age_ms
              FROM memory_outbox WHERE ${tooOld} ORDER BY created_at LIMIT ${sampleSize}`.execute(ex)
          ).rows
        : [];
    return { count, oldestMs: oldest === null || oldest === undefined ? null : Number(oldest), sample };
  }

  /** Dead letters per tenant and type; with `before`, only those dead-lettered before it (reports). */
  async deadLettersByTenantAndType(before?: string, ex: Executor = this.database.db): Promise<{ tenant_id: string; type: string; n: number }[]> {
    const r = await sql<{ tenant_id: string; type: string; n: number }>`
      SELECT tenant_id, type, count(*)::int AS n FROM memory_outbox WHERE status = 'dead_letter' ${before ? sql`AND updated_at < ${before}::timestamptz` : sql``}
      GROUP BY tenant_id, type ORDER BY tenant_id, type`.execute(ex);
    return r.rows.map((x) => ({ ...x, n: n(x.n) }));
  }

  /**
   * The whole outbox by job type, for the /metrics gauges: the backlog (pending = waiting for a
   * first attempt, retrying = pending after a failed attempt, processing = claimed), the age of the
   * oldest job in it (seconds since it was enqueued, 0 when empty) and the dead letters.
   */
  async backlogByType(ex: Executor = this.database.db): Promise<OutboxTypeBacklog[]> {
    const r = await sql<{ type: string; pending: number; retrying: number; processing: number; dead_letter: number; oldest_s: number | string | null }>`
      SELECT type,
             count(*) FILTER (WHERE status = 'pending' AND attempts = 0)::int AS pending,
             count(*) FILTER (WHERE status = 'pending' AND attempts > 0)::int AS retrying,
             count(*) FILTER (WHERE status = 'processing')::int AS processing,
             count(*) FILTER (WHERE status = 'dead_letter')::int AS dead_letter,
             extract(epoch FROM clock_timestamp() - min(created_at) FILTER (WHERE status IN ('pending', 'processing')))::float8 AS oldest_s
      FROM memory_outbox WHERE status IN ('pending', 'processing', 'dead_letter') GROUP BY type ORDER BY type`.execute(ex);
    return r.rows.map((x) => ({
      type: x.type,
      pending: n(x.pending),
      retrying: n(x.retrying),
      processing: n(x.processing),
      dead_letter: n(x.dead_letter),
      oldest_age_s: Math.max(0, Number(x.oldest_s ?? 0)),
    }));
  }

  /** Per tenant: open jobs (pending, processing) and dead letters (the console overview). */
  async backlogByTenant(ex: Executor = this.database.db): Promise<{ tenant_id: string; backlog: number; dead_letter: number }[]> {
    const r = await sql<{ tenant_id: string; backlog: number; dead_letter: number }>`
      SELECT tenant_id, count(*) FILTER (WHERE status IN ('pending', 'processing'))::int AS backlog, count(*) FILTER (WHERE status = 'dead_letter')::int AS dead_letter
      FROM memory_outbox WHERE status IN ('pending', 'processing', 'dead_letter') GROUP BY tenant_id`.execute(ex);
    return r.rows.map((x) => ({ tenant_id: x.tenant_id, backlog: n(x.backlog), dead_letter: n(x.dead_letter) }));
  }

  /** One tenant's embedding jobs by status (dashboard, drills), retrying = pending after a failed attempt. */
  async tenantStatus(tenantId: string): Promise<{ pending: number; retrying: number; processing: number; dead_letter: number; done: number; discarded: number }> {
    const r = await sql<{ status: string; n: number; retrying: number }>`
      SELECT status, count(*)::int AS n, count(*) FILTER (WHERE status = 'pending' AND attempts > 0)::int AS retrying
      FROM memory_outbox WHERE tenant_id = ${tenantId} AND type = ${TENANT_JOB_TYPE} GROUP BY status`.execute(this.database.db);
    const by = Object.fromEntries(r.rows.map((x) => [x.status, x]));
    const retrying = n(by.pending?.retrying);
    return {
      pending: n(by.pending?.n) - retrying,
      retrying,
      processing: n(by.processing?.n),
      dead_letter: n(by.dead_letter?.n),
      done: n(by.done?.n),
      discarded: n(by.discarded?.n),
    };
  }

  /**
   * What the backlog history of a tenant's jobs (backlog-history.ts) is computed from: the jobs
   * open at `from` (created before it, not yet finished then), and per bucket (date_trunc `unit`)
   * the jobs created and the jobs that left the backlog (done, dead-lettered or discarded: their
   * updated_at). Two grouped scans of the window, whatever its length.
   */
  async backlogHistory(tenantId: string, from: string, unit: 'minute' | 'hour'): Promise<BacklogHistory> {
    const open = sql`status IN ('pending', 'processing')`;
    const [initial, created, left] = await Promise.all([
      sql<{ n: number }>`
        SELECT count(*)::int AS n FROM memory_outbox
        WHERE tenant_id = ${tenantId} AND type = ${TENANT_JOB_TYPE} AND created_at < ${from}::timestamptz AND (${open} OR updated_at >= ${from}::timestamptz)`.execute(this.database.db),
      sql<{ t: Date | string; n: number }>`
        SELECT date_trunc(${unit}, created_at, 'UTC') AS t, count(*)::int AS n FROM memory_outbox
        WHERE tenant_id = ${tenantId} AND type = ${TENANT_JOB_TYPE} AND created_at >= ${from}::timestamptz GROUP BY 1`.execute(this.database.db),
      sql<{ t: Date | string; n: number }>`
        SELECT date_trunc(${unit}, updated_at, 'UTC') AS t, count(*)::int AS n FROM memory_outbox
        WHERE tenant_id = ${tenantId} AND type = ${TENANT_JOB_TYPE} AND NOT ${open} AND updated_at >= ${from}::timestamptz GROUP BY 1`.execute(this.database.db),
    ]);
    const counts = (rows: { t: Date | string; n: number }[]) => rows.map((r) => ({ t: new Date(r.t).toISOString(), n: Number(r.n) }));
    return { initial: Number(initial.rows[0]?.n ?? 0), created: counts(created.rows), left: counts(left.rows) };
  }
}
