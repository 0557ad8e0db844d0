import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';

/**
 * An alert route's URL is a credential (a Slack incoming-webhook URL is nothing else; a webhook URL
 * may carry a token), and the log is immutable and exported to auditors. So the events (and the
 * read model folded from them) hold it **sealed**: AES-256-GCM under a key derived from the
 * deployment's KEY_PEPPER, with the URL's origin in the clear so the audit trail and the API can
 * show where a route points without the key:
 *
 *     aionis-sealed:v1:<origin, base64url>.<iv, base64url>.<ciphertext + tag, base64url>
 *
 * The IV is derived from the URL (HMAC under the key), so the same URL seals to the same string:
 * a PATCH with an unchanged URL records no event. That reveals only whether two routes point at
 * the same URL. Routes created by an earlier release hold the URL in the clear and keep working.
 * Changing KEY_PEPPER makes sealed URLs unreadable (delivery fails, dead-letters, and says so):
 * set each route's URL again (docs/alerting.md), as for the signing secrets.
 */
const PREFIX = 'aionis-sealed:v1:';

export class SealedUrlError extends Error {}

export const routeUrlKey = (pepper: string): Buffer => createHmac('sha256', pepper).update('aionis-alert-route-url-key').digest();

export function sealRouteUrl(key: Buffer, url: string): string {
  const iv = createHmac('sha256', key).update(`iv:${url}`).digest().subarray(0, 12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const ct = Buffer.concat([cipher.update(url, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `${PREFIX}${Buffer.from(new URL(url).origin, 'utf8').toString('base64url')}.${iv.toString('base64url')}.${ct.toString('base64url')}`;
}

export const isSealedRouteUrl = (stored: string): boolean => stored.startsWith(PREFIX);

/** The URL to send to: unsealed, or as stored when an earlier release kept it in the clear. */
export function openRouteUrl(key: Buffer, stored: string): string {
  if (!isSealedRouteUrl(stored)) return stored;
  const [, ivText, ctText] = stored.slice(PREFIX.length).split('.');
  if (!ivText || !ctText) throw new SealedUrlError('the sealed route URL is malformed');
  const data = Buffer.from(ctText, 'base64url');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(ivText, 'base64url'));
    decipher.setAuthTag(data.subarray(data.length - 16));
    return Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString('utf8');
  } catch {
    throw new SealedUrlError('the route URL was sealed under another KEY_PEPPER: set the route URL again (PATCH /v1/admin/control/alert-routes/{route_id})');
  }
}

/** Where the route points, without the key: `https://hooks.slack.com/…`. */
export function routeUrlOrigin(stored: string): string {
  let origin = '';
  try {
    origin = isSealedRouteUrl(stored) ? Buffer.from(stored.slice(PREFIX.length).split('.')[0] ?? '', 'base64url').toString('utf8') : new URL(stored).origin;
  } catch {
    origin = '';
  }
  return `${origin}/…`;
}
