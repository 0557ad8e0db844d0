import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { archiveBundle, logPosition } from '../../governance/evidence/evidence-archive';
import { evidenceStoreFrom } from '../../governance/evidence/evidence-store.factory';
import {
  type BuildRecord,
  buildChecks,
  filesUnder,
  type GateLine,
  governanceChecks,
  governanceState,
  isSummaryPath,
  RELEASE_EVIDENCE_SCHEMA,
  renderReleaseEvidence,
  sbomOutcome,
  sealChecks,
  sealHead,
} from '../../governance/release/release-evidence';
import { isReleaseVersion, RELEASE_VERSION_RULE } from '../../governance/release/release-version';
import { buildInfo, projectRoot } from '../../platform/build-info';
import { loadConfig } from '../../platform/config/config';
import { existingSealKey } from '../../platform/config/secrets';
import { PgDatabase } from '../../platform/db/pg-database';
import { PostgresEventStore } from '../../platform/event-store/postgres-event-store';
import type { CheckResult } from '../checks/check-result';
import { assertTokenAccepted, fetchRuntime } from '../preflight/checks';
import { gateRunCheck, runChild, runGateCli, writeGateSummary } from '../preflight/run-gate';
import { type CliSpec, deploymentTarget, EXIT, parseCli, runCli, UsageError } from './cli-support';
import { recordGateRun, summarise } from './gate-report';

const SPEC: CliSpec = {
  name: 'evidence:bundle',
  description: 'The release snapshot: runs preflight:hosted --run-gates and job:consistency-check:scope --strict-warnings against the deployment, collects every summary, the governance state, the SBOM, the seal head and the build, and archives them as one signed release bundle.',
  database: true,
  options: [
    ['--release <version>', `the release (required): ${RELEASE_VERSION_RULE}`],
    ['--skip-build', 'passed to gate:core:prod'],
    ['--perf-requests <n>', 'passed to gate:core:prod as --requests'],
    ['--strict-warnings', 'a failed warning-level check fails too'],
    ['--base-url <url>', 'the running server (default AIONIS_BASE_URL)'],
    ['--out <dir>', 'keep the collected files in DIR (new or empty)'],
  ],
  details: `Archive: ARCHIVE_DIR or ARCHIVE_S3_*; signed with the service's key (AUDIT_SEAL_PRIVATE_KEY or DATA_DIR/audit-seal-key.pem).
Needs an owner or operator token in AIONIS_ADMIN_TOKEN. The bundle is archived whatever the verdict: exit 2 is a
no-go bundle archived; exit 1 archives nothing.`,
};

/**
 * `npm run -s evidence:bundle -- --release VERSION`: the release snapshot (runbooks/release.md,
 * docs/release-evidence-template.md). Everything is written to a working directory first, then
 * the manifest is built from a walk of that directory, so it covers every file; nothing is written
 * there afterwards (the original wrote its summary after the index meant to cover it).
 */
