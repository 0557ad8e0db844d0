import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrateToLatest, LATEST_MIGRATION } from '../../src/platform/db/migrations';
import { PGliteDatabase } from '../../src/platform/db/pglite-database';

/**
 * PGlite's initdb takes ~5 s; a migrated data dir loaded from a tarball takes ~0.5 s. Build the
 * template once per run (per migration set) and let every test load it.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.TEST_DATABASE_URL) return;
  const path = join(tmpdir(), `aionis-pglite-template-${process.getuid?.() ?? 0}-${LATEST_MIGRATION}.tar`);
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
