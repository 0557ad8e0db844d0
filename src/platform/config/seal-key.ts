import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';

/**
 * The Ed25519 key that signs global seals (docs/audit-seals.md). node:crypto only. The key id is
 * the first 16 hex characters of SHA-256 over the raw 32-byte public key: every seal names the
 * key that signed it, so old seals stay verifiable after a rotation.
 */
export interface SealKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly keyId: string;
  /** SubjectPublicKeyInfo PEM, as published at /v1/audit/public-key. */
  readonly publicKeyPem: string;
  /** The raw 32-byte public key, base64. */
  readonly publicKeyBase64: string;
}

/**
 * Parse a PKCS#8 private key given as PEM (literal `\n` escapes accepted, as env files often hold
 * them) or as base64 of the DER. Throws a message that never repeats the key material.
 */
export function parseSealPrivateKey(text: string): KeyObject {
  const trimmed = text.trim();
  let key: KeyObject;
  try {
    if (trimmed.includes('-----BEGIN')) {
      key = createPrivateKey({ key: trimmed.replace(/\\n/g, '\n'), format: 'pem' });
    } else {
      if (!/^[A-Za-z0-9+/=_-]+$/.test(trimmed.replace(/\s+/g, ''))) throw new Error('not base64');
      key = createPrivateKey({ key: Buffer.from(trimmed.replace(/\s+/g, ''), 'base64'), format: 'der', type: 'pkcs8' });
    }
  } catch {
    throw new Error('must be a PKCS#8 private key: PEM (-----BEGIN PRIVATE KEY-----) or base64 of the DER');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`must be an Ed25519 key (got ${key.asymmetricKeyType ?? 'an unknown key type'})`);
  return key;
}

/** The raw 32-byte Ed25519 public key. */
export function rawPublicKey(publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new Error('not an Ed25519 public key');
  return Buffer.from(jwk.x, 'base64url');
}

export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(rawPublicKey(publicKey)).digest('hex').slice(0, 16);
}

/** A public key from SPKI PEM, or from base64 of the raw 32 bytes / the SPKI DER. Ed25519 only. */
export function parseSealPublicKey(text: string): KeyObject {
  const trimmed = text.trim();
  let key: KeyObject;
  try {
    if (trimmed.includes('-----BEGIN')) key = createPublicKey({ key: trimmed, format: 'pem' });
    else {
      const bytes = Buffer.from(trimmed.replace(/\s+/g, ''), 'base64');
      key =
        bytes.length === 32
          ? createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: bytes.toString('base64url') }, format: 'jwk' })
          : createPublicKey({ key: bytes, format: 'der', type: 'spki' });
    }
  } catch {
    throw new Error('not a public key: expected SPKI PEM (-----BEGIN PUBLIC KEY-----) or base64 of the raw 32-byte Ed25519 key');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`not an Ed25519 public key (got ${key.asymmetricKeyType ?? 'an unknown key type'})`);
  return key;
}

export function sealKeyFrom(privateKey: KeyObject): SealKey {
  const publicKey = createPublicKey(privateKey);
  return {
    privateKey,
    publicKey,
    keyId: keyIdOf(publicKey),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    publicKeyBase64: rawPublicKey(publicKey).toString('base64'),
  };
}

export function generateSealPrivateKeyPem(): string {
  const { privateKey } = generateKeyPairSync('ed25519');
  return privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}
