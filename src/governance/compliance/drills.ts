import { randomUUID } from 'node:crypto';
import type { Database } from '../../platform/db/database';
import { eventMetadata, newCommandId, requestCommandContext } from '../../platform/event-store/command-context';
import type { Actor, EventStore } from '../../platform/event-store/event-store';
import { formatCheckpoint } from '../../platform/event-store/event-store';
import { readEventsById } from '../../platform/event-store/postgres-event-store';

/**
 * Runbook drills: an operator records that a runbook was rehearsed (and how it went) as one
 * DrillRecorded event on the platform stream `compliance-drills`. Nothing else in the system
 * records drills; `runbook_drill` evidence sources read these events.
 */
export const DRILL_EVENT_TYPE = 'DrillRecorded';
export const DRILL_STREAM = 'compliance-drills';
export const DRILL_OUTCOMES = ['passed', 'failed'] as const;
export type DrillOutcome = (typeof DRILL_OUTCOMES)[number];

export interface DrillRecordedData {
  readonly runbook: string;
  readonly outcome: DrillOutcome;
  readonly notes: string | null;
}

export interface RecordedDrill extends DrillRecordedData {
  readonly drill_id: string;
  readonly recorded_at: string;
  readonly actor: string;
  readonly log_position: string;
}

export async function recordDrill(
  database: Database,
  store: EventStore,
  drill: DrillRecordedData,
  ctx: { actor: Actor; requestId: string | null; correlationId: string; sourceIp: string | null; userAgent: string | null },
): Promise<RecordedDrill> {
  const eventId = randomUUID();
  const r = await store.append(DRILL_STREAM, [{ type: DRILL_EVENT_TYPE, data: drill, eventId }], {
    expectedRevision: 'any',
    tenantId: null,
    metadata: eventMetadata(requestCommandContext(ctx, ctx.actor), newCommandId()),
  });
  const [event] = await readEventsById(database.db, [eventId]);
  return { drill_id: eventId, ...drill, recorded_at: event?.recordedAt ?? new Date().toISOString(), actor: `${ctx.actor.type}:${ctx.actor.id}`, log_position: formatCheckpoint(r.position) };
}
