import { readFile } from 'node:fs/promises';
import { PGliteDatabase } from '../../platform/db/pglite-database';
import type { RecordedEvent } from '../../platform/event-store/event-store';
import { type ExportManifest, EXPORT_FORMAT, readExportLines, sha256File, verifyExport } from '../audit/audit-export';
import { combineModelHashes, foldInto, TENANT_MODELS, tenantHashes } from '../audit/state-hash';
import { type CliSpec, EXIT, parseCli, runCli, UsageError } from './cli-support';
import { ProgressReporter } from './progress';

/**
 * `npm run -s audit:replay -- FILE [--json]`: offline, no connection to the deployment. Verifies
 * FILE against FILE.manifest.json, replays its events through every tenant read model into a
 * fresh in-memory embedded database, and prints each model's hash for the tenant. The same
 * hashes come from the live system with `npm run audit:state-hash -- --tenant ID --position P`
 * (P = the manifest's position). Exit 0 replayed, 2 the export does not verify, 1 usage errors.
 */
const SPEC: CliSpec = {
  name: 'audit:replay',
  description: "Offline: verify an export against its manifest, replay it through every tenant read model into a fresh in-memory database, and print each model's hash. Exit 2 when the export does not verify.",
  args: [['<file>', 'the NDJSON export (FILE.manifest.json next to it)']],
};

void runCli(async () => {
  const flags = parseCli(SPEC);
  const json = flags.json;
  const file = flags.args[0]!;
  const manifest = JSON.parse(await readFile(`${file}.manifest.json`, 'utf8')) as ExportManifest;
  if (manifest.format !== EXPORT_FORMAT) throw new UsageError(`${file}.manifest.json is not an ${EXPORT_FORMAT} manifest`);
  if (manifest.from !== null || manifest.to !== null) {
    throw new UsageError('this export covers a time window (--from/--to): state can only be replayed from a complete export of the tenant');
  }
  const lines = await readExportLines(file);
  const findings = verifyExport(lines, await sha256File(file), manifest);
  if (findings.length > 0) {
    const out = { ok: false, file, tenant_id: manifest.tenant_id, reason: 'the export does not verify; run audit:verify for details', findings };
    process.stdout.write(json ? `${JSON.stringify(out, null, 2)}\n` : `NOT REPLAYED: the export does not verify (${findings.length} finding(s)); run audit:verify -- ${file}\n`);
    return EXIT.gateFailed;
  }
  const events = lines.filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as RecordedEvent);
  const progress = new ProgressReporter('audit:replay');
  const started = Date.now();
  const database = await PGliteDatabase.open({});
  try {
    async function* pages(): AsyncIterable<RecordedEvent[]> {
      for (let i = 0; i < events.length; i += 2000) {
        yield events.slice(i, i + 2000);
        const done = Math.min(events.length, i + 2000);
        const rate = Math.round(done / Math.max(0.001, (Date.now() - started) / 1000));
        progress.update({ label: manifest.tenant_id, done, total: events.length, ratePerSecond: rate, etaSeconds: rate > 0 ? Math.ceil((events.length - done) / rate) : null }, done === events.length);
      }
    }
    const tables = await foldInto(database.db, TENANT_MODELS, pages());
    const models = await tenantHashes(database.db, tables, manifest.tenant_id);
    progress.end();
    const result = { ok: true, file, tenant_id: manifest.tenant_id, position: manifest.position, events: events.length, models, state_hash: combineModelHashes(models) };
    if (json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else {
      process.stdout.write(`replayed ${events.length} events of ${manifest.tenant_id} up to ${manifest.position} into a fresh embedded database\n`);
      for (const [name, h] of Object.entries(models)) process.stdout.write(`  ${name.padEnd(10)} ${String(h.rows).padStart(7)} rows  sha256 ${h.sha256}\n`);
      process.stdout.write(`state hash ${result.state_hash}\ncompare: npm run -s audit:state-hash -- --tenant ${manifest.tenant_id} --position ${manifest.position}\n`);
    }
    return EXIT.ok;
  } finally {
    await database.close();
  }
});
