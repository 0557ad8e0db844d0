import { createHash, type KeyObject, sign, verify } from 'node:crypto';
import { canonicalJson } from '../../platform/event-store/canonical-json';

/**
 * Evidence bundles (docs/evidence.md): a manifest lists every file with its SHA-256 and size, who
 * produced it, when, the event-log position it reflects and the hash of the previous manifest of
 * the same kind (bundles of a kind form a chain). The manifest bytes are signed with Ed25519.
 * Everything here is pure: the archive and the offline verifier share it.
 */
export const BUNDLE_FORMAT = 'aionis-evidence-bundle/1';

export type BundleKind = 'governance-weekly' | 'release' | 'compliance' | 'slo-statement';
export const BUNDLE_KINDS: readonly BundleKind[] = ['governance-weekly', 'release', 'compliance', 'slo-statement'];

export interface ManifestFile {
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
}

export interface BundleManifest {
  readonly format: typeof BUNDLE_FORMAT;
  readonly kind: BundleKind;
  /** 1 for the first bundle of its kind; the chain's order. */
  readonly sequence: number;
  readonly previous_manifest_sha256: string | null;
  readonly producer: { readonly name: string; readonly version: string; readonly command: string; readonly actor: string };
  readonly created_at: string;
  /** The event-log position the bundle's content reflects ("<transaction id>:<global position>"). */
  readonly log_position: string;
  /** What the bundle is about: {week} for weekly reports, {release} for release snapshots, {period} for compliance, {tenant_id, month} for SLO statements. */
  readonly labels: Readonly<Record<string, string>>;
  readonly files: readonly ManifestFile[];
}

export interface BundleSignature {
  readonly algorithm: 'Ed25519';
  readonly key_id: string;
  readonly public_key_pem: string;
  /** Base64 Ed25519 signature over the exact bytes of manifest.json. */
  readonly signature: string;
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Bundle file paths: relative, forward slashes, no `..`, no hidden tricks. */
export function assertBundlePath(path: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/.test(path) || path.split('/').some((p) => p === '..' || p === '.')) {
    throw new Error(`invalid bundle file path "${path}"`);
  }
}

export function buildManifest(input: Omit<BundleManifest, 'format' | 'files'> & { files: readonly { path: string; content: Buffer }[] }): BundleManifest {
  const seen = new Set<string>();
  const files = input.files
    .map((f) => {
      assertBundlePath(f.path);
      if (seen.has(f.path)) throw new Error(`duplicate bundle file path "${f.path}"`);
      seen.add(f.path);
      return { path: f.path, sha256: sha256(f.content), size: f.content.length };
    })
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { format: BUNDLE_FORMAT, kind: input.kind, sequence: input.sequence, previous_manifest_sha256: input.previous_manifest_sha256, producer: input.producer, created_at: input.created_at, log_position: input.log_position, labels: input.labels, files };
}

/** The bytes written to manifest.json (and signed): canonical JSON and a newline. */
export function manifestBytes(m: BundleManifest): Buffer {
  return Buffer.from(`${canonicalJson(m)}\n`, 'utf8');
}

export function signManifest(bytes: Buffer, key: { privateKey: KeyObject; keyId: string; publicKeyPem: string }): BundleSignature {
  return { algorithm: 'Ed25519', key_id: key.keyId, public_key_pem: key.publicKeyPem, signature: sign(null, bytes, key.privateKey).toString('base64') };
}

export function signatureValid(bytes: Buffer, sig: BundleSignature, publicKey: KeyObject): boolean {
  try {
    return verify(null, bytes, publicKey, Buffer.from(sig.signature, 'base64'));
  } catch {
    return false;
  }
}

export interface BundleFinding {
  readonly bundle: string;
  readonly check: 'manifest' | 'signature' | 'key' | 'file_missing' | 'file_hash' | 'file_size' | 'file_unlisted' | 'chain';
  readonly detail: string;
  readonly path?: string;
}
