import type { KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import { keyIdOf, parseSealPublicKey } from '../../platform/config/seal-key';
import type { Database } from '../../platform/db/database';
import type { DB } from '../../platform/db/schema';
import { eventMetadata, newCommandId, systemCommandContext } from '../../platform/event-store/command-context';
import type { Actor } from '../../platform/event-store/event-store';
import { PostgresEventStore } from '../../platform/event-store/postgres-event-store';
import { bundlePrefix, listBundles, type StoredBundle, verifyBundle, verifyChain } from '../evidence/bundles';
import { archivedBundles } from '../evidence/evidence-archive';
import type { EvidenceStore } from '../evidence/evidence-store';
import { isSummaryPath } from './release-evidence';
import { releaseStreamId } from './release-version';

/**
 * The release rule (runbooks/release.md): a release may go only with a verified release evidence
 * bundle for exactly that release in which every gate passed, and with artefact links (the plan:
 * "hosted rollout decisions require artifact links, not screenshots"). Every decision, refusals
 * included, is recorded as ReleaseDecisionRecorded on the stream `release-<version>`.
 */

export type ReleaseDecision = 'go' | 'go_with_guardrails' | 'no_go';

export type ReasonCode =
  | 'no_bundle'
  | 'bundle_not_in_log'
  | 'log_bundle_missing_from_archive'
  | 'no_trusted_key'
  | 'signing_key_mismatch'
  | 'bundle_not_verified'
  | 'chain_broken'
  | 'bundle_incomplete'
  | 'bundle_release_mismatch'
  | 'bundle_verdict_fail'
  | 'gate_failed'
  | 'not_strict'
  | 'no_artifact_links'
  | 'artifact_url_invalid'
  | 'artifact_links_screenshots_only'
  | 'guardrails_missing';

export interface Reason {
  readonly code: ReasonCode;
  readonly detail: string;
  /** gate_failed: the gate (its summary's `gate`) and the bundle path of its summary. */
  readonly gate?: string;
  readonly path?: string;
  readonly failing?: readonly string[];
}

// ---------------------------------------------------------------- artefact links

/** An image is a screenshot, not an artefact: links must lead to the evidence itself (CI run, bundle, report). */
const IMAGE = /\.(png|jpe?g|gif|webp|bmp|svg|heic|tiff?)$/i;

export function isImageLink(url: URL): boolean {
  return IMAGE.test(url.pathname);
}

/**
 * Artefact links: at least one; each an absolute http(s) URL without credentials (a link lands in
 * the audit trail); and at least one that is not an image (screenshots alone are not evidence).
 */
export function artifactLinkReasons(urls: readonly string[]): Reason[] {
  if (urls.length === 0) return [{ code: 'no_artifact_links', detail: 'no --artifact-url: a rollout decision needs links to its artefacts (the CI run, the uploaded bundle), not screenshots' }];
  const reasons: Reason[] = [];
  const good: URL[] = [];
  for (const raw of urls) {
    let u: URL | null = null;
    try {
      u = new URL(raw);
    } catch {
      u = null;
    }
    if (!u || (u.protocol !== 'https:' && u.protocol !== 'http:') || u.hostname === '') {
      reasons.push({ code: 'artifact_url_invalid', detail: `${JSON.stringify(raw.slice(0, 200))} is not an http(s) link (file:, relative paths and other schemes are not artefact links others can open)` });
    } else if (u.username !== '' || u.password !== '') {
      reasons.push({ code: 'artifact_url_invalid', detail: `the link to ${u.host} carries credentials: links are recorded in the audit trail; use a link without user:password` });
    } else good.push(u);
  }
  if (good.length > 0 && good.every(isImageLink)) {
    reasons.push({ code: 'artifact_links_screenshots_only', detail: `every link is an image (${good.map((u) => u.pathname.split('/').pop()).join(', ')}): screenshots are not artefacts; link the CI run or the uploaded evidence bundle` });
  }
  return reasons;
}

// ---------------------------------------------------------------- the bundle

interface SummaryShape {
  readonly ok?: unknown;
  readonly gate?: unknown;
  readonly failing?: unknown;
  readonly release?: unknown;
  readonly error?: unknown;
}

export interface BundleEvaluation {
  readonly bundle: StoredBundle | null;
  readonly location: string | null;
  readonly key_source: 'pinned' | 'deployment' | 'manifest_matched_to_log' | null;
  readonly gates: { path: string; gate: string; ok: boolean; failing: string[] }[];
  readonly reasons: Reason[];
}

/**
 * Find the newest release bundle labelled with this release (in the archive, cross-checked with
 * the log's EvidenceBundleArchived events), verify it offline (signature with a trusted key,
 * every file's hash and size, no unlisted file, the chain of release bundles) and read every
 * summary.json in it. `trusted` is the pinned key (--public-key) or the deployment's own key;
 * without one, the key named in the manifest is used only when its key id is the one the log
 * recorded when the bundle was archived.
 */
export async function evaluateReleaseBundle(
  store: EvidenceStore,
  db: Kysely<DB>,
  release: string,
  trusted: { key: KeyObject; source: 'pinned' | 'deployment' } | null,
): Promise<BundleEvaluation> {
  const reasons: Reason[] = [];
  const all = await listBundles(store, 'release');
  const mine = all.filter((b) => b.manifest.labels.release === release).sort((a, b) => b.manifest.sequence - a.manifest.sequence);
  const logged = await archivedBundles(db, { kind: 'release', label: { name: 'release', value: release }, limit: 1000 });
  const bundle = mine[0] ?? null;
  if (!bundle) {
    if (logged[0]) {
      reasons.push({ code: 'log_bundle_missing_from_archive', detail: `the log records release bundle ${logged[0].bundle_id} for ${release} (archived ${logged[0].archived_at} at ${logged[0].location}), but it is not in ${store.location}: wrong --archive, or the archive lost it` });
    } else {
      const others = [...new Set(all.sort((a, b) => b.manifest.sequence - a.manifest.sequence).map((b) => b.manifest.labels.release).filter((r): r is string => typeof r === 'string'))];
      reasons.push({
        code: 'no_bundle',
        detail:
          others.length === 0
            ? `no release evidence bundle in ${store.location}: run npm run -s evidence:bundle -- --release ${release} first`
            : `no release evidence bundle for ${release} in ${store.location} (bundles exist for: ${others.slice(0, 10).join(', ')}): a bundle of another release is not evidence for this one`,
      });
    }
    return { bundle: null, location: null, key_source: null, gates: [], reasons };
  }
  const location = `${store.location}/${bundlePrefix('release', bundle.id)}`;
  const logEntry = logged.find((l) => l.bundle_id === bundle.id);
  if (!logEntry) reasons.push({ code: 'bundle_not_in_log', detail: `bundle ${bundle.id} (the newest for ${release} in the archive) was never recorded in the event log as archived: it was not made by evidence:bundle on this deployment` });
  else if (logged[0] && logged[0].bundle_id !== bundle.id) {
    reasons.push({ code: 'log_bundle_missing_from_archive', detail: `the log records a newer bundle ${logged[0].bundle_id} for ${release} than the archive's newest ${bundle.id}: the archive lost it` });
  }

  let keySource: BundleEvaluation['key_source'] = null;
  let key: KeyObject | undefined;
  const sigKeyId = bundle.signature?.key_id ?? null;
  if (trusted) {
    key = trusted.key;
    keySource = trusted.source;
  } else if (bundle.signature && logEntry) {
    try {
      const named = parseSealPublicKey(bundle.signature.public_key_pem);
      if (keyIdOf(named) === logEntry.key_id) {
        key = named;
        keySource = 'manifest_matched_to_log';
      }
    } catch {
      key = undefined;
    }
  }
  if (!key) reasons.push({ code: 'no_trusted_key', detail: 'no key to check the signature against: pass --public-key (the deployment\'s public key), or run where the service\'s key is (AUDIT_SEAL_PRIVATE_KEY or DATA_DIR)' });
  if (logEntry && sigKeyId !== null && sigKeyId !== logEntry.key_id) reasons.push({ code: 'signing_key_mismatch', detail: `manifest.sig names key ${sigKeyId}, the log recorded key ${logEntry.key_id} when the bundle was archived` });

  const findings = await verifyBundle(store, 'release', bundle.id, key);
  // Without a trusted key the signature was still checked against the manifest's key; that finding stands.
  for (const f of findings) reasons.push({ code: 'bundle_not_verified', detail: f.detail, ...(f.path ? { path: f.path } : {}) });
  for (const f of verifyChain(all)) reasons.push({ code: 'chain_broken', detail: f.detail });

  const gates: BundleEvaluation['gates'] = [];
  const summaries = bundle.manifest.files.filter((f) => isSummaryPath(f.path));
  if (!summaries.some((f) => f.path === 'summary.json')) reasons.push({ code: 'bundle_incomplete', detail: 'the bundle has no summary.json of its own (not made by evidence:bundle)' });
  if (summaries.length < 2) reasons.push({ code: 'bundle_incomplete', detail: `the bundle holds ${summaries.length} gate summary file(s): a release bundle carries preflight's, every gate's and its own` });
  for (const f of summaries) {
    const buf = await store.get(`${bundlePrefix('release', bundle.id)}/files/${f.path}`);
    let parsed: SummaryShape | null = null;
    try {
      parsed = buf ? (JSON.parse(buf.toString('utf8')) as SummaryShape) : null;
    } catch {
      parsed = null;
    }
    const gate = typeof parsed?.gate === 'string' ? parsed.gate : f.path.split('/').slice(-2, -1)[0] ?? f.path;
    const failing = Array.isArray(parsed?.failing) ? parsed.failing.filter((x): x is string => typeof x === 'string') : [];
    const ok = parsed?.ok === true;
    gates.push({ path: f.path, gate, ok, failing });
    if (!ok) {
      const why = !parsed ? 'unreadable' : failing.length > 0 ? `failing: ${failing.join(', ')}` : typeof parsed.error === 'string' ? parsed.error : 'ok is not true';
      reasons.push({ code: 'gate_failed', gate, path: f.path, failing, detail: `gate ${gate} (${f.path}) did not pass: ${why}` });
    }
    if (f.path === 'summary.json' && parsed && parsed.release !== release) reasons.push({ code: 'bundle_release_mismatch', detail: `the bundle's summary.json is for release ${String(parsed.release)}, not ${release}` });
  }
  if (bundle.manifest.labels.verdict !== 'pass') reasons.push({ code: 'bundle_verdict_fail', detail: `the bundle's signed verdict is "${bundle.manifest.labels.verdict ?? '(none)'}": evidence:bundle recorded a no-go` });
  return { bundle, location, key_source: keySource, gates, reasons };
}

// ---------------------------------------------------------------- the record

export interface ReleaseDecisionRecord {
  readonly release: string;
  readonly decision: ReleaseDecision;
  /** What the operator asked for (go or go_with_guardrails); decision is no_go when refused. */
  readonly requested: 'go' | 'go_with_guardrails';
  readonly bundle_id: string | null;
  readonly bundle_sequence: number | null;
  readonly bundle_location: string | null;
  readonly bundle_commit: string | null;
  readonly bundle_strict_warnings: boolean | null;
  readonly key_source: BundleEvaluation['key_source'];
  readonly artifact_urls: readonly string[];
  readonly guardrails: readonly string[];
  readonly reasons: readonly Reason[];
}

export async function recordReleaseDecision(database: Database, record: ReleaseDecisionRecord, actor: Actor): Promise<{ stream_id: string; stream_position: number; global_position: number }> {
  const streamId = releaseStreamId(record.release);
  const r = await new PostgresEventStore(database).append(streamId, [{ type: 'ReleaseDecisionRecorded', data: { ...record } }], {
    expectedRevision: 'any',
    tenantId: null,
    metadata: eventMetadata(systemCommandContext({ actor }), newCommandId()),
  });
  return { stream_id: streamId, stream_position: r.nextRevision, global_position: r.position.globalPosition };
}
