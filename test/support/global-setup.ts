import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrateToLatest } from '../../src/platform/db/migrations';
import { PGliteDatabase } from '../../src/platform/db/pglite-database';
import { setupRun } from './global-run';

/**
 * PGlite's initdb takes ~5 s; a migrated data dir loaded from a tarball takes ~0.5 s. Build the
 * template once per run (per migration set) and let every test load it.
 */
export default async function globalSetup(): Promise<void> {
  setupRun();
  if (process.env.TEST_DATABASE_URL) return;
  // Keyed by the content of the migrations, so an edited migration never loads a stale template.
  const key = createHash('sha256').update(readFileSync(join(__dirname, '../../src/platform/db/migrations.ts'))).digest('hex').slice(0, 16);
  // A cache across runs: in the system temp folder, not the run's (a file, keyed by the migrations).
  const path = join(process.env.AIONIS_REAL_TMPDIR ?? tmpdir(), `aionis-pglite-template-${process.getuid?.() ?? 0}-${key}.tar`);
  if (!existsSync(path)) {
    const db = await PGliteDatabase.open({});
    await migrateToLatest(db.db);
    const blob = await db.pglite.dumpDataDir('none');
    await writeFile(`${path}.${process.pid}`, Buffer.from(await blob.arrayBuffer()));
    await db.close();
    const { rename } = await import('node:fs/promises');
    await rename(`${path}.${process.pid}`, path);
  }
  process.env.AIONIS_PGLITE_TEMPLATE = path;
}
