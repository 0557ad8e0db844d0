import { hostname } from 'node:os';
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Counter } from '@opentelemetry/api';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config';
import { errorChain } from '../../platform/errors/error-chain';
import { DATABASE, type Database } from '../../platform/db/database';
import { METRICS, type Metrics } from '../../platform/telemetry/metrics';
import { EMBEDDING_PROVIDER, type EmbeddingProvider, EmbeddingError } from '../embeddings/embedding-provider';
import { MemoryRepository } from '../memory/memory.repository';
import { OutboxHandlers } from './outbox-handlers';
import { type ClaimedJob, jobNodeIds, OUTBOX_CHANNEL, OutboxRepository } from './outbox.repository';

export { OUTBOX_CHANNEL } from './outbox.repository';

/** Exponential backoff with full jitter, capped at 5 minutes: attempt 1 waits up to 1 s, 2 up to 2 s, ... */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const cap = Math.min(300_000, 1000 * 2 ** Math.max(0, attempt - 1));
  return Math.round(cap / 2 + (random() * cap) / 2);
}

/** The nodes a job covers, with their scopes (jobs of the previous release name ids of the job's scope). */
export const jobNodes = (job: Pick<ClaimedJob, 'payload' | 'scope'>): { id: string; scope: string }[] =>
  job.payload.nodes ? job.payload.nodes.map((x) => ({ id: x.id, scope: x.scope })) : jobNodeIds(job.payload).map((id) => ({ id, scope: job.scope }));

/**
 * The worker role: claims due outbox jobs with FOR UPDATE SKIP LOCKED (several workers never take
 * the same job), reclaims jobs whose claim is older than OUTBOX_CLAIM_TIMEOUT_MS (a crashed
 * worker's), runs them, and on failure retries with backoff until max attempts, then
 * dead-letters. Handlers are idempotent: embedding a node twice writes the same vector, and a
 * node that became ready meanwhile is left alone (unless the write asked for force_reembed).
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
    @Inject(EMBEDDING_PROVIDER) private readonly provider: EmbeddingProvider | null,
    @Inject(METRICS) metrics: Metrics,
    private readonly outbox: OutboxRepository,
    private readonly memory: MemoryRepository,
    private readonly handlers: OutboxHandlers,
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
        this.logger.error({ msg: 'outbox loop failed', err });
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
    const jobs = await this.outbox.claim(this.id, this.config.outbox.batchSize, this.config.outbox.claimTimeoutMs);
    for (const job of jobs) await this.run(job);
    return jobs.length;
  }

  private async run(job: ClaimedJob): Promise<void> {
    try {
      switch (job.type) {
        case 'embed_nodes':
          await this.embedNodes(job);
          break;
        default: {
          const handler = this.handlers.get(job.type);
          if (!handler) throw new EmbeddingError(`unknown job type ${job.type}`, false);
          await handler(job);
        }
      }
      await this.outbox.complete(job.job_id, this.id);
      this.done.add(1, { type: job.type });
    } catch (err) {
      // The root cause (e.g. connect ECONNREFUSED 127.0.0.1:9), not only "fetch failed": last_error is what on-call reads.
      const message = errorChain(err).slice(0, 2000);
      const retryable = !(err instanceof EmbeddingError) || err.retryable;
      if (retryable && job.attempts < job.max_attempts) {
        await this.outbox.retryLater(job.job_id, this.id, message, backoffMs(job.attempts));
        this.failed.add(1, { type: job.type, outcome: 'retry' });
      } else {
        await this.memory.transaction(async (trx) => {
          await this.outbox.deadLetter(trx, job.job_id, this.id, message);
          if (job.type === 'embed_nodes') await this.memory.failPending(trx, { tenantId: job.tenant_id, projectKey: job.project_key }, jobNodes(job));
        });
        this.failed.add(1, { type: job.type, outcome: 'dead_letter' });
        this.logger.warn({ msg: 'outbox job dead-lettered', job_id: job.job_id, tenant_id: job.tenant_id, type: job.type, attempts: job.attempts, error: message });
      }
    }
  }

  private async embedNodes(job: ClaimedJob): Promise<void> {
    if (!this.provider) throw new EmbeddingError('no embedding provider is configured (EMBEDDING_PROVIDER=none)', false);
    const owner = { tenantId: job.tenant_id, projectKey: job.project_key };
    const force = job.payload.force === true;
    const all = job.payload.nodes ? [...job.payload.nodes] : await this.memory.legacyEmbedTexts(owner, job.scope, jobNodeIds(job.payload));
    const due = await this.memory.needingEmbedding(owner, all, force);
    const todo = all.filter((x) => due.has(x.id));
    if (todo.length === 0) return;
    const vectors = await this.provider.embed(todo.map((x) => x.text));
    if (vectors.length !== todo.length) throw new EmbeddingError('the provider returned a different number of vectors than texts', false);
    const dim = this.config.embeddings.dimension;
    for (const v of vectors) {
      if (v.length !== dim || !v.every(Number.isFinite)) throw new EmbeddingError(`the provider returned a vector that is not ${dim} finite numbers`, false);
    }
    await this.memory.storeEmbeddings(owner, todo.map((x, i) => ({ id: x.id, scope: x.scope, embedding: vectors[i]! })), this.provider.model, force);
  }
}
