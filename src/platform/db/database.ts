import type { Kysely } from 'kysely';
import type { DB } from './schema';

export type DatabaseKind = 'pg' | 'pglite';

/** A connection that stays the same for its whole life: session-level advisory locks live on it. */
export interface Session {
  readonly db: Kysely<DB>;
  release(): Promise<void>;
}

/**
 * The one handle to the system of record. The same code runs on PostgreSQL (pg) and on the
 * embedded PGlite; the few differences (LISTEN, sessions, type parsing) stay behind this port.
 */
export interface Database {
  readonly kind: DatabaseKind;
  readonly db: Kysely<DB>;
  /** Subscribe to NOTIFY on a channel. The returned function unsubscribes. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  /** A dedicated session (pg: its own connection; PGlite: the single shared session). */
  openSession(): Promise<Session>;
  /** A label safe to log (no password). */
  readonly target: string;
  close(): Promise<void>;
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparseable)';
  }
}

export const DATABASE = Symbol('DATABASE');
