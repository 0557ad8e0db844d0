import type { KeyObject } from 'node:crypto';
import { parseSealPublicKey } from '../../platform/config/seal-key';
import type { EvidenceStore } from './evidence-store';
import { BUNDLE_FORMAT, type BundleFinding, type BundleKind, BUNDLE_KINDS, type BundleManifest, type BundleSignature, manifestBytes, sha256, signatureValid } from './manifest';

/** A bundle as stored: `<kind>/<manifest sha256>/{manifest.json, manifest.sig, files/<path>}`. */
export interface StoredBundle {
  /** The SHA-256 of manifest.json: the bundle's id and its address. */
  readonly id: string;
  readonly kind: BundleKind;
  readonly manifest: BundleManifest;
  readonly signature: BundleSignature | null;
}

export const bundlePrefix = (kind: BundleKind, id: string): string => `${kind}/${id}`;

/**
 * Write a signed bundle. Order matters: every file first, then the manifest that covers them,
 * then its signature, so a bundle whose signature exists is complete (the original wrote files
 * after the index that was meant to cover them).
 */
export async function writeBundle(store: EvidenceStore, manifest: BundleManifest, signature: BundleSignature, files: readonly { path: string; content: Buffer }[]): Promise<StoredBundle> {
  const bytes = manifestBytes(manifest);
  const id = sha256(bytes);
  const prefix = bundlePrefix(manifest.kind, id);
  for (const f of files) {
    const listed = manifest.files.find((m) => m.path === f.path);
    if (!listed || listed.sha256 !== sha256(f.content)) throw new Error(`file ${f.path} does not match the manifest`);
    await store.put(`${prefix}/files/${f.path}`, f.content);
  }
  if (files.length !== manifest.files.length) throw new Error('the manifest lists files that were not given');
  await store.put(`${prefix}/manifest.json`, bytes);
  await store.put(`${prefix}/manifest.sig`, Buffer.from(`${JSON.stringify(signature, null, 2)}\n`));
  return { id, kind: manifest.kind, manifest, signature };
}

function parseJson<T>(buf: Buffer | null): T | null {
  if (!buf) return null;
  try {
    return JSON.parse(buf.toString('utf8')) as T;
  } catch {
    return null;
  }
}

/** Every bundle of a kind (or all kinds), in chain order (sequence, then id). Unreadable manifests are skipped here; verify reports them. */
export async function listBundles(store: EvidenceStore, kind?: BundleKind): Promise<StoredBundle[]> {
  const out: StoredBundle[] = [];
  for (const k of kind ? [kind] : BUNDLE_KINDS) {
    const keys = await store.list(k);
    for (const key of keys.filter((x) => /^[a-z-]+\/[0-9a-f]{64}\/manifest\.json$/.test(x))) {
      const id = key.split('/')[1]!;
      const b = await readBundle(store, k, id);
      if (b) out.push(b);
    }
  }
  return out.sort((a, b) => a.kind.localeCompare(b.kind) || a.manifest.sequence - b.manifest.sequence || a.id.localeCompare(b.id));
}

export async function readBundle(store: EvidenceStore, kind: BundleKind, id: string): Promise<StoredBundle | null> {
  const manifest = parseJson<BundleManifest>(await store.get(`${bundlePrefix(kind, id)}/manifest.json`));
  if (!manifest) return null;
  return { id, kind, manifest, signature: parseJson<BundleSignature>(await store.get(`${bundlePrefix(kind, id)}/manifest.sig`)) };
}

/** Find a bundle by its id or an id prefix of at least 8 hex characters, in any kind. */
export async function findBundle(store: EvidenceStore, ref: string): Promise<StoredBundle | null> {
  if (!/^[0-9a-f]{8,64}$/.test(ref)) return null;
  for (const kind of BUNDLE_KINDS) {
    const ids = new Set((await store.list(kind)).map((k) => k.split('/')[1] ?? '').filter((id) => id.startsWith(ref)));
    if (ids.size > 1) throw new Error(`bundle id prefix ${ref} is ambiguous`);
    const [id] = [...ids];
    if (id) return readBundle(store, kind, id);
  }
  return null;
}

/**
 * Verify one bundle offline: manifest well-formed and addressed by its own hash, signature valid
 * (against `trustedKey` when the auditor pins one, else the key the signature names), every listed
 * file present with its hash and size, no unlisted file.
 */
