import { hostname } from 'node:os';
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Counter } from '@opentelemetry/api';
import { sql } from 'kysely';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config';
import { DATABASE, type Database } from '../../platform/db/database';
import { METRICS, type Metrics } from '../../platform/telemetry/metrics';
import { EMBEDDING_PROVIDER, type EmbeddingProvider, EmbeddingError, embeddingText } from '../embeddings/embedding-provider';

export const OUTBOX_CHANNEL = 'aionis_outbox';

interface ClaimedJob {
  job_id: string;
  tenant_id: string;
  project_key: string;
  scope: string;
  type: string;
  payload: { node_ids?: string[] };
  attempts: number;
  max_attempts: number;
}

/** Exponential backoff with full jitter, capped at 5 minutes: attempt 1 waits up to 1 s, 2 up to 2 s, ... */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const cap = Math.min(300_000, 1000 * 2 ** Math.max(0, attempt - 1));
  return Math.round(cap / 2 + (random() * cap) / 2);
}

/**
 * The worker role: claims due outbox jobs with FOR UPDATE SKIP LOCKED (several workers never take
 * the same job), reclaims jobs whose claim is older than OUTBOX_CLAIM_TIMEOUT_MS (a crashed
 * worker's), runs them, and on failure retries with backoff until max attempts, then
 * dead-letters. Handlers are idempotent: embedding a node twice writes the same vector, and a
 * node whose content changed since is left to its newer job.
 */
@Injectable()
export class OutboxWorker implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Outbox');
  readonly id = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  private running = false;
  private loopDone: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  private readonly done: Counter;
  private readonly failed: Counter;

  constructor(
    @Inject(DATABASE) private readonly database: Database,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(EMBEDDING_PROVIDER) private readonly provider: EmbeddingProvider,
    @Inject(METRICS) metrics: Metrics,
  ) {
    this.done = metrics.meter.createCounter('aionis_outbox_jobs_done', { description: 'Outbox jobs completed, by type' });
    this.failed = metrics.meter.createCounter('aionis_outbox_job_failures', { description: 'Outbox job attempts that failed, by type and outcome (retry, dead_letter)' });
  }

  async onModuleInit(): Promise<void> {
    if (!this.config.roles.has('worker')) return;
    this.running = true;
    this.unlisten = await this.database.listen(OUTBOX_CHANNEL, () => this.wake?.());
    this.loopDone = this.loop();
  }

  async onApplicationShutdown(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loopDone;
    await this.unlisten?.();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      let worked = 0;
      try {
        worked = await this.runOnce();
      } catch (err) {
        this.logger.error(`outbox loop: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (worked > 0 || !this.running) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.config.outbox.pollIntervalMs);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** Claim and run one batch; returns how many jobs were claimed. */
  async runOnce(): Promise<number> {
    const jobs = await this.claim();
    for (const job of jobs) await this.run(job);
    return jobs.length;
  }

  private async claim(): Promise<ClaimedJob[]> {
    const r = await sql<ClaimedJob>`
      UPDATE memory_outbox SET status = 'processing', claimed_at = clock_timestamp(), claimed_by = ${this.id},
             attempts = attempts + 1, updated_at = clock_timestamp()
      WHERE job_id IN (
        SELECT job_id FROM memory_outbox
        WHERE (status = 'pending' AND next_attempt_at <= clock_timestamp())
           OR (status = 'processing' AND claimed_at < clock_timestamp() - make_interval(secs => ${this.config.outbox.claimTimeoutMs / 1000}))
        ORDER BY next_attempt_at
        LIMIT ${this.config.outbox.batchSize}
        FOR UPDATE SKIP LOCKED)
      RETURNING job_id::text AS job_id, tenant_id, project_key, scope, type, payload, attempts, max_attempts`.execute(this.database.db);
    return r.rows;
  }

  private async run(job: ClaimedJob): Promise<void> {
    try {
      switch (job.type) {
        case 'embed_nodes':
          await this.embedNodes(job);
          break;
        default:
          throw new EmbeddingError(`unknown job type ${job.type}`, false);
      }
      await sql`UPDATE memory_outbox SET status = 'done', last_error = NULL, updated_at = clock_timestamp()
        WHERE job_id = ${job.job_id}::uuid AND claimed_by = ${this.id} AND status = 'processing'`.execute(this.database.db);
      this.done.add(1, { type: job.type });
    } catch (err) {
      const message = (err instanceof Error ? err.message : String(err)).slice(0, 2000);
      const retryable = !(err instanceof EmbeddingError) || err.retryable;
      if (retryable && job.attempts < job.max_attempts) {
        await sql`UPDATE memory_outbox SET status = 'pending', last_error = ${message}, claimed_at = NULL, claimed_by = NULL,
            next_attempt_at = clock_timestamp() + make_interval(secs => ${backoffMs(job.attempts) / 1000}), updated_at = clock_timestamp()
          WHERE job_id = ${job.job_id}::uuid AND claimed_by = ${this.id}`.execute(this.database.db);
        this.failed.add(1, { type: job.type, outcome: 'retry' });
      } else {
        await this.database.db.transaction().execute(async (trx) => {
          await sql`UPDATE memory_outbox SET status = 'dead_letter', last_error = ${message}, updated_at = clock_timestamp()
            WHERE job_id = ${job.job_id}::uuid AND claimed_by = ${this.id}`.execute(trx);
          if (job.type === 'embed_nodes' && job.payload.node_ids?.length) {
            await sql`UPDATE memory_nodes SET embedding_status = 'failed', updated_at = clock_timestamp()
              WHERE tenant_id = ${job.tenant_id} AND project_key = ${job.project_key} AND scope = ${job.scope}
                AND node_id = ANY(${sql.val(job.payload.node_ids)}::uuid[]) AND embedding_status = 'pending'`.execute(trx);
          }
        });
        this.failed.add(1, { type: job.type, outcome: 'dead_letter' });
        this.logger.warn(JSON.stringify({ msg: 'outbox job dead-lettered', job_id: job.job_id, tenant_id: job.tenant_id, type: job.type, attempts: job.attempts, error: message }));
      }
    }
  }

  private async embedNodes(job: ClaimedJob): Promise<void> {
    const ids = job.payload.node_ids ?? [];
    if (ids.length === 0) return;
    const r = await sql<{ node_id: string; title: string | null; text_summary: string | null; content_sha256: string }>`
      SELECT node_id::text AS node_id, title, text_summary, content_sha256 FROM memory_nodes
      WHERE tenant_id = ${job.tenant_id} AND project_key = ${job.project_key} AND scope = ${job.scope}
        AND node_id = ANY(${sql.val(ids)}::uuid[]) AND embedding_status <> 'ready'`.execute(this.database.db);
    if (r.rows.length === 0) return;
    const vectors = await this.provider.embed(r.rows.map((n) => embeddingText(n)));
    for (const [i, n] of r.rows.entries()) {
      const v = vectors[i];
      if (!v) throw new EmbeddingError('the provider returned fewer vectors than texts', false);
      // Only if the content is still what was embedded: a newer write has its own job.
      await sql`UPDATE memory_nodes SET embedding = ${sql.val(v)}::real[], embedding_status = 'ready', embedding_model = ${this.provider.model}, updated_at = clock_timestamp()
        WHERE tenant_id = ${job.tenant_id} AND project_key = ${job.project_key} AND scope = ${job.scope}
          AND node_id = ${n.node_id}::uuid AND content_sha256 = ${n.content_sha256}`.execute(this.database.db);
    }
  }
}
