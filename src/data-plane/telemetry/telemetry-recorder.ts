import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { sql } from 'kysely';
import type { KeyRequest } from '../../control-plane/api-keys/api-key-auth.guard';
import { EffectiveQuotaService } from '../../control-plane/quotas/effective-quota.service';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config';
import { DATABASE, type Database } from '../../platform/db/database';
import { contextOf } from '../../platform/http/request-context';
import { emptyRollup, record, type Rollup } from './telemetry';

const FLUSH_MS = 5000;
const PRUNE_MS = 3_600_000;

/** The memory endpoint a path names (telemetry label), or null for anything else. */
export function endpointOf(path: string): string | null {
  const m = /^\/v1\/memory\/(write|recall_text|recall|find|commits\/verify|commits)$/.exec(path);
  return m ? m[1]!.replace('commits/verify', 'verify') : null;
}

/**
 * Per-tenant telemetry of the memory API: each authenticated request is added to an in-memory
 * per-minute rollup (tenant, project, key, endpoint: counts by status class and a latency
 * histogram); rollups are flushed to PostgreSQL every few seconds as additive upserts, never one
 * insert per request. A request that failed authentication is attributed to no tenant at all.
 * The worker role prunes rollups older than each tenant's telemetry retention.
 */
@Injectable()
export class TelemetryRecorder implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Telemetry');
  private pending = new Map<string, { tenant: string; project: string; key: string; endpoint: string; minute: string; rollup: Rollup }>();
  private flushTimer: NodeJS.Timeout | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(DATABASE) private readonly database: Database,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly quotas: EffectiveQuotaService,
  ) {}

  onModuleInit(): void {
    this.flushTimer = setInterval(() => void this.flush(), FLUSH_MS);
    this.flushTimer.unref();
    if (this.config.roles.has('worker')) {
      this.pruneTimer = setInterval(() => void this.prune().catch(() => undefined), PRUNE_MS);
      this.pruneTimer.unref();
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.flushTimer) clearInterval(this.flushTimer);
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    await this.flush();
  }

  middleware(): (req: Request, res: Response, next: NextFunction) => void {
    return (req, res, next) => {
      const endpoint = endpointOf(req.path);
      if (endpoint) {
        res.on('finish', () => {
          const principal = (req as KeyRequest).principal;
          if (!principal) return; // never attributed to a tenant the caller merely named
          this.add(principal.tenant_id, principal.project_id ?? '', principal.key_id, endpoint, res.statusCode, performance.now() - contextOf(req).startedAt);
        });
      }
      next();
    };
  }

  add(tenant: string, project: string, key: string, endpoint: string, status: number, ms: number, at: Date = new Date()): void {
    const minute = new Date(Math.floor(at.getTime() / 60_000) * 60_000).toISOString();
    const id = `${tenant}\u0000${project}\u0000${key}\u0000${endpoint}\u0000${minute}`;
    let entry = this.pending.get(id);
    if (!entry) this.pending.set(id, (entry = { tenant, project, key, endpoint, minute, rollup: emptyRollup() }));
    record(entry.rollup, status, ms);
  }

  /** Write the collected rollups (additive upserts) and start collecting afresh. */
  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    try {
      for (const e of batch) {
        const r = e.rollup;
        await sql`
          INSERT INTO telemetry_rollups AS t (tenant_id, project_key, key_id, endpoint, minute, total, status_2xx, status_4xx, status_429, status_5xx, latency_sum_ms, buckets)
          VALUES (${e.tenant}, ${e.project}, ${e.key}, ${e.endpoint}, ${e.minute}::timestamptz, ${r.total}, ${r.status_2xx}, ${r.status_4xx}, ${r.status_429}, ${r.status_5xx},
                  ${r.latency_sum_ms}, ${sql.val(r.buckets)}::bigint[])
          ON CONFLICT (tenant_id, minute, endpoint, project_key, key_id) DO UPDATE SET
            total = t.total + EXCLUDED.total, status_2xx = t.status_2xx + EXCLUDED.status_2xx, status_4xx = t.status_4xx + EXCLUDED.status_4xx,
            status_429 = t.status_429 + EXCLUDED.status_429, status_5xx = t.status_5xx + EXCLUDED.status_5xx,
            latency_sum_ms = t.latency_sum_ms + EXCLUDED.latency_sum_ms,
            buckets = ARRAY(SELECT a + b FROM unnest(t.buckets, EXCLUDED.buckets) AS u(a, b))`.execute(this.database.db);
      }
    } catch (err) {
      // Telemetry never blocks the API; the lost minute shows as a gap.
      this.logger.warn(`telemetry flush failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Delete rollups older than each tenant's telemetry retention (tier default or override). */
  async prune(retentionDaysOf: (tenantId: string) => Promise<number | undefined> = async (t) => (await this.quotas.get(t))?.values.telemetry_retention_days): Promise<number> {
    const tenants = await sql<{ tenant_id: string }>`SELECT DISTINCT tenant_id FROM telemetry_rollups`.execute(this.database.db);
    let deleted = 0;
    for (const { tenant_id } of tenants.rows) {
      // A tenant that no longer exists keeps nothing beyond a day.
      const days = (await retentionDaysOf(tenant_id)) ?? 1;
      const r = await sql<{ n: number }>`
        WITH gone AS (DELETE FROM telemetry_rollups WHERE tenant_id = ${tenant_id} AND minute < clock_timestamp() - make_interval(days => ${days}) RETURNING 1)
        SELECT count(*)::int AS n FROM gone`.execute(this.database.db);
      deleted += r.rows[0]?.n ?? 0;
    }
    return deleted;
  }
}
