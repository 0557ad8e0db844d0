import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import type { KeyRequest } from '../../control-plane/api-keys/api-key-auth.guard';
import { EffectiveQuotaService } from '../../control-plane/quotas/effective-quota.service';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config';
import { contextOf } from '../../platform/http/request-context';
import { emptyRollup, record, type Rollup, telemetryPruneHorizon } from './telemetry';
import { TelemetryRepository } from './telemetry.repository';

const FLUSH_MS = 5000;
const PRUNE_MS = 3_600_000;

/** Telemetry labels of the memory routes (the dashboard's `endpoint` filter). */
export const MEMORY_ENDPOINTS = [
  'write',
  'recall',
  'recall_text',
  'find',
  'sessions',
  'events',
  'session_events',
  'packs_export',
  'packs_import',
  'archive_rehydrate',
  'nodes_activate',
  'rules_evaluate',
  'rules_state',
  'tools_select',
  'tools_feedback',
  'feedback',
  'commits',
  'verify',
] as const;
export type MemoryEndpoint = (typeof MEMORY_ENDPOINTS)[number];

/** The memory endpoint a path names (telemetry label), or null for anything else. */
export function endpointOf(path: string): MemoryEndpoint | null {
  const m = /^\/v1\/memory\/(.+)$/.exec(path);
  if (!m) return null;
  const rest = m[1]!;
  if (/^sessions\/[^/]+\/events$/.test(rest)) return 'session_events';
  const label = rest === 'commits/verify' ? 'verify' : rest.replace('/', '_');
  return (MEMORY_ENDPOINTS as readonly string[]).includes(label) ? (label as MemoryEndpoint) : null;
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
    private readonly repo: TelemetryRepository,
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
      for (const e of batch) await this.repo.addRollup(e);
    } catch (err) {
      // Telemetry never blocks the API; the lost minute shows as a gap.
      this.logger.warn({ msg: 'telemetry flush failed', err });
    }
  }

  /**
   * Delete rollups older than each tenant's telemetry retention (tier default or override), except
   * the current month and, in a month's first days, the previous one (telemetryPruneHorizon: kept
   * until the month's SLO statement is issued).
   */
  async prune(retentionDaysOf: (tenantId: string) => Promise<number | undefined> = async (t) => (await this.quotas.get(t))?.values.telemetry_retention_days): Promise<number> {
    let deleted = 0;
    const now = await this.repo.now();
    for (const tenantId of await this.repo.tenantsWithRollups()) {
      // A tenant that no longer exists keeps nothing beyond a day (and the month-close hold).
      deleted += await this.repo.pruneBefore(tenantId, new Date(telemetryPruneHorizon(now, (await retentionDaysOf(tenantId)) ?? 1)).toISOString());
    }
    return deleted;
  }
}
