import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { PROJECTIONS } from '../../../projections';
import type { CheckResult } from '../../ops/checks/check-result';
import { parseSealPublicKey } from '../../platform/config/seal-key';
import type { Database } from '../../platform/db/database';
import type { DB } from '../../platform/db/schema';
import { OutboxRepository } from '../../data-plane/outbox/outbox.repository';
import { lastSeal, verifySealSignature } from '../../platform/event-store/seals';
import { measureLag, readCheckpoint } from '../../platform/projections/projection-store';
import { archivedBundles } from '../evidence/evidence-archive';

/**
 * The parts of a release evidence bundle that are not gate summaries (docs/release-evidence-template.md):
 * the governance state, the seal head, the build and the SBOM, each a file of the bundle, each
 * with the checks the bundle's own summary.json reports on it. Read-only.
 */

export const RELEASE_EVIDENCE_SCHEMA = 'aionis-release-evidence/1';

const pass = (name: string, severity: 'error' | 'warning', detail: string): CheckResult => ({ name, severity, pass: true, count: 0, sample: [], detail });
const fail = (name: string, severity: 'error' | 'warning', detail: string, sample: unknown[] = []): CheckResult => ({ name, severity, pass: false, count: Math.max(1, sample.length), sample: sample.slice(0, 5), detail });

// ---------------------------------------------------------------- governance state

export interface GovernanceState {
  readonly schema: 'aionis-release-governance-state/1';
  readonly log_position: string;
  readonly latest_weekly_report: { bundle_id: string; week: string | null; status: string | null; report_id: string | null; archived_at: string; log_position: string } | null;
  readonly dead_letters: {
    readonly outbox_open: number;
    readonly outbox_by_tenant: { tenant_id: string; type: string; open: number }[];
    readonly projection_parked: number;
    readonly projection_by_projection: { projection: string; parked: number }[];
  };
  readonly projections: {
    projection: string;
    code_version: number;
    stored_version: number | null;
    checkpoint: string | null;
    lag_events: number | null;
    lag_ms: number | null;
    heartbeat_age_ms: number | null;
  }[];
}

export async function governanceState(database: Database, logPosition: string): Promise<GovernanceState> {
  const db = database.db;
  const [weekly] = await archivedBundles(db, { kind: 'governance-weekly', limit: 1 });
  const outbox = (await new OutboxRepository(database).deadLettersByTenantAndType()).map((d) => ({ tenant_id: d.tenant_id, type: d.type, open: d.n }));
  const parked = await sql<{ projection: string; parked: number }>`
    SELECT projection, count(*)::int AS parked FROM proj_dead_letters WHERE status = 'parked' GROUP BY projection ORDER BY projection`.execute(db);
  const projections: GovernanceState['projections'] = [];
  for (const def of PROJECTIONS) {
    const cp = await readCheckpoint(db, def.name);
    const hb = await sql<{ age_ms: number | null }>`
      SELECT (extract(epoch FROM clock_timestamp() - heartbeat_at) * 1000)::int AS age_ms FROM proj_checkpoints WHERE projection = ${def.name}`.execute(db);
    const lag = cp ? await measureLag(db, cp.position) : null;
    projections.push({
      projection: def.name,
      code_version: def.version,
      stored_version: cp?.version ?? null,
      checkpoint: cp ? `${cp.position.transactionId}:${cp.position.globalPosition}` : null,
      lag_events: lag?.events ?? null,
      lag_ms: lag?.ms ?? null,
      heartbeat_age_ms: hb.rows[0]?.age_ms ?? null,
    });
  }
  return {
    schema: 'aionis-release-governance-state/1',
    log_position: logPosition,
    latest_weekly_report: weekly
      ? {
          bundle_id: weekly.bundle_id,
          week: weekly.labels.week ?? null,
          status: weekly.labels.status ?? null,
          report_id: weekly.labels.report_id ?? null,
          archived_at: weekly.archived_at,
          log_position: weekly.log_position,
        }
      : null,
    dead_letters: {
      outbox_open: outbox.reduce((a, r) => a + r.open, 0),
      outbox_by_tenant: outbox,
      projection_parked: parked.rows.reduce((a, r) => a + r.parked, 0),
      projection_by_projection: parked.rows,
    },
    projections,
  };
}

