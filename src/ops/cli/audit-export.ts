import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { TENANT_ID_PATTERN } from '../../control-plane/shared/ids';
import { type ExportManifest, exportTenant, sha256File } from '../audit/audit-export';
import { type CliSpec, EXIT, openTarget, parseCli, runCli, UsageError } from './cli-support';

/**
 * `npm run -s audit:export -- --tenant ID [--from ISO] [--to ISO] --out FILE [--json] [--database-url URL]`
 * Writes FILE (NDJSON, one event per line, commit order) and FILE.manifest.json. Read-only.
 * Progress: a JSON line on stderr every 5,000 events.
 */
const SPEC: CliSpec = {
  name: 'audit:export',
  description: "Export a tenant's events as NDJSON (commit order) with FILE.manifest.json. Read-only; progress on stderr.",
  database: true,
  options: [
    ['--tenant <id>', 'the tenant to export (required)'],
    ['--from <iso>', 'only events recorded at or after this time'],
    ['--to <iso>', 'only events recorded before this time'],
    ['--out <file>', 'the NDJSON file to write (required)'],
  ],
};

void runCli(async () => {
  const flags = parseCli(SPEC);
  const v = flags.values;
  const tenant = typeof v.tenant === 'string' ? v.tenant : '';
  const out = typeof v.out === 'string' ? v.out : '';
  if (!TENANT_ID_PATTERN.test(tenant) || !out) throw new UsageError('give --tenant ID (a valid tenant id) and --out FILE');
  for (const k of ['from', 'to'] as const) {
    if (v[k] !== undefined && Number.isNaN(Date.parse(String(v[k])))) throw new UsageError(`--${k} must be an ISO-8601 time`);
  }
  const from = typeof v.from === 'string' ? new Date(v.from).toISOString() : undefined;
  const to = typeof v.to === 'string' ? new Date(v.to).toISOString() : undefined;
  const { database, release } = await openTarget(flags);
  try {
    const file = createWriteStream(out, { encoding: 'utf8' });
    const started = Date.now();
    const summary = await exportTenant(
      database,
      { tenantId: tenant, ...(from ? { from } : {}), ...(to ? { to } : {}) },
      (line) =>
        new Promise<void>((resolve, reject) => {
          if (file.write(line)) resolve();
          else file.once('drain', resolve).once('error', reject);
        }),
      (n) => process.stderr.write(`${JSON.stringify({ progress: 'audit:export', events: n, events_per_s: Math.round(n / Math.max(0.001, (Date.now() - started) / 1000)) })}\n`),
    );
    await new Promise<void>((resolve, reject) => file.end((err?: Error | null) => (err ? reject(err) : resolve())));
    const manifest: ExportManifest = { ...summary, exported_at: new Date().toISOString(), file_sha256: await sha256File(out) };
    await writeFile(`${out}.manifest.json`, `${JSON.stringify(manifest, null, 2)}\n`);
    if (flags.json) process.stdout.write(`${JSON.stringify({ ok: true, file: out, manifest: `${out}.manifest.json`, events: manifest.events, streams: Object.keys(manifest.streams).length, position: manifest.position, file_sha256: manifest.file_sha256, seals: manifest.seals?.length ?? 0, unsealed_events: manifest.unsealed_events ?? manifest.events })}\n`);
    else process.stdout.write(`exported ${manifest.events} events of ${tenant} in ${Object.keys(manifest.streams).length} streams to ${out} (manifest ${out}.manifest.json; ${manifest.seals?.length ?? 0} global seals, ${manifest.unsealed_events ?? manifest.events} events not sealed yet)\n`);
    return EXIT.ok;
  } finally {
    await release();
  }
});
