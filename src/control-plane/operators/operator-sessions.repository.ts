import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { DATABASE, type Database } from '../../platform/db/database';

export interface LiveSession {
  readonly session_key: string;
  readonly operator_id: string;
  readonly expires_at: string;
  readonly last_seen_at: string;
}

/** operator_sessions: console sessions by digest of their id (SQL only). */
@Injectable()
export class OperatorSessionsRepository {
  constructor(@Inject(DATABASE) private readonly database: Database) {}

  async insert(s: { session_hash: string; session_key: string; operator_id: string; idle_timeout_ms: number; expires_at: string }): Promise<void> {
    await sql`
      INSERT INTO operator_sessions (session_hash, session_key, operator_id, created_at, last_seen_at, idle_timeout_ms, expires_at)
      VALUES (${s.session_hash}, ${s.session_key}, ${s.operator_id}, clock_timestamp(), clock_timestamp(), ${s.idle_timeout_ms}, ${s.expires_at}::timestamptz)`.execute(this.database.db);
  }

  /**
   * The session, if it is open, within its absolute expiry and used within its idle timeout; its
   * last use becomes now. An expired or ended session answers nothing (and is not touched).
   */
  async touch(sessionHash: string): Promise<LiveSession | undefined> {
    const r = await sql<{ session_key: string; operator_id: string; expires_at: Date | string; last_seen_at: Date | string }>`
      UPDATE operator_sessions SET last_seen_at = clock_timestamp()
      WHERE session_hash = ${sessionHash}
        AND ended_at IS NULL
        AND expires_at > clock_timestamp()
        AND last_seen_at + make_interval(secs => idle_timeout_ms / 1000.0) > clock_timestamp()
      RETURNING session_key, operator_id, expires_at, last_seen_at`.execute(this.database.db);
    const row = r.rows[0];
    return row ? { session_key: row.session_key, operator_id: row.operator_id, expires_at: new Date(row.expires_at).toISOString(), last_seen_at: new Date(row.last_seen_at).toISOString() } : undefined;
  }

  /** End the session (sign-out); true when it was open. */
  async end(sessionHash: string): Promise<{ session_key: string; operator_id: string } | undefined> {
    const r = await sql<{ session_key: string; operator_id: string }>`
      UPDATE operator_sessions SET ended_at = clock_timestamp() WHERE session_hash = ${sessionHash} AND ended_at IS NULL
      RETURNING session_key, operator_id`.execute(this.database.db);
    return r.rows[0];
  }

}
