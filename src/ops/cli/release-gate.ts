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
import { type CliSpec, EXIT, openTarget, parseCli, runCli, UsageError } from './cli-support';

const SPEC: CliSpec = {
  name: 'release:gate',
  description: 'Decide go / go_with_guardrails / no_go for one release (runbooks/release.md) and record the decision (ReleaseDecisionRecorded on release-<VERSION>).',
  database: true,
  options: [
    ['--release <version>', `the release (required): ${RELEASE_VERSION_RULE}`],
    ['--artifact-url <url>', 'an http(s) link to the run\'s artefacts, not an image (required; repeat for more)', { repeat: true }],
    ['--decision <decision>', 'go (default) or go_with_guardrails'],
    ['--guardrail <text>', 'what is watched or limited, and until when (repeatable; go_with_guardrails needs one)', { repeat: true }],
    ['--require-strict-warnings', 'refuse a bundle collected without --strict-warnings'],
    ['--archive <dir>', "the archive (default: the deployment's, ARCHIVE_DIR or ARCHIVE_S3_*)"],
    ['--public-key <file>', "the signature key (default: the service's, else the manifest's only if the log recorded it)"],
  ],
  details: 'Go only with a verified release evidence bundle for exactly VERSION in which every gate summary passed, and an artefact link.\nEvery decision, refusals included, is recorded. Exit 0 go, 2 no-go (recorded), 1 usage or runtime error (nothing recorded).',
};

/**
 * `npm run -s release:gate`: decides go / go_with_guardrails / no_go for one release and records
 * the decision in the log. Offline on the bundle (it never trusts the archive's own word: hashes,
 * signature and chain are checked here), online on the database only to cross-check the log and
 * record the decision.
 */
void runCli(async () => {
  const flags = parseCli(SPEC);
  const v = flags.values;
  const release = typeof v.release === 'string' ? v.release.trim() : '';
  if (!release) throw new UsageError('give --release VERSION');
  if (!isReleaseVersion(release)) throw new UsageError(`--release ${JSON.stringify(release)} is not ${RELEASE_VERSION_RULE}`);
  const requested = v.decision ?? 'go';
  if (requested !== 'go' && requested !== 'go_with_guardrails') throw new UsageError('--decision must be go or go_with_guardrails (a no-go is what the gate records when it refuses)');
  const urls = flags.lists['artifact-url']!.map((u) => u.trim());
  const guardrails = flags.lists.guardrail!.map((g) => g.trim());
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
