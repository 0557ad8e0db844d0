import { createHash, createHmac, randomBytes } from 'node:crypto';

/**
 * API key format: `aio_<env>_<key id>_<secret><checksum>`.
 * - env: `live` (or `test`);
 * - key id: `k` + 19 base32 characters; public, used to look the key up;
 * - secret: 32 random bytes, base64url (43 characters, 256 bits);
 * - checksum: first 8 hex characters of SHA-256 over everything before it, so a mistyped or
 *   truncated key is rejected without touching the database.
 * Only HMAC-SHA-256(pepper, secret) is stored.
 */
export type KeyEnvironment = 'live' | 'test';
const PATTERN = /^aio_(live|test)_(k[a-z2-7]{19})_([A-Za-z0-9_-]{43})([0-9a-f]{8})$/;
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

export interface ParsedKey {
  readonly env: KeyEnvironment;
  readonly keyId: string;
  readonly secret: string;
}

function checksum(body: string): string {
  return createHash('sha256').update(body, 'utf8').digest('hex').slice(0, 8);
}

export function newKeyId(): string {
  const bytes = randomBytes(19);
  let id = 'k';
  for (const b of bytes) id += BASE32[b % 32];
  return id;
}

export function generateApiKey(env: KeyEnvironment = 'live', keyId: string = newKeyId()): { token: string; keyId: string; secret: string } {
  const secret = randomBytes(32).toString('base64url');
  const body = `aio_${env}_${keyId}_${secret}`;
  return { token: `${body}${checksum(body)}`, keyId, secret };
}

/** Parse and checksum-verify a presented key; null for anything malformed (no database access). */
export function parseApiKey(token: string): ParsedKey | null {
  if (token.length !== 4 + 5 + 20 + 1 + 43 + 8) return null;
  const m = PATTERN.exec(token);
  if (!m) return null;
  const body = token.slice(0, -8);
  if (checksum(body) !== m[4]) return null;
  return { env: m[1] as KeyEnvironment, keyId: m[2]!, secret: m[3]! };
}

export function hashSecret(pepper: string, secret: string): string {
  return createHmac('sha256', pepper).update(`api-key:${secret}`, 'utf8').digest('hex');
}

/** What may be shown after creation: the prefix with the key id, and the last 4 characters. */
export function displayOf(token: string): string {
  const m = /^(aio_(?:live|test)_k[a-z2-7]{19})_/.exec(token);
  return `${m ? m[1] : 'aio'}_…${token.slice(-4)}`;
}
