import { readFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { isCidr } from '../http/cidr';

/**
 * TLS settings of the service's listeners (docs/deployment-topologies.md): file paths from the
 * environment, checked at boot (readable, PEM, the key matches the certificate, not expired) and
 * read again on every reload. Nothing here ever logs or echoes key material.
 */
export type TlsClientAuth = 'none' | 'optional' | 'require';

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** PEM bundle of the CAs whose client certificates are accepted (mTLS); absent with clientAuth none. */
  readonly clientCaFile: string | undefined;
  /** none: no client certificate asked; optional: asked, verified if sent; require: the handshake fails without a valid one. */
  readonly clientAuth: TlsClientAuth;
}

/** The bytes a secure context is made of, and what the certificate says (for logs and metrics). */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | undefined;
  readonly serialNumber: string;
  readonly notAfter: Date;
  readonly fingerprint256: string;
}

/** The names of the variables a listener's files came from, so every problem names its variable. */
export interface TlsVariableNames {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

export class TlsMaterialError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('; '));
    this.name = 'TlsMaterialError';
  }
}

function readPem(file: string, variable: string, problems: string[]): Buffer | undefined {
  try {
    const buf = readFileSync(file);
    if (!buf.toString('latin1').includes('-----BEGIN ')) {
      problems.push(`${variable}: ${file} is not a PEM file`);
      return undefined;
    }
    return buf;
  } catch (err) {
    problems.push(`${variable}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    return undefined;
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Read and check a listener's certificate, key and client CA bundle. Throws TlsMaterialError
 * listing every problem: an unreadable file, a file that is not PEM, a key that does not match the
 * certificate, an expired certificate, a CA bundle without a certificate.
 */
export function loadTlsMaterial(files: TlsFiles, names: TlsVariableNames, now: Date = new Date()): TlsMaterial {
  const problems: string[] = [];
  const cert = readPem(files.certFile, names.cert, problems);
  const key = readPem(files.keyFile, names.key, problems);
  const ca = files.clientCaFile !== undefined ? readPem(files.clientCaFile, names.ca, problems) : undefined;
  let leaf: X509Certificate | undefined;
  if (cert) {
    try {
      leaf = new X509Certificate(cert);
      if (Date.parse(leaf.validTo) <= now.getTime()) problems.push(`${names.cert}: the certificate in ${files.certFile} expired on ${new Date(leaf.validTo).toISOString()}`);
    } catch {
      problems.push(`${names.cert}: ${files.certFile} holds no readable X.509 certificate`);
    }
  }
  if (key) {
    try {
      const k = createPrivateKey(key);
      if (leaf && !leaf.checkPrivateKey(k)) problems.push(`${names.key}: the key in ${files.keyFile} does not match the certificate in ${files.certFile}`);
    } catch {
      problems.push(`${names.key}: ${files.keyFile} holds no readable private key (PEM, unencrypted)`);
    }
  }
  if (ca) {
    const blocks = ca.toString('latin1').match(PEM_CERT) ?? [];
    if (blocks.length === 0) problems.push(`${names.ca}: ${files.clientCaFile} holds no certificate`);
    for (const b of blocks) {
      try {
        new X509Certificate(b);
      } catch {
        problems.push(`${names.ca}: ${files.clientCaFile} holds a certificate that cannot be read`);
        break;
      }
    }
  }
  if (problems.length > 0 || !cert || !key || !leaf) throw new TlsMaterialError(problems);
  return { cert, key, ca, serialNumber: leaf.serialNumber, notAfter: new Date(leaf.validTo), fingerprint256: leaf.fingerprint256 };
}

/**
 * A tenant-dedicated private endpoint (PRIVATE_ENDPOINTS): a listener of its own, always mutual
 * TLS (client_ca_file required), accepting connections only from allowed_cidrs (the TCP peer) and
 * serving the data plane only for API keys of its one tenant.
 */
export interface PrivateEndpointConfig {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly tenantId: string;
  readonly allowedCidrs: readonly string[];
  readonly tls: TlsFiles;
}

export const privateEndpointSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be 1-63 lowercase letters, digits or "-"'),
  host: z.string().min(1),
  port: z.number().int().min(0).max(65535),
  tenant_id: z.string().min(1),
  allowed_cidrs: z.array(z.string().refine(isCidr, 'must be a CIDR such as 10.0.0.0/8')).min(1, 'must list at least one CIDR'),
  client_ca_file: z.string().min(1),
  cert_file: z.string().min(1).optional(),
  key_file: z.string().min(1).optional(),
});
export type PrivateEndpointInput = z.infer<typeof privateEndpointSchema>;
