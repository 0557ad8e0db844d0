import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';

/**
 * What a client certificate presented over mutual TLS says about its holder: the names API keys
 * can be restricted to (allowed_client_identities, docs/control-plane-api.md). Only a certificate
 * the listener verified against its client CA bundle counts as an identity.
 */
export interface ClientCertificateIdentity {
  /** The certificate chained to a configured client CA (socket.authorized). */
  readonly verified: boolean;
  /** Subject common names (usually one). */
  readonly commonNames: readonly string[];
  /** subjectAltName dNSName entries. */
  readonly dnsNames: readonly string[];
  /** subjectAltName uniformResourceIdentifier entries (e.g. spiffe://...). */
  readonly uris: readonly string[];
  /** SHA-256 over the DER certificate: 64 lowercase hex digits, no colons. */
  readonly sha256: string;
}

/**
 * Parse Node's subjectaltname string (`DNS:a.example, URI:spiffe://x, IP Address:10.0.0.1`).
 * Node quotes a value holding a comma or quote as a JSON string (`DNS:"a,b"`); such values are unquoted.
 */
export function parseSubjectAltName(san: string | undefined): { readonly dns: string[]; readonly uri: string[] } {
  const dns: string[] = [];
  const uri: string[] = [];
  if (!san) return { dns, uri };
  const entry = /(DNS|URI|[A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:,\s*|$)/g;
  for (const m of san.matchAll(entry)) {
    const [, kind, raw = ''] = m;
    let value = raw;
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        continue;
      }
    }
    if (kind === 'DNS') dns.push(value);
    else if (kind === 'URI') uri.push(value);
  }
  return { dns, uri };
}

/** The client certificate of the request's connection, or null (plain HTTP, or none presented). */
export function clientCertificateOf(socket: Socket): ClientCertificateIdentity | null {
  if (!(socket instanceof TLSSocket)) return null;
  const cert = socket.getPeerCertificate(false);
  if (!cert || Object.keys(cert).length === 0 || !cert.fingerprint256) return null;
  const cn = cert.subject?.CN as string | string[] | undefined;
  const san = parseSubjectAltName(cert.subjectaltname);
  return {
    verified: socket.authorized,
    commonNames: cn === undefined ? [] : Array.isArray(cn) ? cn : [cn],
    dnsNames: san.dns,
    uris: san.uri,
    sha256: cert.fingerprint256.replace(/:/g, '').toLowerCase(),
  };
}
