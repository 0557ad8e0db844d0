import { z } from 'zod';
import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import { ApiExcludeEndpoint, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { createHash } from 'node:crypto';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { DATABASE, type Database } from '../db/database';
import { MigrationsRepository } from '../db/migrations.repository';
import { ProjectionsService, type ProjectionHealth } from '../projections/projections.service';
import { METRICS, type Metrics } from '../telemetry/metrics';
import { ApiContract } from '../http/openapi';

const ReadinessSchema = z.looseObject({ status: z.enum(['ready', 'not_ready']), checks: z.array(z.looseObject({ name: z.string(), ok: z.boolean() })), projections: z.array(z.looseObject({ projection: z.string() })) });

/** SHA-256 of `host:port/dbname` (localhost, 127.0.0.1 and ::1 read as `loopback`; port 5432 by default); null without a parseable URL. */
export function databaseTargetHash(url: string | undefined): string | null {
  if (!url) return null;
  try {
    const u = new URL(url);
    const host = ['localhost', '127.0.0.1', '[::1]', '::1'].includes(u.hostname) ? 'loopback' : u.hostname;
    return createHash('sha256').update(`${host}:${u.port || '5432'}${u.pathname || '/'}`, 'utf8').digest('hex');
  } catch {
    return null;
  }
}

interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string | null;
}

@ApiTags('operations')
@Controller()
export class HealthController {
  constructor(
    @Inject(DATABASE) private readonly database: Database,
    private readonly migrations: MigrationsRepository,
    private readonly projections: ProjectionsService,
    @Inject(METRICS) private readonly metrics: Metrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * The open core's health route (contract §2.1): unauthenticated, `{ok, database_target_hash}`.
   * The hash is SHA-256 of host:port/dbname of the configured PostgreSQL (loopback names folded,
   * default port 5432), so two instances can be seen to share a database without revealing it;
   * null on the embedded database.
   */
  @Get('health')
  @ApiContract({ summary: 'Liveness in the memory contract’s shape: {ok, database_target_hash}', auth: 'none', response: { status: 200, description: 'Alive', schema: z.object({ ok: z.boolean(), database_target_hash: z.string().nullable() }) } })
  health(): { ok: true; database_target_hash: string | null } {
    return { ok: true, database_target_hash: databaseTargetHash(this.config.databaseUrl) };
  }

  @Get('health/live')
  @ApiContract({ summary: 'Liveness: the process is up and serving HTTP', auth: 'none', response: { status: 200, description: 'Alive', schema: z.object({ status: z.literal("ok") }) } })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /**
   * Readiness: the database answers, migrations are current, and every projection has a live
   * runner (here or in another instance) whose lag is under the threshold. A dead projector fails it.
   */
  @Get('health/ready')
  @ApiContract({ summary: 'Readiness: database, migrations, projector alive and caught up', auth: 'none', response: { status: 200, description: 'Ready', schema: ReadinessSchema }, otherResponses: [{ status: 503, description: 'Not ready: the same body, status not_ready', schema: ReadinessSchema }] })
  async ready(@Res({ passthrough: true }) res: Response): Promise<{ status: 'ready' | 'not_ready'; checks: Check[]; projections: ProjectionHealth[] }> {
    const checks: Check[] = [];
    let projections: ProjectionHealth[] = [];
    try {
      await this.migrations.ping();
      checks.push({ name: 'database', ok: true, detail: this.database.kind });
      const pending = await this.migrations.pending();
      checks.push({ name: 'migrations', ok: pending.length === 0, detail: pending.length === 0 ? 'current' : `pending: ${pending.join(', ')}` });
      projections = await this.projections.health();
      const bad = projections.filter((p) => !p.ok);
      checks.push({ name: 'projector', ok: bad.length === 0, detail: bad.length === 0 ? null : bad.map((p) => `${p.projection}: ${p.reason ?? 'not ok'}`).join('; ') });
    } catch (err) {
      checks.push({ name: 'database', ok: false, detail: err instanceof Error ? err.message : String(err) });
    }
    const ok = checks.every((c) => c.ok);
    res.status(ok ? 200 : 503);
    return { status: ok ? 'ready' : 'not_ready', checks, projections };
  }

  @Get('metrics')
  @ApiExcludeEndpoint()
  scrape(@Req() req: Request, @Res() res: Response): void {
    this.metrics.handleScrape(req, res);
  }
}
