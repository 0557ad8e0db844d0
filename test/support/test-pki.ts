import { execFileSync } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';

/**
 * A throwaway PKI made by the tests with the openssl CLI (no key is ever committed): certificate
 * authorities, and server or client certificates they sign, in a temporary directory.
 */
export interface Issued {
  readonly cert: string;
  readonly key: string;
  /** As Node reports it (uppercase hex). */
  readonly serial: string;
  /** SHA-256 fingerprint, lowercase hex without colons. */
  readonly sha256: string;
}

export interface TestCa {
  readonly name: string;
  readonly cert: string;
  readonly key: string;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export class TestPki {
  readonly dir = mkdtempSync(join(tmpdir(), 'aionis-pki-'));

  /** A self-signed CA (EC P-256, valid 2 days). */
  ca(name: string): TestCa {
    const cert = join(this.dir, `${name}.pem`);
    const key = join(this.dir, `${name}.key`);
    openssl([
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
      '-subj', `/CN=${name}`, '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    return { name, cert, key };
  }

  /**
   * A certificate signed by `ca`: `server` for 127.0.0.1/localhost, `client` with the given CN and
   * SANs. Written to `<file>.pem` and `<file>.key` (overwriting: how a reload test replaces files).
   */
  issue(ca: TestCa, file: string, opts: { kind: 'server' | 'client'; cn: string; dns?: readonly string[]; uri?: readonly string[] }): Issued {
    const cert = join(this.dir, `${file}.pem`);
    const key = join(this.dir, `${file}.key`);
    const csr = join(this.dir, `${file}.csr`);
    const ext = join(this.dir, `${file}.ext`);
    const san = opts.kind === 'server' ? ['DNS:localhost', 'IP:127.0.0.1', ...(opts.dns ?? []).map((d) => `DNS:${d}`)] : [...(opts.dns ?? []).map((d) => `DNS:${d}`), ...(opts.uri ?? []).map((u) => `URI:${u}`)];
    writeFileSync(ext, [`extendedKeyUsage=${opts.kind === 'server' ? 'serverAuth' : 'clientAuth'}`, ...(san.length > 0 ? [`subjectAltName=${san.join(',')}`] : [])].join('\n'));
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${opts.cn}`]);
    const serial = `0x${randomBytes(8).toString('hex')}`;
    openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', serial, '-days', '2', '-out', cert, '-extfile', ext]);
    const x = new X509Certificate(readFileSync(cert));
    return { cert, key, serial: x.serialNumber, sha256: x.fingerprint256.replace(/:/g, '').toLowerCase() };
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface TlsResponse {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Record<string, string | string[] | undefined>;
  /** The serial number of the certificate the server presented. */
  readonly serverSerial: string;
}

/**
 * One HTTPS request on a fresh connection (no keep-alive: each call is a new handshake), trusting
 * `ca` and presenting `client` when given. Rejects on a failed handshake or connection.
 */
export function tlsRequest(
  url: string,
  opts: { ca: string; client?: { cert: string; key: string }; method?: string; headers?: Record<string, string>; body?: unknown },
): Promise<TlsResponse> {
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: opts.method ?? 'GET',
        agent: false,
        ca: readFileSync(opts.ca),
        ...(opts.client ? { cert: readFileSync(opts.client.cert), key: readFileSync(opts.client.key) } : {}),
        headers: { ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers },
      },
      (res) => {
        const serverSerial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON: the text itself
          }
          resolve({ status: res.statusCode ?? 0, body, headers: res.headers, serverSerial });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