/**
 * The governance checks of a release: the latest weekly report must not have failed (an
 * error-level governance failure blocks a release; the original let it through); none archived
 * yet is a warning (a new deployment), so is an open dead letter (the gates fail on those).
 */
export function governanceChecks(state: GovernanceState): CheckResult[] {
  const w = state.latest_weekly_report;
  const report = !w
    ? fail('governance_weekly_report', 'warning', 'no governance weekly report has been archived on this deployment yet (npm run -s job:governance-weekly-report)')
    : w.status === 'failed'
      ? fail('governance_weekly_report', 'error', `the latest governance weekly report (${w.week ?? '?'}, bundle ${w.bundle_id.slice(0, 16)}) FAILED: fix it and archive a new report before releasing`, [w])
      : pass('governance_weekly_report', 'error', `latest governance weekly report ${w.week ?? '?'}: ${w.status ?? '?'} (bundle ${w.bundle_id.slice(0, 16)})`);
  const d = state.dead_letters;
  const letters =
    d.outbox_open + d.projection_parked === 0
      ? pass('governance_dead_letters', 'warning', 'no open outbox dead letter, no parked projection event')
      : fail('governance_dead_letters', 'warning', `${d.outbox_open} open outbox dead letter(s), ${d.projection_parked} parked projection event(s)`, [...d.outbox_by_tenant, ...d.projection_by_projection]);
  return [report, letters];
}

// ---------------------------------------------------------------- seal head

export interface SealHead {
  readonly schema: 'aionis-release-seal-head/1';
  readonly log_position: string;
  readonly seal: {
    seal_no: number;
    seal_hash: string;
    from: string;
    to: string;
    event_count: number;
    key_id: string;
    sealed_at: string;
    prev_seal_hash: string;
    signature_valid: boolean;
  } | null;
}

export async function sealHead(db: Kysely<DB>, logPosition: string): Promise<SealHead> {
  const seal = await lastSeal(db);
  if (!seal) return { schema: 'aionis-release-seal-head/1', log_position: logPosition, seal: null };
  let valid = false;
  try {
    valid = verifySealSignature(seal.body, seal.signature, parseSealPublicKey(seal.public_key));
  } catch {
    valid = false;
  }
  const b = seal.body;
  return {
    schema: 'aionis-release-seal-head/1',
    log_position: logPosition,
    seal: { seal_no: b.seal_no, seal_hash: seal.seal_hash, from: b.from, to: b.to, event_count: b.event_count, key_id: b.key_id, sealed_at: b.sealed_at, prev_seal_hash: b.prev_seal_hash, signature_valid: valid },
  };
}

export function sealChecks(head: SealHead, signingKeyId: string): CheckResult[] {
  const s = head.seal;
  if (!s) return [fail('seal_head', 'warning', 'the event log has no seal yet: the worker role writes one every AUDIT_SEAL_INTERVAL_MS (docs/audit-seals.md)')];
  if (!s.signature_valid) return [fail('seal_head', 'error', `seal ${s.seal_no} (the head) does not verify with its own public key: the seal table was edited`, [s])];
  const out = [pass('seal_head', 'error', `seal ${s.seal_no} up to ${s.to}, hash ${s.seal_hash.slice(0, 16)}, key ${s.key_id}, signature valid`)];
  out.push(
    s.key_id === signingKeyId
      ? pass('seal_key_matches_bundle_key', 'warning', `the seal head and this bundle are signed by the same key ${signingKeyId}`)
      : fail('seal_key_matches_bundle_key', 'warning', `the seal head is signed by key ${s.key_id}, this bundle by ${signingKeyId} (a key rotation, or a CLI that does not hold the service's key)`),
  );
  return out;
}

// ---------------------------------------------------------------- build

export interface BuildRecord {
  readonly schema: 'aionis-release-build/1';
  readonly release: string;
  readonly name: 'aionis-hosted';
  readonly version: string;
  readonly commit: string;
  readonly node: string;
  readonly platform: string;
  readonly created_at: string;
  /** --skip-build: the gate did not type check or build; the artefact under test was built elsewhere. */
  readonly skip_build: boolean;
  readonly skipped_steps: readonly string[];
  /** What the running server reported (GET /v1/admin/ops/runtime, through preflight). */
  readonly server: { version: string; commit: string } | null;
}

