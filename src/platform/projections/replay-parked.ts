import { sql, type Transaction } from 'kysely';
import type { Database } from '../db/database';
import type { DB } from '../db/schema';
import { eventMetadata, newCommandId, systemCommandContext } from '../event-store/command-context';
import type { Actor } from '../event-store/event-store';
import { type PostgresEventStore, readEventsById } from '../event-store/postgres-event-store';
import { foldBatch, keysOf } from './fold';
import type { AnyProjection } from './projection';
import { loadRows, writeRows } from './projection-store';
import { lockCheckpointRow } from './rebuild-store';

export interface ParkedStreamOutcome {
  readonly stream_id: string;
  readonly events: number;
  readonly outcome: 'replayed' | 'still_failing';
  /** For a stream that still fails: the first failing event and why. */
  readonly error?: { readonly event_id: string; readonly category: string; readonly message: string };
}

export interface ReplayParkedResult {
  readonly projection: string;
  readonly dry_run: boolean;
  readonly streams: ParkedStreamOutcome[];
  readonly replayed_events: number;
  readonly still_failing_streams: number;
}

class DryRunRollback extends Error {}

/**
 * Re-apply a projection's parked events with the code now deployed (after a fix), stream by
 * stream in commit order: a stream whose events all apply is released (its dead letters marked
 * replayed, the stream unparked); a stream that still fails stays parked untouched. One
 * transaction under the projection's checkpoint-row lock, which every projector batch takes
 * first, so no batch interleaves. Recorded as a ProjectionDeadLettersReplayed event in the same
 * transaction (only when something was released: a failed attempt changes nothing). Caveat (runbooks/projection-rebuild.md): events of other streams that touched the
 * same rows since are not re-ordered; verify with the projection_equals_replay check.
 */
export async function replayParked(
  database: Database,
  store: PostgresEventStore,
  def: AnyProjection,
  opts: { actor: Actor; reason: string; streamId?: string; dryRun?: boolean },
): Promise<ReplayParkedResult> {
  let result: ReplayParkedResult | undefined;
  await database.db
    .transaction()
    .execute(async (trx) => {
      if (!(await lockCheckpointRow(trx, def.name))) throw new Error(`projection ${def.name} has never run (no checkpoint)`);
      const letters = await sql<{ id: number; event_id: string; stream_id: string }>`
        SELECT id, event_id::text, stream_id FROM proj_dead_letters
        WHERE projection = ${def.name} AND status = 'parked' ${opts.streamId ? sql`AND stream_id = ${opts.streamId}` : sql``}
        ORDER BY transaction_id, global_position`.execute(trx);
      const byStream = new Map<string, { ids: number[]; eventIds: string[] }>();
      for (const l of letters.rows) {
        const s = byStream.get(l.stream_id) ?? { ids: [], eventIds: [] };
        s.ids.push(l.id);
        s.eventIds.push(l.event_id);
        byStream.set(l.stream_id, s);
      }
      const streams: ParkedStreamOutcome[] = [];
      let replayedEvents = 0;
      for (const [streamId, s] of byStream) {
        const events = await readEventsById(trx, s.eventIds);
        const rows = await loadRows(trx, def, keysOf(def, events));
        const folded = foldBatch(def, events, rows, new Set());
        const failed = folded.deadLetters[0];
        if (failed) {
          streams.push({ stream_id: streamId, events: events.length, outcome: 'still_failing', error: { event_id: failed.event.eventId, category: failed.category, message: failed.error } });
          continue;
        }
        await writeRows(trx, def, folded.changes);
        await sql`UPDATE proj_dead_letters SET status = 'replayed', resolved_at = now() WHERE id = ANY(${sql.val(s.ids)}::bigint[])`.execute(trx);
        await sql`DELETE FROM proj_parked_streams WHERE projection = ${def.name} AND stream_id = ${streamId}`.execute(trx);
        streams.push({ stream_id: streamId, events: events.length, outcome: 'replayed' });
        replayedEvents += events.length;
      }
      result = {
        projection: def.name,
        dry_run: opts.dryRun === true,
        streams,
        replayed_events: replayedEvents,
        still_failing_streams: streams.filter((x) => x.outcome === 'still_failing').length,
      };
      if (opts.dryRun) throw new DryRunRollback();
      if (replayedEvents > 0) {
        await store.append(
          `projection-ops-${def.name}`,
          [{ type: 'ProjectionDeadLettersReplayed', data: { projection: def.name, reason: opts.reason, stream_filter: opts.streamId ?? null, replayed_events: replayedEvents, streams } }],
          {
            expectedRevision: 'any',
            tenantId: null,
            trx: trx as Transaction<DB>,
            metadata: eventMetadata(systemCommandContext({ actor: opts.actor }), newCommandId()),
          },
        );
      }
    })
    .catch((err: unknown) => {
      if (!(err instanceof DryRunRollback)) throw err;
    });
  if (!result) throw new Error('replay produced no result');
  return result;
}
