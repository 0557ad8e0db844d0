import { Controller, Get, Inject, Res, UseGuards } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { z } from 'zod';
import { AdminAuthGuard } from '../control-plane/operators/admin-auth.guard';
import { DATABASE, type Database } from '../platform/db/database';
import { ApiContract } from '../platform/http/openapi';
import { loadParkedStreams } from '../platform/projections/projection-store';
import { ProjectionsService } from '../platform/projections/projections.service';
import { countLetters, listRebuilds } from '../platform/projections/rebuild-store';

const ProjectionsStatus = z.object({
  projections: z.array(
    z.looseObject({
      projection: z.string(),
      ok: z.boolean(),
      state: z.string(),
      reason: z.string().nullable(),
      lag_events: z.number().nullable(),
      lag_ms: z.number().nullable(),
      parked_events: z.number().int().describe('events the projection could not apply (projection dead letters)'),
      parked_streams: z.number().int(),
    }),
  ),
  rebuilds: z.array(z.looseObject({ rebuild_id: z.string(), projection: z.string(), status: z.string(), events_read: z.number(), events_applied: z.number(), started_at: z.string(), finished_at: z.string().nullable() })),
});

/**
 * `GET /v1/admin/ops/projections`: what `npm run projections:status` prints, over HTTP for the
 * console: each read model's state and lag, its parked events and streams, and recent rebuilds
 * with their progress. Every role may read it.
 */
@ApiTags('operations')
@Controller('v1/admin/ops')
@UseGuards(AdminAuthGuard)
export class ProjectionsController {
  constructor(
    private readonly projections: ProjectionsService,
    @Inject(DATABASE) private readonly database: Database,
  ) {}

  @Get('projections')
  @ApiContract({ summary: 'Read models: state, lag, parked events and streams; recent rebuilds and their progress (every role)', auth: 'operator', response: { status: 200, description: 'Projection status', schema: ProjectionsStatus } })
  async status(@Res({ passthrough: true }) res: Response) {
    res.setHeader('Cache-Control', 'no-store');
    const db = this.database.db;
    const health = await this.projections.health();
    const projections = await Promise.all(
      health.map(async (h) => ({ ...h, parked_events: await countLetters(db, h.projection), parked_streams: (await loadParkedStreams(db, h.projection)).size })),
    );
    const rebuilds = (await listRebuilds(db, 20)).map((r) => ({
      rebuild_id: r.rebuildId,
      projection: r.projection,
      target_version: r.targetVersion,
      status: r.status,
      events_read: r.eventsRead,
      events_applied: r.eventsApplied,
      started_by: r.startedBy,
      started_at: r.startedAt,
      updated_at: r.updatedAt,
      finished_at: r.finishedAt,
    }));
    return { projections, rebuilds };
  }
}
