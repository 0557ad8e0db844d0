import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { keyIdOf, parseSealPublicKey } from '../../platform/config/seal-key';
import { type ExportManifest, EXPORT_FORMAT, readExportLines, sha256File, verifyExportReport } from '../audit/audit-export';
import { type CliSpec, EXIT, parseCli, runCli, UsageError } from './cli-support';

const SPEC: CliSpec = {
  name: 'audit:verify',
  description: 'Offline: check an export against its manifest (file hash, commit order, every per-stream hash chain, counts, heads and the global seals). Names the first bad event. Exit 2 not verified.',
  args: [['<file>', 'the NDJSON export (FILE.manifest.json next to it)']],
  options: [['--public-key <file>', 'a seal key the auditor trusts (PEM or base64, as served by /v1/audit/public-key); repeat for rotated keys', { repeat: true }]],
};

/**
 * `npm run -s audit:verify -- FILE [--public-key KEY_FILE]... [--json]`: offline, no database.
 * Checks FILE against FILE.manifest.json: file hash, commit order, every per-stream hash chain,
 * counts and heads, and the global seals (signatures, their chain, and that the tenant's events in
 * each sealed range are exactly the sealed ones in the sealed order). --public-key pins the seal
 * key(s) the auditor trusts (PEM or base64 as served by /v1/audit/public-key; repeat it for rotated
 * keys); without it the manifest's own key is used and the output says so.
 * Names the first bad event. Exit 0 verified, 2 not verified, 1 usage or read errors.
 */
async function readKey(path: string): Promise<KeyObject> {
  try {
    return parseSealPublicKey(await readFile(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`--public-key ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

void runCli(async () => {
  const flags = parseCli(SPEC);
  const { json } = flags;
  const file = flags.args[0]!;
  const keyFiles = flags.lists['public-key'] ?? [];
  const pinned = keyFiles.length > 0 ? await Promise.all(keyFiles.map(readKey)) : undefined;
  const manifest = JSON.parse(await readFile(`${file}.manifest.json`, 'utf8')) as ExportManifest;
  if (manifest.format !== EXPORT_FORMAT) throw new UsageError(`${file}.manifest.json is not an ${EXPORT_FORMAT} manifest`);
  const lines = await readExportLines(file);
  const { findings, seals } = verifyExportReport(lines, await sha256File(file), manifest, pinned ? { trustedSealKeys: pinned } : {});
  const ok = findings.length === 0;
  if (json) {
    process.stdout.write(`${JSON.stringify({ ok, file, tenant_id: manifest.tenant_id, events: manifest.events, position: manifest.position, seals, findings }, null, 2)}\n`);
  } else {
    process.stdout.write(ok ? `verified: ${manifest.events} events of ${manifest.tenant_id}, every hash chain intact\n` : `NOT VERIFIED (${findings.length} finding(s)):\n`);
    for (const f of findings) {
      process.stdout.write(`  ${f.check}: ${f.detail}${f.event_id ? ` [event ${f.event_id}, ${f.stream_id}#${f.stream_position}]` : ''}\n`);
    }
    process.stdout.write(sealSummary(seals, pinned));
  }
  return ok ? EXIT.ok : EXIT.gateFailed;
});

function sealSummary(s: { seals: number; last_seal_no: number | null; trusted_key_ids: readonly string[]; unsealed_events: number }, pinned: KeyObject[] | undefined): string {
  const lines: string[] = [];
  if (s.seals === 0) lines.push('seals: none in the manifest (no event of this export is covered by a global seal)');
  else lines.push(`seals: ${s.seals} checked (up to seal ${s.last_seal_no}), against key(s) ${s.trusted_key_ids.join(', ')}`);
  if (pinned) lines.push(`seal key pinned: ${pinned.map(keyIdOf).join(', ')}`);
  else if (s.seals > 0) lines.push('WARNING: seal key NOT pinned (--public-key): the seals were checked against the key in the manifest, which whoever produced the export could have replaced');
  if (s.unsealed_events > 0) lines.push(`${s.unsealed_events} event(s) after the last seal are not covered by a seal yet`);
  return `${lines.map((l) => `  ${l}`).join('\n')}\n`;
}
