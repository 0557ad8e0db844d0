import { readFile } from 'node:fs/promises';
import { type ExportManifest, EXPORT_FORMAT, sha256File, verifyExport } from '../audit/audit-export';
import { EXIT, runCli, UsageError } from './cli-support';

/**
 * `npm run -s audit:verify -- FILE [--json]`: offline, no database. Checks FILE against
 * FILE.manifest.json: file hash, commit order, every per-stream hash chain, counts and heads.
 * Names the first bad event. Exit 0 verified, 2 not verified, 1 usage or read errors.
 */
void runCli(async () => {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const files = args.filter((a) => a !== '--json');
  if (files.length !== 1 || files[0]!.startsWith('--')) throw new UsageError('usage: npm run -s audit:verify -- FILE [--json]');
  const file = files[0]!;
  const manifest = JSON.parse(await readFile(`${file}.manifest.json`, 'utf8')) as ExportManifest;
  if (manifest.format !== EXPORT_FORMAT) throw new UsageError(`${file}.manifest.json is not an ${EXPORT_FORMAT} manifest`);
  const lines = (await readFile(file, 'utf8')).split('\n');
  const findings = verifyExport(lines, await sha256File(file), manifest);
  const ok = findings.length === 0;
  if (json) process.stdout.write(`${JSON.stringify({ ok, file, tenant_id: manifest.tenant_id, events: manifest.events, position: manifest.position, findings }, null, 2)}\n`);
  else {
    process.stdout.write(ok ? `verified: ${manifest.events} events of ${manifest.tenant_id}, every hash chain intact\n` : `NOT VERIFIED (${findings.length} finding(s)):\n`);
    for (const f of findings) process.stdout.write(`  ${f.check}: ${f.detail}${f.event_id ? ` [event ${f.event_id}, ${f.stream_id}#${f.stream_position}]` : ''}\n`);
  }
  return ok ? EXIT.ok : EXIT.gateFailed;
});