void runCli(async () => {
  const flags = parseCli(SPEC);
  const v = flags.values;
  const release = typeof v.release === 'string' ? v.release.trim() : '';
  if (!release) throw new UsageError('give --release VERSION');
  if (!isReleaseVersion(release)) throw new UsageError(`--release ${JSON.stringify(release)} is not ${RELEASE_VERSION_RULE}`);
  const strict = v['strict-warnings'] === true;
  const skipBuild = v['skip-build'] === true;
  const perfRaw = v['perf-requests'];
  if (perfRaw !== undefined && (typeof perfRaw !== 'string' || !/^\d+$/.test(perfRaw) || Number(perfRaw) < 1)) throw new UsageError('--perf-requests must be a whole number >= 1');
  const perfRequests = typeof perfRaw === 'string' ? perfRaw : undefined;
  const { databaseUrl, baseUrl, adminToken } = deploymentTarget(flags, 'an owner or operator token of the deployment (gate:core:prod creates and tears down a perf tenant)');
  const out = typeof v.out === 'string' ? v.out : undefined;
  if (out) {
    const existing = await readdir(out).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw new UsageError(`--out ${out}: ${err.message}`);
    });
    if (existing.length > 0) throw new UsageError(`--out ${out} is not empty: the bundle covers every file in it, so give a new or empty directory`);
  }
  const config = loadConfig({ ...process.env, DATABASE_URL: databaseUrl });
  // Before minutes of gates: refuse at once when there is no key to sign with (it never makes one up).
  const key = existingSealKey(config);
  const store = evidenceStoreFrom(config);
  // A token the server refuses is a runtime error: nothing is archived (not a no-go bundle).
  assertTokenAccepted(await fetchRuntime(baseUrl, adminToken, 10_000));
  const say = (line: string): void => {
    if (!flags.json) process.stderr.write(`${line}\n`);
  };

  const work = out ?? (await mkdtemp(join(tmpdir(), 'aionis-release-evidence-')));
  await mkdir(work, { recursive: true });
  const gatesDir = join(work, 'gates');
  const checks: CheckResult[] = [];
  try {
    // 1. The gates, each writing its summary.json (a gate that produced none gets a failure summary).
    const env = { ...process.env, DATABASE_URL: databaseUrl, AIONIS_BASE_URL: baseUrl, AIONIS_ADMIN_TOKEN: adminToken };
    const preArgs = ['--run-gates', ...(skipBuild ? ['--skip-build'] : []), ...(perfRequests ? ['--perf-requests', perfRequests] : []), ...(strict ? ['--strict-warnings'] : []), '--out', join(gatesDir, 'preflight')];
    say(`evidence:bundle ${release}: preflight:hosted ${preArgs.slice(0, -2).join(' ')} ...`);
    const pre = await runGateCli('preflight-hosted', preArgs, { env, timeoutMs: 60 * 60_000 });
    await writeGateSummary(gatesDir, 'preflight', pre);
    checks.push(gateRunCheck('gate_preflight_hosted', 'preflight:hosted --run-gates', pre));
    say('evidence:bundle: job:consistency-check:scope --strict-warnings ...');
    const scope = await runGateCli('consistency-scope', ['--strict-warnings', '--out', join(gatesDir, 'consistency-scope')], { env, timeoutMs: 30 * 60_000 });
    await writeGateSummary(gatesDir, 'consistency-scope', scope);
    checks.push(gateRunCheck('gate_consistency_scope', 'job:consistency-check:scope --strict-warnings', scope));

    const gates: GateLine[] = [];
    for (const f of (await filesUnder(gatesDir)).filter((x) => isSummaryPath(x.path))) {
      let s: { ok?: unknown; gate?: unknown; failing?: unknown } | null;
      try {
        s = JSON.parse(f.content.toString('utf8')) as { ok?: unknown; gate?: unknown; failing?: unknown } | null;
      } catch {
        s = null;
      }
      gates.push({ path: `gates/${f.path}`, gate: typeof s?.gate === 'string' ? s.gate : dirname(f.path), ok: s?.ok === true, failing: Array.isArray(s?.failing) ? s.failing.filter((x): x is string => typeof x === 'string') : [] });
    }
    const notOk = gates.filter((g) => !g.ok);
    // The release gate refuses a bundle with any failed summary; this bundle's verdict says so up front.
    checks.push({
      name: 'gate_summaries_ok',
      severity: 'error',
      pass: notOk.length === 0,
      count: notOk.length,
      sample: notOk.slice(0, 5),
      detail: notOk.length === 0 ? `${gates.length} gate summaries, every one ok` : `failed: ${notOk.map((g) => `${g.gate} (${g.path})`).join(', ')}`,
    });

    // 2. The deployment's state, from its own database (the one the gates checked; preflight's database_matches_server says so).
    say('evidence:bundle: governance state, seal head, SBOM ...');
    const database = new PgDatabase({ url: databaseUrl, poolSize: 2, applicationName: 'aionis-evidence-bundle' });
    try {
      const position = await logPosition(database.db);
      const governance = await governanceState(database, position);
      const seal = await sealHead(database.db, position);
      const sbomRun = await runChild('npm', ['sbom', '--sbom-format', 'cyclonedx', '--omit', 'dev'], { cwd: projectRoot(), timeoutMs: 10 * 60_000, label: 'npm sbom --sbom-format cyclonedx --omit dev' });
      const sbom = sbomOutcome(sbomRun);
      const info = buildInfo();
      const runtime = (pre.summary?.runtime ?? null) as { version?: unknown; commit?: unknown } | null;
      const core = await readFile(join(gatesDir, 'preflight', 'gate-core-prod', 'summary.json'), 'utf8').then((t) => JSON.parse(t) as { skipped?: unknown }, () => null);
      const build: BuildRecord = {
        schema: 'aionis-release-build/1',
        release,
        name: 'aionis-hosted',
        version: info.version,
        commit: info.commit,
        node: process.version,
        platform: `${process.platform}-${process.arch}`,
        created_at: new Date().toISOString(),
        skip_build: skipBuild,
        skipped_steps: Array.isArray(core?.skipped) ? core.skipped.filter((x): x is string => typeof x === 'string') : skipBuild ? ['typecheck', 'build'] : [],
        server: runtime && typeof runtime.version === 'string' && typeof runtime.commit === 'string' ? { version: runtime.version, commit: runtime.commit } : null,
      };
      checks.push(sbom.check, ...sealChecks(seal, key.keyId), ...buildChecks(build), ...governanceChecks(governance));

      const provisional = summarise('release_evidence', checks, strict);
      const verdict: 'pass' | 'fail' = provisional.ok ? 'pass' : 'fail';
      const summary = summarise('release_evidence', checks, strict, {
        schema: RELEASE_EVIDENCE_SCHEMA,
        release,
        verdict,
        log_position: position,
        build: { version: build.version, commit: build.commit, skip_build: skipBuild },
        gates,
      });
      const json = (x: unknown): string => `${JSON.stringify(x, null, 2)}\n`;
      await writeFile(join(work, 'build.json'), json(build));
      await writeFile(join(work, 'governance-state.json'), json(governance));
      await writeFile(join(work, 'seal-head.json'), json(seal));
      await writeFile(join(work, sbom.file.path), sbom.file.content);
      await writeFile(join(work, 'RELEASE_EVIDENCE.md'), renderReleaseEvidence({ release, verdict, strict, build, gates, checks, governance, seal, sbom: { ok: sbom.ok, components: sbom.components }, logPosition: position }));
      await writeFile(join(work, 'summary.json'), json(summary));

      // 3. One signed bundle over every file in the working directory; nothing is written there afterwards.
      const files = await filesUnder(work);
      const actor = { type: 'operator' as const, id: `cli:${userInfo().username}`, display: 'evidence:bundle' };
      const bundle = await archiveBundle(database, new PostgresEventStore(database), store, key, {
        kind: 'release',
        labels: { release, verdict, commit: build.commit, skip_build: String(skipBuild), strict_warnings: String(strict) },
        files,
        logPosition: position,
        actor,
        command: `evidence:bundle --release ${release}${skipBuild ? ' --skip-build' : ''}${strict ? ' --strict-warnings' : ''}`,
        version: info.version,
      });
      await recordGateRun(database, summary, 'evidence:bundle');
      const location = `${store.location}/release/${bundle.id}`;
      if (flags.json) {
        process.stdout.write(json({ ...summary, bundle: { id: bundle.id, kind: bundle.kind, sequence: bundle.manifest.sequence, location, labels: bundle.manifest.labels, files: bundle.manifest.files } }));
      } else {
        for (const c of summary.checks) {
          const mark = c.pass ? 'pass' : c.severity === 'error' || strict ? 'FAIL' : 'warn';
          process.stdout.write(`${mark.padEnd(4)}  ${c.name} (${c.count})  ${c.detail}\n`);
        }
        process.stdout.write(`release evidence ${release}: ${verdict === 'pass' ? 'PASS' : `FAIL (${summary.failing.join(', ')})`}\n`);
        process.stdout.write(`bundle ${bundle.id} (${bundle.manifest.files.length} files, sequence ${bundle.manifest.sequence}) archived at ${location}\n`);
        process.stdout.write(`next: npm run -s release:gate -- --release ${release} --artifact-url <link to this run's artefacts>\n`);
      }
      return summary.ok ? EXIT.ok : EXIT.gateFailed;
    } finally {
      await database.close();
    }
  } finally {
    if (!out) await rm(work, { recursive: true, force: true });
  }
});
