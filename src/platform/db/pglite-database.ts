import { type Extension, PGlite } from '@electric-sql/pglite';

// The package exports this subpath only to node16+ module resolution; load it by name.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { vector } = require('@electric-sql/pglite/vector') as { vector: Extension };
import { Kysely } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import type { Database, Session } from './database';
import { assertChannel } from './pg-database';
import type { DB } from './schema';

/**
 * The embedded database: PostgreSQL compiled to WASM, running in this process.
 * One session only; kysely-pglite-dialect serialises every transaction on it.
 */
export class PGliteDatabase implements Database {
  readonly kind = 'pglite' as const;
  readonly db: Kysely<DB>;

  private constructor(
    readonly pglite: PGlite,
    readonly target: string,
  ) {
    this.db = new Kysely<DB>({ dialect: new PGliteDialect(pglite) });
  }

  /** `dataDir` undefined = in memory. `loadDataDir` = start from a dumped template (tests). */
  static async open(options: { dataDir?: string; loadDataDir?: Blob | File }): Promise<PGliteDatabase> {
    const pglite = await PGlite.create({
      ...(options.dataDir !== undefined ? { dataDir: options.dataDir } : {}),
      ...(options.loadDataDir !== undefined ? { loadDataDir: options.loadDataDir } : {}),
      relaxedDurability: false,
      // pgvector ships with PGlite 0.4: the memory API's vector search uses it when present.
      extensions: { vector },
    });
    return new PGliteDatabase(pglite, options.dataDir !== undefined ? `pglite:${options.dataDir}` : 'pglite:memory');
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    assertChannel(channel);
    const unsub = await this.pglite.listen(channel, onNotify);
    return async () => {
      await unsub();
    };
  }

  openSession(): Promise<Session> {
    // There is only one session; advisory locks taken on it are process-wide, and the
    // DATA_DIR lock guarantees a single process.
    return Promise.resolve({ db: this.db, release: () => Promise.resolve() });
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}
