import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { DATABASE, type Database } from './database';

/**
 * ops_incidents: operational incidents for the governance report, at most one open per kind and
 * subject (a partial unique index). Opened by the instance that sees the condition, closed when it ends.
 */
@Injectable()
export class OpsIncidentsRepository {
  constructor(@Inject(DATABASE) private readonly database: Database) {}

  /**
   * Open an incident that began `value` ms ago (a lag), or raise the open one's peak to `value`.
   */
  async openOrRaisePeak(kind: string, subject: string, valueMs: number, instanceId: string): Promise<void> {
    await sql`
      INSERT INTO ops_incidents (kind, subject, started_at, peak_value, instance_id)
      VALUES (${kind}, ${subject}, clock_timestamp() - make_interval(secs => ${valueMs / 1000}), ${valueMs}, ${instanceId})
      ON CONFLICT (kind, subject) WHERE ended_at IS NULL DO UPDATE SET peak_value = greatest(ops_incidents.peak_value, EXCLUDED.peak_value)`.execute(this.database.db);
  }

  /** Close the open incident of this kind and subject, if there is one. */
  async close(kind: string, subject: string): Promise<void> {
    await sql`UPDATE ops_incidents SET ended_at = clock_timestamp()
      WHERE kind = ${kind} AND subject = ${subject} AND ended_at IS NULL`.execute(this.database.db);
  }
}
