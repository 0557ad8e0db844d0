import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';

/**
 * Console session credentials (docs/console.md). The session id is a random 256-bit value that
 * lives only in an HttpOnly cookie; the server keeps HMAC-SHA-256(pepper, id). The CSRF token is
 * derived from the id with the pepper (nothing more to store) and must accompany every mutation
 * made with the cookie, in X-CSRF-Token.
 */
export const SESSION_COOKIE = 'aionis_session';
export const CSRF_HEADER = 'x-csrf-token';

export const newSessionId = (): string => randomBytes(32).toString('base64url');
export const sessionHash = (pepper: string, id: string): string => createHmac('sha256', pepper).update(`session:${id}`, 'utf8').digest('hex');
/** The public handle of a session in the log (stream id, audit trail): derived from the digest, not the id. */
export const sessionKey = (hash: string): string => hash.slice(0, 32);
export const csrfToken = (pepper: string, id: string): string => createHmac('sha256', pepper).update(`csrf:${id}`, 'utf8').digest('base64url');

export function csrfMatches(pepper: string, id: string, presented: string | undefined): boolean {
  if (!presented || presented.length > 128) return false;
  const want = Buffer.from(csrfToken(pepper, id));
  const got = Buffer.from(presented);
  return want.length === got.length && timingSafeEqual(want, got);
}

/** The session id from the Cookie header, if well-formed. */
export function sessionCookie(req: Request): string | undefined {
  const header = req.header('cookie');
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const v = part.slice(eq + 1).trim();
    return /^[A-Za-z0-9_-]{43}$/.test(v) ? v : undefined;
  }
  return undefined;
}

const flags = (req: Request): string => `Path=/; HttpOnly; SameSite=Strict${req.secure ? '; Secure' : ''}`;

export function setSessionCookie(req: Request, res: Response, id: string, maxAgeMs: number): void {
  res.append('Set-Cookie', `${SESSION_COOKIE}=${id}; ${flags(req)}; Max-Age=${Math.floor(maxAgeMs / 1000)}`);
}

export function clearSessionCookie(req: Request, res: Response): void {
  res.append('Set-Cookie', `${SESSION_COOKIE}=; ${flags(req)}; Max-Age=0`);
}

export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);
