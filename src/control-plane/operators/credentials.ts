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
  const ba = Buffer.from(a, 'hex');
  const bb = Buffer.from(b, 'hex');
  return ba.length === bb.length && ba.length > 0 && timingSafeEqual(ba, bb);
}

/** What may be shown of a token: its prefix and last 4 characters. */
export function tokenHint(token: string): string {
  const prefix = token.startsWith(OPERATOR_TOKEN_PREFIX) ? OPERATOR_TOKEN_PREFIX : '';
  return `${prefix}…${token.slice(-4)}`;
}
