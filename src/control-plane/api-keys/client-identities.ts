import type { ClientCertificateIdentity } from '../../platform/http/client-certificate';

/**
 * allowed_client_identities: the client certificates an API key may be used with
 * (docs/control-plane-api.md#client-certificate-identities). Each entry is `kind:value`:
 *
 * - `cn:<name>`     equals a subject common name of the certificate (exact, case-sensitive);
 * - `dns:<name>`    equals a subjectAltName DNS entry (ASCII case-insensitive; no wildcard
 *                   expansion: `dns:*.agents.example` matches only a certificate whose SAN is
 *                   literally `*.agents.example`);
 * - `uri:<uri>`     equals a subjectAltName URI entry (exact, e.g. `uri:spiffe://acme/booker`);
 * - `sha256:<hex>`  is the SHA-256 fingerprint of the DER certificate (64 hex digits, colons
 *                   allowed, stored lowercase without colons): pins one certificate.
 *
 * A key with entries is usable only on a request that came over mutual TLS with a client
 * certificate the listener verified against its client CA bundle, matching at least one entry.
 * An empty list means no restriction.
 */
export const CLIENT_IDENTITY_KINDS = ['cn', 'dns', 'uri', 'sha256'] as const;
export const CLIENT_IDENTITY_RULE = 'cn:<common name>, dns:<SAN DNS name>, uri:<SAN URI> or sha256:<64 hex digits>';
export const MAX_CLIENT_IDENTITIES = 20;

/** The stored form of an entry (sha256 lowercased without colons, dns lowercased), or null when it is not one. */
export function normaliseClientIdentity(entry: string): string | null {
  const i = entry.indexOf(':');
  if (i <= 0) return null;
  const kind = entry.slice(0, i);
  const value = entry.slice(i + 1);
  if (value === '' || value.length > 512 || /[\u0000-\u001f\u007f]/.test(value) || value.trim() !== value) return null;
  switch (kind) {
    case 'cn':
    case 'uri':
      return `${kind}:${value}`;
    case 'dns':
      return /^[A-Za-z0-9*_.-]+$/.test(value) ? `dns:${value.toLowerCase()}` : null;
    case 'sha256': {
      const hex = value.replace(/:/g, '').toLowerCase();
      return /^[0-9a-f]{64}$/.test(hex) ? `sha256:${hex}` : null;
    }
    default:
      return null;
  }
}

/** Does a request's client certificate satisfy the key's allowed identities? (an empty list: always) */
export function clientIdentityAllows(allowed: readonly string[], cert: ClientCertificateIdentity | null): boolean {
  if (allowed.length === 0) return true;
  if (!cert || !cert.verified) return false;
  return allowed.some((entry) => {
    const i = entry.indexOf(':');
    const kind = entry.slice(0, i);
    const value = entry.slice(i + 1);
    switch (kind) {
      case 'cn':
        return cert.commonNames.includes(value);
      case 'dns':
        return cert.dnsNames.some((d) => d.toLowerCase() === value.toLowerCase());
      case 'uri':
        return cert.uris.includes(value);
      case 'sha256':
        return cert.sha256 === value;
      default:
        return false;
    }
  });
}
