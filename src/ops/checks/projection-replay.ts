import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { PROJECTIONS } from '../../../projections';
import type { Database } from '../../platform/db/database';
import { formatCheckpoint, type RecordedEvent } from '../../platform/event-store/event-store';
import { pagesUpTo } from '../../platform/event-store/postgres-event-store';
import type { AnyProjection } from '../../platform/projections/projection';
import { hashReadModel, type ModelHash, readCheckpoint } from '../../platform/projections/projection-store';
import { foldInto } from '../audit/state-hash';

export interface ReplayComparison {
  readonly projection: string;
  /** The live checkpoint the comparison was made at (null: the projection never ran). */
  readonly at: string | null;
  readonly version: { readonly live: number | null; readonly code: number };
  /** Tenants whose rows differ ('_global' for models without a tenant column). */
  readonly mismatches: { readonly tenant: string; readonly live: ModelHash | null; readonly replay: ModelHash | null }[];
  /** Events parked in the live dead-letter table but not by the replay, and the reverse. */
  readonly parked: { readonly only_live: string[]; readonly only_replay: string[] };
  readonly tenants_compared: number;
  readonly events_replayed: number;
}

class Rollback extends Error {}

/**
 * Rebuild each projection from the log into a scratch schema up to the live checkpoint P and
 * compare row hashes per tenant with the live read model at P. Everything happens in one
 * REPEATABLE READ transaction that is rolled back: the live rows and checkpoint are read in the
 * same snapshot (the projector commits them together) and the scratch schema never outlives it.
 */
export async function compareWithReplay(database: Database, defs: readonly AnyProjection[] = PROJECTIONS, batchSize = 2000): Promise<ReplayComparison[]> {
  const results: ReplayComparison[] = [];
  for (const def of defs) {
    let outcome: ReplayComparison | undefined;
    await database.db
      .transaction()
      .setIsolationLevel('repeatable read')
      .execute(async (trx) => {
        const cp = await readCheckpoint(trx, def.name);
        if (!cp) {
          outcome = { projection: def.name, at: null, version: { live: null, code: def.version }, mismatches: [], parked: { only_live: [], only_replay: [] }, tenants_compared: 0, events_replayed: 0 };
          throw new Rollback();
        }
        const schema = `aionis_scratch_${randomBytes(6).toString('hex')}`;
        await sql`CREATE SCHEMA ${sql.id(schema)}`.execute(trx);
        const parkedEvents = new Set<string>();
        let replayed = 0;
        async function* counted(): AsyncIterable<RecordedEvent[]> {
          for await (const page of pagesUpTo(trx, { upTo: cp!.position, limit: batchSize })) {
            replayed += page.length;
            yield page;
          }
        }
        const tables = await foldInto(trx, [def], counted(), schema, (_p, eventId) => parkedEvents.add(eventId));
        const scratchDef = tables.get(def.name)!;
        const live = await hashReadModel(trx, def);
        const replay = await hashReadModel(trx, scratchDef);
        const tenants = [...new Set([...live.keys(), ...replay.keys()])].sort();
        const mismatches = tenants
          .filter((t) => live.get(t)?.sha256 !== replay.get(t)?.sha256)
          .map((t) => ({ tenant: t, live: live.get(t) ?? null, replay: replay.get(t) ?? null }));
        const liveParked = await sql<{ event_id: string }>`
          SELECT event_id::text FROM proj_dead_letters WHERE projection = ${def.name} AND status = 'parked'`.execute(trx);
        const liveSet = new Set(liveParked.rows.map((r) => r.event_id));
        outcome = {
          projection: def.name,
          at: formatCheckpoint(cp.position),
          version: { live: cp.version, code: def.version },
          mismatches,
          parked: { only_live: [...liveSet].filter((e) => !parkedEvents.has(e)).sort(), only_replay: [...parkedEvents].filter((e) => !liveSet.has(e)).sort() },
          tenants_compared: tenants.length,
          events_replayed: replayed,
        };
        throw new Rollback();
      })
      .catch((err: unknown) => {
        if (!(err instanceof Rollback)) throw err;
      });
    if (outcome) results.push(outcome);
  }
  return results;
}

/** True when the projection's live read model equals its replay (and ran at this code's version). */
export function replayMatches(c: ReplayComparison): boolean {
  return c.at !== null && c.version.live === c.version.code && c.mismatches.length === 0 && c.parked.only_live.length === 0 && c.parked.only_replay.length === 0;
}
