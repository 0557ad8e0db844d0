import { createHash, type KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { keyIdOf, parseSealPublicKey } from '../../platform/config/seal-key';
import type { Database } from '../../platform/db/database';
import { canonicalJson } from '../../platform/event-store/canonical-json';
import { type Checkpoint, checkpointOf, compareCheckpoints, parseCheckpoint, type RecordedEvent, START } from '../../platform/event-store/event-store';
import { readAllFrom } from '../../platform/event-store/postgres-event-store';
import {
  HashListDigest,
  lastSeal,
  proveTenant,
  type SealBody,
  sealLinkProblems,
  sealsForExport,
  type TenantProof,
  verifySealSignature,
  verifyTenantProof,
} from '../../platform/event-store/seals';
import { verifyChains } from '../../platform/event-store/verify';

export const EXPORT_FORMAT = 'aionis-audit-export/1';

export interface StreamSummary {
  first_position: number;
  last_position: number;
  count: number;
  /** prev_hash of the first exported event (64 zeros for a stream exported from its start). */
  anchor_prev_hash: string;
  head_hash: string;
}

/** A global seal as an export carries it: the signed body and this tenant's proof against its tenants_root. */
export interface ExportSeal {
  body: SealBody;
  signature: string;
  key_id: string;
  tenant_proof: TenantProof;
}

export interface ExportManifest {
  format: typeof EXPORT_FORMAT;
  tenant_id: string;
  from: string | null;
  to: string | null;
  exported_at: string;
  /** The log position the export is complete up to. */
  position: string;
  events: number;
  streams: Record<string, StreamSummary>;
  file_sha256: string;
  /**
   * Global seals covering the export (docs/audit-seals.md): for an unfiltered export every seal up
   * to `position`, from seal 1; for a --from/--to window the seals whose ranges meet the exported
   * events. Absent in exports made before seals existed.
   */
  seals?: ExportSeal[];
  /** SPKI PEM of the key that signed the last seal (null: no seals). Trust it only after comparing it with the published key. */
  seal_public_key?: string | null;
  /** Every signing key the seals name (key rotation), by key id. */
  seal_public_keys?: Record<string, string>;
  /** Exported events after the last seal's range: not covered by any seal yet. */
  unsealed_events?: number;
}

/**
 * Export one tenant's events (gap-safe global order, optionally a recorded_at window) as NDJSON,
 * one canonical JSON event per line, and build the manifest an auditor verifies it against.
 * Calls `write` per line and `progress` every 5,000 events.
 */
export async function exportTenant(
  database: Database,
  opts: { tenantId: string; from?: string; to?: string },
  write: (line: string) => Promise<void> | void,
  progress: (events: number) => void = () => undefined,
): Promise<Omit<ExportManifest, 'file_sha256' | 'exported_at'>> {
  const streams: Record<string, StreamSummary> = {};
  let after: Checkpoint = START;
  let count = 0;
  // Only events past the newest seal at the start can end up unsealed: remember just those positions.
  const sealedAtStart = await lastSeal(database.db);
  const unsealedFrom = sealedAtStart ? parseCheckpoint(sealedAtStart.body.to) : START;
  const recent: Checkpoint[] = [];
  let first: Checkpoint | undefined;
  let lastExported: Checkpoint | undefined;
  for (;;) {
    const page = await readAllFrom(database.db, { after, limit: 5000 });
    if (page.length === 0) break;
    for (const e of page) {
      if (e.tenantId !== opts.tenantId) continue;
      if (opts.from && e.recordedAt < opts.from) continue;
      if (opts.to && e.recordedAt >= opts.to) continue;
      await write(`${canonicalJson(e)}\n`);
      count += 1;
      first ??= checkpointOf(e);
      lastExported = checkpointOf(e);
      if (compareCheckpoints(e, unsealedFrom) > 0) recent.push(checkpointOf(e));
      const s = streams[e.streamId];
      if (!s) streams[e.streamId] = { first_position: e.streamPosition, last_position: e.streamPosition, count: 1, anchor_prev_hash: e.prevHash, head_hash: e.hash };
      else {
        s.last_position = e.streamPosition;
        s.count += 1;
        s.head_hash = e.hash;
      }
      if (count % 5000 === 0) progress(count);
    }
    const last = page[page.length - 1]!;
    after = { transactionId: last.transactionId, globalPosition: last.globalPosition };
  }
  progress(count);
  // A window carries the seals its events fall in; a whole export every seal up to its position.
  const filtered = Boolean(opts.from || opts.to);
  const meets = first && lastExported ? { first, last: lastExported } : undefined;
  const sealed = filtered && !meets ? { seals: [], keys: {} } : await coveringSeals(database, opts.tenantId, { upTo: after, ...(filtered ? { meets } : {}) });
  const lastSealed = sealed.seals.at(-1);
  const lastTo = lastSealed ? parseCheckpoint(lastSealed.body.to) : undefined;
  // Every exported event at or before unsealedFrom lies in a seal the export includes (seals only grow).
  const unsealed = lastTo ? recent.filter((c) => compareCheckpoints(c, lastTo) > 0).length : count;
  return {
    format: EXPORT_FORMAT,
    tenant_id: opts.tenantId,
    from: opts.from ?? null,
    to: opts.to ?? null,
    position: `${after.transactionId}:${after.globalPosition}`,
    events: count,
    streams,
    seals: sealed.seals,
    seal_public_key: lastSealed ? (sealed.keys[lastSealed.body.key_id] ?? null) : null,
    seal_public_keys: sealed.keys,
    unsealed_events: unsealed,
  };
}

/** The seals to carry, each reduced to its body, signature and this tenant's proof (the other tenants' entries are dropped here). */
async function coveringSeals(
  database: Database,
  tenantId: string,
  opts: { upTo: Checkpoint; meets?: { first: Checkpoint; last: Checkpoint } | undefined },
): Promise<{ seals: ExportSeal[]; keys: Record<string, string> }> {
  const seals: ExportSeal[] = [];
  const keys: Record<string, string> = {};
  for (;;) {
    const page = await sealsForExport(database.db, { upTo: opts.upTo, ...(opts.meets ? { meets: opts.meets } : {}), afterSealNo: seals.at(-1)?.body.seal_no ?? 0, limit: 1000 });
    for (const s of page) {
      seals.push({ body: s.body, signature: s.signature, key_id: s.body.key_id, tenant_proof: proveTenant(s.tenants, tenantId) });
      keys[s.body.key_id] ??= publicKeyPem(s.public_key);
    }
    if (page.length < 1000) return { seals, keys };
  }
}

function publicKeyPem(rawBase64: string): string {
  return parseSealPublicKey(rawBase64).export({ format: 'pem', type: 'spki' }).toString();
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export interface VerifyFinding {
  readonly check: 'file_sha256' | 'parse' | 'order' | 'chain' | 'manifest_streams' | 'manifest_counts' | 'manifest_heads' | 'seal';
  readonly detail: string;
  readonly event_id?: string;
  readonly stream_id?: string;
  readonly stream_position?: number;
  readonly line?: number;
  readonly seal_no?: number;
}

export interface VerifyOptions {
  /** The seal keys the auditor trusts (--public-key). Absent: the manifest's own keys, which prove nothing against whoever wrote the manifest. */
  readonly trustedSealKeys?: readonly KeyObject[];
}

export interface SealReport {
  readonly seals: number;
  readonly last_seal_no: number | null;
  readonly key_pinned: boolean;
  /** Key ids the seals were checked against. */
  readonly trusted_key_ids: readonly string[];
  /** Exported events after the last seal: nothing vouches for their presence or order yet. */
  readonly unsealed_events: number;
}

/** Verify an export against its manifest, offline: file hash, commit order, hash chains, counts and heads, and the global seals. */
export function verifyExport(lines: readonly string[], fileSha256: string, manifest: ExportManifest, options: VerifyOptions = {}): VerifyFinding[] {
  return verifyExportReport(lines, fileSha256, manifest, options).findings;
}

export function verifyExportReport(
  lines: readonly string[],
  fileSha256: string,
  manifest: ExportManifest,
  options: VerifyOptions = {},
): { findings: VerifyFinding[]; seals: SealReport } {
  const findings: VerifyFinding[] = [];
  const noSeals: SealReport = { seals: 0, last_seal_no: null, key_pinned: options.trustedSealKeys !== undefined, trusted_key_ids: [], unsealed_events: 0 };
  if (fileSha256 !== manifest.file_sha256) findings.push({ check: 'file_sha256', detail: `file SHA-256 ${fileSha256} differs from the manifest's ${manifest.file_sha256}` });
  const events: RecordedEvent[] = [];
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    try {
      events.push(JSON.parse(line) as RecordedEvent);
    } catch {
      findings.push({ check: 'parse', detail: `line ${i + 1} is not JSON`, line: i + 1 });
      return { findings, seals: noSeals };
    }
  }
  for (let i = 1; i < events.length; i++) {
    if (compareCheckpoints(events[i - 1]!, events[i]!) >= 0) {
      const e = events[i]!;
      findings.push({ check: 'order', detail: `line ${i + 1} is out of commit order`, event_id: e.eventId, stream_id: e.streamId, stream_position: e.streamPosition, line: i + 1 });
      break;
    }
  }
  const anchors = new Map(Object.entries(manifest.streams).map(([id, s]) => [id, { position: s.first_position, prevHash: s.anchor_prev_hash }]));
  const { breaks } = verifyChains(events, anchors);
  const first = breaks[0];
  if (first) findings.push({ check: 'chain', detail: `${breaks.length} break(s); first: ${first.reason}`, event_id: first.eventId, stream_id: first.streamId, stream_position: first.streamPosition });
  const seen = new Map<string, { count: number; head: string; last: number }>();
  for (const e of events) {
    const s = seen.get(e.streamId);
    seen.set(e.streamId, { count: (s?.count ?? 0) + 1, head: e.hash, last: e.streamPosition });
  }
  for (const [id, s] of Object.entries(manifest.streams)) {
    const got = seen.get(id);
    if (!got) findings.push({ check: 'manifest_streams', detail: `stream ${id} (${s.count} events) is missing from the file`, stream_id: id });
    else {
      if (got.count !== s.count) findings.push({ check: 'manifest_counts', detail: `stream ${id}: ${got.count} events in the file, ${s.count} in the manifest`, stream_id: id });
      if (got.head !== s.head_hash) findings.push({ check: 'manifest_heads', detail: `stream ${id}: its last event (${got.last}) is not the manifest's head (truncated?)`, stream_id: id, stream_position: got.last });
    }
  }
  for (const id of seen.keys()) if (!manifest.streams[id]) findings.push({ check: 'manifest_streams', detail: `stream ${id} is in the file but not in the manifest`, stream_id: id });
  if (events.length !== manifest.events) findings.push({ check: 'manifest_counts', detail: `${events.length} events in the file, ${manifest.events} in the manifest` });
  let seals = noSeals;
  try {
    const checked = verifySeals(events, manifest, options);
    findings.push(...checked.findings);
    seals = checked.report;
  } catch (err) {
    // Malformed positions or seal bodies: the seals cannot vouch for anything.
    findings.push({ check: 'seal', detail: `the seals could not be checked: ${err instanceof Error ? err.message : String(err)}` });
  }
  return { findings, seals };
}

function trustedKeys(manifest: ExportManifest, options: VerifyOptions, findings: VerifyFinding[]): Map<string, KeyObject> {
  const trusted = new Map<string, KeyObject>();
  if (options.trustedSealKeys) {
    for (const k of options.trustedSealKeys) trusted.set(keyIdOf(k), k);
    return trusted;
  }
  for (const pem of new Set([manifest.seal_public_key, ...Object.values(manifest.seal_public_keys ?? {})])) {
    if (!pem) continue;
    try {
      // The id comes from the key itself, never from the manifest's label for it.
      const k = parseSealPublicKey(pem);
      trusted.set(keyIdOf(k), k);
    } catch (err) {
      findings.push({ check: 'seal', detail: `a seal public key in the manifest is unusable: ${err instanceof Error ? err.message : String(err)}` });
    }
  }
  return trusted;
}

/**
 * The global-seal checks: each seal's signature (by a trusted key), the chain of seals, the
 * tenant's proof against each seal's tenants_root and, for an unfiltered export, that the
 * tenant's exported events inside each seal's range are exactly the sealed ones, in the sealed
 * order (count and digest of their hashes). Positions and hashes come from the file as given.
 */
function verifySeals(events: readonly RecordedEvent[], manifest: ExportManifest, options: VerifyOptions): { findings: VerifyFinding[]; report: SealReport } {
  const findings: VerifyFinding[] = [];
  const seals = manifest.seals ?? [];
  const trusted = trustedKeys(manifest, options, findings);
  const pinned = options.trustedSealKeys !== undefined;
  const unfiltered = manifest.from === null && manifest.to === null;
  const exportEnd = parseCheckpoint(manifest.position);
  const ranges = seals.map((s) => ({ from: parseCheckpoint(s.body.from), to: parseCheckpoint(s.body.to) }));

  // The tenant's exported events per seal range, in file order (which the order check holds to commit order).
  const found = seals.map(() => ({ digest: new HashListDigest(), first: undefined as RecordedEvent | undefined }));
  let unsealed = 0;
  const lastTo = ranges.at(-1)?.to;
  for (const e of events) {
    const at = checkpointOf(e);
    if (!lastTo || compareCheckpoints(at, lastTo) > 0) {
      unsealed += 1;
      continue;
    }
    const i = sealIndexFor(ranges, at);
    if (i === undefined) continue;
    found[i]!.digest.add(e.hash);
    found[i]!.first ??= e;
  }

  let prev: SealBody | undefined;
  for (const [i, s] of seals.entries()) {
    const b = s.body;
    const seal = (detail: string, e?: RecordedEvent): VerifyFinding => ({
      check: 'seal',
      seal_no: b.seal_no,
      detail,
      ...(e ? { event_id: e.eventId, stream_id: e.streamId, stream_position: e.streamPosition } : {}),
    });
    const key = trusted.get(b.key_id);
    if (b.key_id !== s.key_id) findings.push(seal(`seal ${b.seal_no}: its body names key ${b.key_id}, the manifest ${s.key_id}`));
    if (!key) findings.push(seal(`seal ${b.seal_no} is signed with key ${b.key_id}, which is not ${pinned ? 'a pinned key' : 'in the manifest'} (trusted: ${[...trusted.keys()].join(', ') || 'none'})`));
    else if (!verifySealSignature(b, s.signature, key)) findings.push(seal(`seal ${b.seal_no}: the signature does not verify (the seal body or signature was altered)`));
    // Seal 1 opens the chain of an unfiltered export; a window starts wherever its first seal is.
    if (i > 0 || unfiltered) for (const p of sealLinkProblems(prev, b)) findings.push(seal(p));
    prev = b;
    const proofOk = verifyTenantProof(b.tenants_root, manifest.tenant_id, s.tenant_proof);
    if (!proofOk) findings.push(seal(`seal ${b.seal_no}: the tenant's entry and proof do not lead to the sealed tenants_root`));
    if (!unfiltered) continue;
    if (compareCheckpoints(ranges[i]!.to, exportEnd) > 0) {
      findings.push(seal(`seal ${b.seal_no} ends at ${b.to}, after the export's position ${manifest.position}`));
      continue;
    }
    if (!proofOk) continue;
    const got = found[i]!;
    const sealed = s.tenant_proof.entry;
    const count = got.digest.count;
    const digest = got.digest.digest();
    if ((sealed?.count ?? 0) === count && (count === 0 || sealed?.digest === digest)) continue;
    const what =
      count === (sealed?.count ?? 0)
        ? 'the same number of events, but not the sealed ones in the sealed order (edited, replaced or reordered)'
        : count < (sealed?.count ?? 0)
          ? `${(sealed?.count ?? 0) - count} event(s) fewer than sealed (dropped or moved out of the range)`
          : `${count - (sealed?.count ?? 0)} event(s) more than sealed (added or moved into the range)`;
    // With nothing sealed for the tenant in this range, the first exported event in it is the intruder.
    findings.push(seal(`seal ${b.seal_no} (${b.from} .. ${b.to}): the export has ${count} event(s) of ${manifest.tenant_id} in the range, the seal ${sealed?.count ?? 0}: ${what}`, sealed ? undefined : got.first));
  }
  if (manifest.unsealed_events !== undefined && manifest.unsealed_events !== unsealed) {
    findings.push({ check: 'manifest_counts', detail: `${unsealed} event(s) after the last seal in the file, ${manifest.unsealed_events} in the manifest` });
  }
  return {
    findings,
    report: {
      seals: seals.length,
      last_seal_no: seals.at(-1)?.body.seal_no ?? null,
      key_pinned: pinned,
      trusted_key_ids: [...trusted.keys()],
      unsealed_events: unsealed,
    },
  };
}

/** Index of the seal whose range (from, to] holds `at`; ranges ascending and disjoint. */
function sealIndexFor(ranges: readonly { from: Checkpoint; to: Checkpoint }[], at: Checkpoint): number | undefined {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = ranges[mid]!;
    if (compareCheckpoints(at, r.to) > 0) lo = mid + 1;
    else if (compareCheckpoints(at, r.from) <= 0) hi = mid - 1;
    else return mid;
  }
  return undefined;
}

/**
 * The lines of an export, read as a stream: an export past ~512 MiB (about 750,000 events) cannot
 * be held as one string, so it is never read as one. Each line stays its own string.
 */
export async function readExportLines(path: string): Promise<string[]> {
  const lines: string[] = [];
  const rl = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  for await (const line of rl) lines.push(line);
  return lines;
}
