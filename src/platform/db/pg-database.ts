import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database, Session } from './database';
import { redactUrl } from './database';
import type { DB } from './schema';
import { REFUSED_CONNECTION_SQLSTATES, retryTransient } from './transient';

const INT8_OID = 20;

/** int8 arrives as a JS number on both pg and PGlite: one normalisation, here. Values stay below 2^53. */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID) {
      return (value: string) => {
        const n = Number(value);
        if (!Number.isSafeInteger(n)) throw new Error(`int8 value ${value} exceeds the safe integer range`);
        return n;
      };
    }
    return pg.types.getTypeParser(oid, format ?? 'text');
  },
};

export interface PgDatabaseOptions {
  readonly url: string;
  readonly poolSize: number;
  readonly applicationName?: string;
}

/** PostgreSQL through node-postgres. */
export class PgDatabase implements Database {
  readonly kind = 'pg' as const;
  readonly db: Kysely<DB>;
  readonly target: string;
  private readonly pool: pg.Pool;
  private listener: pg.Client | undefined;
  private listenerConnecting: Promise<pg.Client> | undefined;
  private readonly channels = new Map<string, Set<(payload: string) => void>>();
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: PgDatabaseOptions) {
    this.target = redactUrl(options.url);
    this.pool = new pg.Pool(this.clientConfig({ max: options.poolSize }));
    // An idle client that errors (server restart) must not crash the process; the pool replaces it.
    this.pool.on('error', () => undefined);
    // A refused connection (the server at max_connections for a moment) ran nothing: try again
    // before failing the request that needed it.
    const pool = this.pool;
    const connect = () => retryTransient(() => pool.connect(), { codes: REFUSED_CONNECTION_SQLSTATES, attempts: 6, baseMs: 50 });
    this.db = new Kysely<DB>({ dialect: new PostgresDialect({ pool: { connect, end: () => pool.end() } }) });
  }

  private clientConfig(extra: pg.PoolConfig = {}): pg.PoolConfig {
    return {
      connectionString: this.options.url,
      application_name: this.options.applicationName ?? 'aionis-hosted',
      types,
      // Keep write transactions short: one open write transaction stalls every consumer (docs/architecture.md).
      idle_in_transaction_session_timeout: 60_000,
      ...extra,
    };
  }

  async openSession(): Promise<Session> {
    const pool = new pg.Pool(this.clientConfig({ max: 1, idleTimeoutMillis: 0 }));
    pool.on('error', () => undefined);
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
    return {
      db,
      release: async () => {
        await db.destroy();
      },
    };
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    assertChannel(channel);
    let set = this.channels.get(channel);
    const isNew = set === undefined;
    if (!set) {
      set = new Set();
      this.channels.set(channel, set);
    }
    set.add(onNotify);
    if (isNew) {
      try {
        const client = await this.ensureListener();
        await client.query(`LISTEN ${channel}`);
      } catch {
        // The listener reconnects and re-LISTENs; subscribers keep polling meanwhile.
        this.scheduleReconnect();
      }
    }
    return async () => {
      const s = this.channels.get(channel);
      if (!s) return;
      s.delete(onNotify);
      if (s.size === 0) {
        this.channels.delete(channel);
        if (this.listener) await this.listener.query(`UNLISTEN ${channel}`).catch(() => undefined);
      }
    };
  }

  private async ensureListener(): Promise<pg.Client> {
    if (this.listener) return this.listener;
    if (this.listenerConnecting) return this.listenerConnecting;
    this.listenerConnecting = (async () => {
      const client = new pg.Client(this.clientConfig());
      client.on('notification', (msg) => {
        const subs = this.channels.get(msg.channel);
        if (subs) for (const fn of subs) fn(msg.payload ?? '');
      });
      const onLost = () => {
        if (this.listener === client) this.listener = undefined;
        this.scheduleReconnect();
      };
      client.on('error', onLost);
      client.on('end', onLost);
      await client.connect();
      this.listener = client;
      return client;
    })();
    try {
      return await this.listenerConnecting;
    } finally {
      this.listenerConnecting = undefined;
    }
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void (async () => {
        try {
          const client = await this.ensureListener();
          for (const channel of this.channels.keys()) await client.query(`LISTEN ${channel}`);
        } catch {
          this.scheduleReconnect();
        }
      })();
    }, 1000);
    this.reconnectTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const l = this.listener;
    this.listener = undefined;
    if (l) {
      l.removeAllListeners('end');
      l.removeAllListeners('error');
      l.on('error', () => undefined);
      await l.end().catch(() => undefined);
    }
    await this.db.destroy();
  }
}

export function assertChannel(channel: string): void {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel)) throw new Error(`invalid NOTIFY channel name: ${channel}`);
}
