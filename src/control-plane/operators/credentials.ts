import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Operator credentials: random tokens, stored and compared only as HMAC-SHA-256(pepper, token). */
export const OPERATOR_TOKEN_PREFIX = 'aio_admin_';

export function generateOperatorToken(): string {
  return `${OPERATOR_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
}

export function hashToken(pepper: string, token: string): string {
  return createHmac('sha256', pepper).update(token, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex digests. */
export function digestsEqual(a: string, b: string): boolean {
  // Buffer.from(…, 'hex') silently drops a trailing odd digit and anything after a non-hex
  // character, so check the strings themselves first.
  if (a.length !== b.length || a.length === 0 || !HEX.test(a) || !HEX.test(b)) return false;
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}

const HEX = /^(?:[0-9a-f]{2})+$/i;

/** What may be shown of a token: its prefix and last 4 characters. */
export function tokenHint(token: string): string {
  const prefix = token.startsWith(OPERATOR_TOKEN_PREFIX) ? OPERATOR_TOKEN_PREFIX : '';
  return `${prefix}…${token.slice(-4)}`;
}
