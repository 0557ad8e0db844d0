import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed alert webhooks. Every delivery carries
 *
 *     X-Aionis-Signature: t=<unix seconds>,v1=<hex HMAC-SHA-256 of "<t>.<raw body>" with the route's secret>
 *
 * `verifyAionisSignature` is the check receivers run (docs/alerting.md shows it; it depends on
 * node:crypto only, so it can be copied as is). It refuses a body that was changed, a wrong
 * secret, and a delivery older (or newer) than the tolerance: a captured delivery replayed later
 * is rejected.
 */
export const SIGNATURE_HEADER = 'X-Aionis-Signature';
export const DEFAULT_TOLERANCE_SECONDS = 300;

export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  const v1 = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${v1}`;
}

export type VerifyResult = { ok: true } | { ok: false; reason: 'malformed' | 'stale' | 'mismatch' };

export function verifyAionisSignature(
  rawBody: string,
  header: string | undefined,
  secret: string,
  toleranceSeconds: number = DEFAULT_TOLERANCE_SECONDS,
  nowSeconds: number = Math.floor(Date.now() / 1000),
): VerifyResult {
  if (!header) return { ok: false, reason: 'malformed' };
  const parts = new Map<string, string[]>();
  for (const item of header.split(',')) {
    const i = item.indexOf('=');
    if (i <= 0) continue;
    const k = item.slice(0, i).trim();
    parts.set(k, [...(parts.get(k) ?? []), item.slice(i + 1).trim()]);
  }
  const t = parts.get('t')?.[0];
  const candidates = parts.get('v1') ?? [];
  if (!t || !/^\d{1,12}$/.test(t) || candidates.length === 0) return { ok: false, reason: 'malformed' };
  if (Math.abs(nowSeconds - Number(t)) > toleranceSeconds) return { ok: false, reason: 'stale' };
  const expected = Buffer.from(createHmac('sha256', secret).update(`${t}.${rawBody}`).digest('hex'), 'utf8');
  for (const c of candidates) {
    const got = Buffer.from(c, 'utf8');
    if (got.length === expected.length && timingSafeEqual(got, expected)) return { ok: true };
  }
  return { ok: false, reason: 'mismatch' };
}