export function buildChecks(build: BuildRecord): CheckResult[] {
  const out: CheckResult[] = [];
  const s = build.server;
  if (!s) out.push(fail('build_matches_server', 'error', 'the server did not report its version and commit (preflight could not read its runtime facts)'));
  else if (s.commit === 'unknown' || build.commit === 'unknown') out.push(fail('build_matches_server', 'warning', `commit unknown (server ${s.commit}, this build ${build.commit}): set BUILD_COMMIT on both`, [{ server: s, build: { version: build.version, commit: build.commit } }]));
  else if (s.commit !== build.commit || s.version !== build.version) out.push(fail('build_matches_server', 'error', `the server runs ${s.version} at ${s.commit}, the evidence was collected by ${build.version} at ${build.commit}: run evidence:bundle from the release's own build`, [{ server: s, build: { version: build.version, commit: build.commit } }]));
  else out.push(pass('build_matches_server', 'error', `server and evidence build agree: ${build.version} at ${build.commit}`));
  out.push(
    build.skip_build
      ? { ...fail('build_not_skipped', 'warning', 'SKIPPED (--skip-build): the core gate did not type check or build; the build under test was made elsewhere (CI)', [{ skipped: build.skipped_steps }]), count: 0 }
      : pass('build_not_skipped', 'warning', 'the core gate type checked and built this checkout'),
  );
  return out;
}

// ---------------------------------------------------------------- SBOM

export interface SbomOutcome {
  readonly ok: boolean;
  /** The file for the bundle: sbom.cdx.json on success, sbom-error.json on failure (never omitted). */
  readonly file: { path: 'sbom.cdx.json' | 'sbom-error.json'; content: Buffer };
  readonly components: number | null;
  readonly check: CheckResult;
}

/** Turn the output of `npm sbom --sbom-format cyclonedx --omit dev` into a bundle file and a check. */
export function sbomOutcome(run: { command: string; exitCode: number | null; signal: string | null; stdout: string; stderr: string; error: string | null }): SbomOutcome {
  let doc: { bomFormat?: unknown; components?: unknown } | null = null;
  try {
    doc = JSON.parse(run.stdout) as { bomFormat?: unknown; components?: unknown };
  } catch {
    doc = null;
  }
  if (run.exitCode === 0 && run.error === null && doc && doc.bomFormat === 'CycloneDX') {
    const components = Array.isArray(doc.components) ? doc.components.length : 0;
    return { ok: true, file: { path: 'sbom.cdx.json', content: Buffer.from(run.stdout.endsWith('\n') ? run.stdout : `${run.stdout}\n`, 'utf8') }, components, check: pass('sbom_generated', 'error', `${run.command}: CycloneDX, ${components} component(s)`) };
  }
  const why = run.error ?? (run.exitCode !== 0 ? `exit ${run.exitCode ?? run.signal}` : 'the output is not a CycloneDX document');
  const record = { ok: false, command: run.command, exit_code: run.exitCode, signal: run.signal, error: why, stderr_tail: run.stderr.trim().split('\n').slice(-20).join('\n') };
  return {
    ok: false,
    file: { path: 'sbom-error.json', content: Buffer.from(`${JSON.stringify(record, null, 2)}\n`, 'utf8') },
    components: null,
    check: fail('sbom_generated', 'error', `${run.command}: ${why} (recorded in sbom-error.json)`, [{ error: why, stderr_tail: record.stderr_tail.split('\n').slice(-3).join('\n') }]),
  };
}

// ---------------------------------------------------------------- files

/** Every file under dir, relative with forward slashes, sorted: what the manifest must cover. */
export async function filesUnder(dir: string): Promise<{ path: string; content: Buffer }[]> {
  const out: { path: string; content: Buffer }[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out.push({ path: relative(dir, p).split(sep).join('/'), content: await readFile(p) });
      else throw new Error(`${p} is neither a file nor a directory: refusing to bundle it`);
    }
  };
  await walk(dir);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Is this bundle path a gate summary (the root summary.json or any <gate>/summary.json)? */
export const isSummaryPath = (path: string): boolean => path === 'summary.json' || path.endsWith('/summary.json');

// ---------------------------------------------------------------- RELEASE_EVIDENCE.md

export interface GateLine {
  readonly path: string;
  readonly gate: string;
  readonly ok: boolean;
  readonly failing: readonly string[];
}

