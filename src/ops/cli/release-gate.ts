import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import type { KeyObject } from 'node:crypto';
import { evidenceStoreFrom } from '../../governance/evidence/evidence-store.factory';
import { FilesystemEvidenceStore } from '../../governance/evidence/evidence-store';
import { artifactLinkReasons, evaluateReleaseBundle, type Reason, recordReleaseDecision, type ReleaseDecision, type ReleaseDecisionRecord } from '../../governance/release/release-decision';
import { isReleaseVersion, RELEASE_VERSION_RULE } from '../../governance/release/release-version';
import { loadConfig } from '../../platform/config/config';
import { parseSealPublicKey } from '../../platform/config/seal-key';
import { existingSealKey } from '../../platform/config/secrets';
import { EXIT, openTarget, parseFlags, runCli, UsageError } from './cli-support';

const HELP = `usage: npm run -s release:gate -- --release VERSION --artifact-url URL [--artifact-url URL ...]
         [--decision go|go_with_guardrails] [--guardrail TEXT ...] [--require-strict-warnings]
         [--archive DIR] [--public-key FILE] [--json] [--database-url URL]
  The release rule (runbooks/release.md): go only with a verified release evidence bundle for
  exactly VERSION (newest of that release in the archive, recorded in the log) in which every gate
  summary passed, and with at least one http(s) artefact link that is not an image (screenshots
  are not artefacts). go_with_guardrails needs at least one --guardrail. Every decision, refusals
  included, is recorded as ReleaseDecisionRecorded on the stream release-<VERSION>.
  Archive: --archive DIR, else the deployment's (ARCHIVE_DIR or ARCHIVE_S3_*). Signature key:
  --public-key FILE, else the service's (AUDIT_SEAL_PRIVATE_KEY or DATA_DIR), else the manifest's
  only if the log recorded that key id. VERSION: ${RELEASE_VERSION_RULE}.
  Exit 0 go, 2 no-go (recorded, with its reasons), 1 usage or runtime error (nothing recorded).`;

/** Pull out the repeatable flags; the rest goes through the shared parser. */
function repeated(argv: readonly string[], names: readonly string[]): { values: Record<string, string[]>; rest: string[] } {
  const values: Record<string, string[]> = Object.fromEntries(names.map((n) => [n, [] as string[]]));
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (name.startsWith('--') && names.includes(name.slice(2))) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new UsageError(`${name} needs a value`);
      values[name.slice(2)]!.push(value);
    } else rest.push(arg);
  }
  return { values, rest };
}

/**
 * `npm run -s release:gate`: decides go / go_with_guardrails / no_go for one release and records
 * the decision in the log. Offline on the bundle (it never trusts the archive's own word: hashes,
 * signature and chain are checked here), online on the database only to cross-check the log and
 * record the decision.
 */
void runCli(async () => {
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) {
    process.stdout.write(`${HELP}\n`);
    return EXIT.ok;
  }
  const rep = repeated(argv, ['artifact-url', 'guardrail']);
  const flags = parseFlags(rep.rest, { release: 'string', decision: 'string', archive: 'string', 'public-key': 'string', 'require-strict-warnings': 'bool' });
  const v = flags.values;
  const release = typeof v.release === 'string' ? v.release.trim() : '';
  if (!release) throw new UsageError(`give --release VERSION\n${HELP}`);
  if (!isReleaseVersion(release)) throw new UsageError(`--release ${JSON.stringify(release)} is not ${RELEASE_VERSION_RULE}`);
  const requested = v.decision ?? 'go';
  if (requested !== 'go' && requested !== 'go_with_guardrails') throw new UsageError('--decision must be go or go_with_guardrails (a no-go is what the gate records when it refuses)');
  const urls = rep.values['artifact-url']!.map((u) => u.trim());
  const guardrails = rep.values.guardrail!.map((g) => g.trim());
  if (guardrails.some((g) => g === '' || g.length > 500)) throw new UsageError('--guardrail must be 1..500 characters');
  if (guardrails.length > 0 && requested !== 'go_with_guardrails') throw new UsageError('--guardrail only applies with --decision go_with_guardrails');
  if (urls.length > 50 || urls.some((u) => u.length > 2000)) throw new UsageError('at most 50 --artifact-url of at most 2000 characters each');

  const config = loadConfig({ ...process.env, ...(flags.databaseUrl ? { DATABASE_URL: flags.databaseUrl } : {}) });
  let trusted: { key: KeyObject; source: 'pinned' | 'deployment' } | null = null;
  if (typeof v['public-key'] === 'string') {
    try {
      trusted = { key: parseSealPublicKey(await readFile(v['public-key'], 'utf8')), source: 'pinned' };
    } catch (err) {
      throw new UsageError(`--public-key ${v['public-key']}: ${err instanceof Error ? err.message : String(err)}`);
    }
  } else {
    try {
      trusted = { key: existingSealKey(config).publicKey, source: 'deployment' };
    } catch {
      trusted = null;
    }
  }
  const store = typeof v.archive === 'string' ? new FilesystemEvidenceStore(v.archive) : evidenceStoreFrom(config);

  const { database, release: close } = await openTarget(flags);
  try {
    const evaluation = await evaluateReleaseBundle(store, database.db, release, trusted);
    const reasons: Reason[] = [...evaluation.reasons];
    const labels = evaluation.bundle?.manifest.labels;
    if (v['require-strict-warnings'] === true && evaluation.bundle && labels?.strict_warnings !== 'true') {
      reasons.push({ code: 'not_strict', detail: 'the bundle was collected without --strict-warnings and --require-strict-warnings was given' });
    }
    reasons.push(...artifactLinkReasons(urls));
    if (requested === 'go_with_guardrails' && guardrails.length === 0) reasons.push({ code: 'guardrails_missing', detail: 'go_with_guardrails needs at least one --guardrail (what is watched or limited, and until when)' });
    const decision: ReleaseDecision = reasons.length === 0 ? requested : 'no_go';
    const record: ReleaseDecisionRecord = {
      release,
      decision,
      requested,
      bundle_id: evaluation.bundle?.id ?? null,
      bundle_sequence: evaluation.bundle?.manifest.sequence ?? null,
      bundle_location: evaluation.location,
      bundle_commit: labels?.commit ?? null,
      bundle_strict_warnings: labels?.strict_warnings === undefined ? null : labels.strict_warnings === 'true',
      key_source: evaluation.key_source,
      artifact_urls: urls,
      guardrails,
      reasons,
    };
    const actor = { type: 'operator' as const, id: `cli:${userInfo().username}`, display: 'release:gate' };
    // A decision that cannot be recorded is no decision: an error here exits 1.
    const event = await recordReleaseDecision(database, record, actor);
    const result = { ok: decision !== 'no_go', ...record, gates: evaluation.gates, event: { type: 'ReleaseDecisionRecorded', ...event } };
    if (flags.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else {
      process.stdout.write(`release ${release}: ${decision.toUpperCase()}${decision === 'no_go' ? '' : evaluation.bundle ? ` (bundle ${evaluation.bundle.id.slice(0, 16)}, ${evaluation.gates.length} gate summaries ok, key ${evaluation.key_source ?? '-'})` : ''}\n`);
      for (const r of reasons) process.stdout.write(`  ${r.code}: ${r.detail}\n`);
      for (const g of guardrails) process.stdout.write(`  guardrail: ${g}\n`);
      process.stdout.write(`recorded: ReleaseDecisionRecorded on ${event.stream_id} (position ${event.stream_position})\n`);
    }
    return decision === 'no_go' ? EXIT.gateFailed : EXIT.ok;
  } finally {
    await close();
  }
});