export async function verifyBundle(store: EvidenceStore, kind: BundleKind, id: string, trustedKey?: KeyObject): Promise<BundleFinding[]> {
  const findings: BundleFinding[] = [];
  const prefix = bundlePrefix(kind, id);
  const bytes = await store.get(`${prefix}/manifest.json`);
  if (!bytes) return [{ bundle: id, check: 'manifest', detail: `${prefix}/manifest.json is missing` }];
  if (sha256(bytes) !== id) findings.push({ bundle: id, check: 'manifest', detail: `manifest.json hashes to ${sha256(bytes)}, not to the bundle id ${id}: the manifest was edited` });
  const manifest = parseJson<BundleManifest>(bytes);
  if (!manifest || manifest.format !== BUNDLE_FORMAT || manifest.kind !== kind || !Array.isArray(manifest.files)) {
    findings.push({ bundle: id, check: 'manifest', detail: `manifest.json is not an ${BUNDLE_FORMAT} manifest of kind ${kind}` });
    return findings;
  }
  const sig = parseJson<BundleSignature>(await store.get(`${prefix}/manifest.sig`));
  if (!sig || sig.algorithm !== 'Ed25519' || typeof sig.signature !== 'string') findings.push({ bundle: id, check: 'signature', detail: 'manifest.sig is missing or unreadable' });
  else {
    let key: KeyObject | undefined = trustedKey;
    if (!key) {
      try {
        key = parseSealPublicKey(sig.public_key_pem);
      } catch {
        findings.push({ bundle: id, check: 'key', detail: 'manifest.sig carries no usable public key' });
      }
    }
    if (key && !signatureValid(bytes, sig, key)) {
      findings.push({ bundle: id, check: 'signature', detail: trustedKey ? 'the signature does not verify with the pinned public key' : 'the signature over manifest.json does not verify' });
    }
  }
  const stored = new Set((await store.list(prefix)).filter((k) => k.startsWith(`${prefix}/files/`)).map((k) => k.slice(prefix.length + '/files/'.length)));
  for (const f of manifest.files) {
    const content = await store.get(`${prefix}/files/${f.path}`);
    stored.delete(f.path);
    if (!content) findings.push({ bundle: id, check: 'file_missing', path: f.path, detail: `${f.path} is listed in the manifest but missing` });
    else if (sha256(content) !== f.sha256) findings.push({ bundle: id, check: 'file_hash', path: f.path, detail: `${f.path} hashes to ${sha256(content)}, the manifest says ${f.sha256}: the file was changed` });
    else if (content.length !== f.size) findings.push({ bundle: id, check: 'file_size', path: f.path, detail: `${f.path} has ${content.length} bytes, the manifest says ${f.size}` });
  }
  for (const extra of stored) findings.push({ bundle: id, check: 'file_unlisted', path: extra, detail: `${extra} is in the bundle but not in its manifest` });
  return findings;
}

/**
 * Verify the chain of a kind: sequences 1..n with no gap, each manifest naming the hash of the one
 * before it, one bundle per sequence (a fork means two bundles claim the same place).
 */
export function verifyChain(bundles: readonly StoredBundle[]): BundleFinding[] {
  const findings: BundleFinding[] = [];
  const byKind = new Map<BundleKind, StoredBundle[]>();
  for (const b of bundles) byKind.set(b.kind, [...(byKind.get(b.kind) ?? []), b]);
  for (const [kind, list] of byKind) {
    const sorted = [...list].sort((a, b) => a.manifest.sequence - b.manifest.sequence);
    const ids = new Set(sorted.map((b) => b.id));
    let expected = 1;
    let previous: StoredBundle | undefined;
    for (const b of sorted) {
      const seq = b.manifest.sequence;
      if (previous && seq === previous.manifest.sequence) {
        findings.push({ bundle: b.id, check: 'chain', detail: `${kind}: bundles ${previous.id} and ${b.id} both claim sequence ${seq} (a fork)` });
        continue;
      }
      if (seq !== expected) findings.push({ bundle: b.id, check: 'chain', detail: `${kind}: sequence ${seq} follows ${expected - 1}: bundle(s) ${expected}..${seq - 1} are missing from the archive` });
      const prev = b.manifest.previous_manifest_sha256;
      if (seq === 1 && prev !== null) findings.push({ bundle: b.id, check: 'chain', detail: `${kind}: the first bundle names a previous bundle ${prev}` });
      if (seq > 1) {
        if (prev === null) findings.push({ bundle: b.id, check: 'chain', detail: `${kind}: bundle ${seq} names no previous bundle` });
        else if (!ids.has(prev)) findings.push({ bundle: b.id, check: 'chain', detail: `${kind}: bundle ${seq} names previous bundle ${prev}, which is not in the archive (removed?)` });
        else if (previous && prev !== previous.id) findings.push({ bundle: b.id, check: 'chain', detail: `${kind}: bundle ${seq} names previous ${prev}, but bundle ${seq - 1} is ${previous.id}` });
      }
      expected = seq + 1;
      previous = b;
    }
  }
  return findings;
}