export function renderReleaseEvidence(input: {
  release: string;
  verdict: 'pass' | 'fail';
  strict: boolean;
  build: BuildRecord;
  gates: readonly GateLine[];
  checks: readonly CheckResult[];
  governance: GovernanceState;
  seal: SealHead;
  sbom: { ok: boolean; components: number | null };
  logPosition: string;
}): string {
  const { build, governance: g, seal } = input;
  const lines: string[] = [];
  lines.push(`# Release evidence: ${input.release}`, '');
  lines.push(`Verdict: **${input.verdict === 'pass' ? 'PASS' : 'FAIL'}**${input.verdict === 'fail' ? ' (evidence of a no-go: the bundle is archived anyway)' : ''}`, '');
  lines.push('| | |', '| --- | --- |');
  lines.push(`| release | \`${input.release}\` |`);
  lines.push(`| build | ${build.name} ${build.version} at \`${build.commit}\`, node ${build.node} |`);
  lines.push(`| server | ${build.server ? `${build.server.version} at \`${build.server.commit}\`` : 'not reported'} |`);
  lines.push(`| collected at | ${build.created_at} |`);
  lines.push(`| log position | \`${input.logPosition}\` |`);
  lines.push(`| strict warnings | ${input.strict ? 'yes' : 'no (warnings do not fail the gates)'} |`);
  lines.push(`| build step | ${build.skip_build ? `**SKIPPED** (--skip-build: ${build.skipped_steps.join(', ')} not run by the gate; the artefact was built elsewhere)` : 'type checked and built by gate:core:prod'} |`, '');
  lines.push('## Gates', '', '| summary | gate | result | failing |', '| --- | --- | --- | --- |');
  for (const gl of input.gates) lines.push(`| \`${gl.path}\` | ${gl.gate} | ${gl.ok ? 'ok' : '**FAILED**'} | ${gl.failing.join(', ') || '-'} |`);
  lines.push('', '## Checks of this bundle (summary.json)', '', '| check | severity | result | detail |', '| --- | --- | --- | --- |');
  for (const c of input.checks) lines.push(`| ${c.name} | ${c.severity} | ${c.pass ? 'pass' : c.severity === 'error' || input.strict ? '**FAIL**' : 'warn'} | ${c.detail.replace(/\|/g, '\\|')} |`);
  lines.push('', '## Governance state (governance-state.json)', '');
  lines.push(`- Latest weekly report: ${g.latest_weekly_report ? `${g.latest_weekly_report.week ?? '?'}, ${g.latest_weekly_report.status ?? '?'}, bundle \`${g.latest_weekly_report.bundle_id}\`` : 'none archived yet'}`);
  lines.push(`- Open outbox dead letters: ${g.dead_letters.outbox_open}; parked projection events: ${g.dead_letters.projection_parked}`);
  for (const p of g.projections) lines.push(`- Projection ${p.projection} v${p.code_version}: checkpoint ${p.checkpoint ?? '-'}, lag ${p.lag_events ?? '-'} event(s) / ${p.lag_ms ?? '-'} ms, heartbeat ${p.heartbeat_age_ms ?? '-'} ms ago`);
  lines.push('', '## Seal head (seal-head.json)', '');
  lines.push(seal.seal ? `Seal ${seal.seal.seal_no} covers the log up to \`${seal.seal.to}\` (${seal.seal.event_count} event(s) in its range), hash \`${seal.seal.seal_hash}\`, key \`${seal.seal.key_id}\`, signature ${seal.seal.signature_valid ? 'valid' : '**INVALID**'}.` : 'No seal yet.');
  lines.push('', '## SBOM', '');
  lines.push(input.sbom.ok ? `\`sbom.cdx.json\`: CycloneDX from \`npm sbom --sbom-format cyclonedx --omit dev\`, ${input.sbom.components ?? 0} component(s).` : '**`npm sbom` failed**: see `sbom-error.json` (the failure is part of the evidence, not omitted).');
  lines.push('', '## Verify and decide', '');
  lines.push('The bundle id is the SHA-256 of `manifest.json`; `manifest.sig` is an Ed25519 signature of it by the deployment\'s key, and the manifest lists every file of this bundle, this one included.', '');
  lines.push('```sh', 'npm run -s evidence:verify -- <bundle id> --public-key deployment-public-key.pem', `npm run -s release:gate -- --release ${input.release} --artifact-url <link to the CI run or the uploaded bundle>`, '```', '');
  return lines.join('\n');
}
