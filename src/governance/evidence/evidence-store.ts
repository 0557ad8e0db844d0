import { createHash, createHmac } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';

/**
 * Where evidence bundles are kept: a directory by default, or an S3-compatible bucket. Keys are
 * relative paths with forward slashes (`<kind>/<manifest sha256>/manifest.json`, `.../files/<path>`).
 */
export interface EvidenceStore {
  /** Where it is, for logs, events and the API (never a credential). */
  readonly location: string;
  put(key: string, body: Buffer): Promise<void>;
  /** null when the key does not exist. */
  get(key: string): Promise<Buffer | null>;
  /** Every key under the prefix, sorted. */
  list(prefix: string): Promise<string[]>;
}

function assertKey(key: string): void {
  if (key === '' || key.startsWith('/') || key.split('/').some((p) => p === '' || p === '.' || p === '..')) throw new Error(`invalid evidence key "${key}"`);
}

export class FilesystemEvidenceStore implements EvidenceStore {
  readonly location: string;
  private readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.location = `file://${this.root}`;
  }

  private pathOf(key: string): string {
    assertKey(key);
    const p = resolve(this.root, ...key.split('/'));
    if (!p.startsWith(this.root + sep)) throw new Error(`evidence key "${key}" escapes the archive`);
    return p;
  }

  async put(key: string, body: Buffer): Promise<void> {
    const p = this.pathOf(key);
    await mkdir(dirname(p), { recursive: true });
    // Write-then-rename: a reader never sees half a file.
    const tmp = `${p}.tmp-${process.pid}`;
    await writeFile(tmp, body, { mode: 0o640 });
    await rename(tmp, p);
  }

  async get(key: string): Promise<Buffer | null> {
    try {
      return await readFile(this.pathOf(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const start = prefix === '' ? this.root : this.pathOf(prefix.replace(/\/$/, ''));
    const out: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
        throw err;
      }
      for (const e of entries) {
        const p = join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.isFile() && !e.name.includes('.tmp-')) out.push(relative(this.root, p).split(sep).join('/'));
      }
    };
    await walk(start);
    return out.sort();
  }
}

export interface S3Options {
  /** e.g. https://s3.eu-central-1.amazonaws.com or http://minio.internal:9000 (path-style requests). */
  readonly endpoint: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly fetch?: typeof fetch;
}

const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest();
const hex = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
const encodeKey = (k: string): string => k.split('/').map((p) => encodeURIComponent(p)).join('/');

/**
 * An S3-compatible bucket, signed with AWS Signature Version 4 (node:crypto only, no SDK):
 * PUT and GET of objects, ListObjectsV2 for listings. Path-style URLs, so it works with MinIO,
 * Ceph RGW, R2 and AWS alike.
 */
export class S3EvidenceStore implements EvidenceStore {
  readonly location: string;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly o: S3Options) {
    this.location = `s3://${o.bucket}/${o.prefix}`;
    this.fetchImpl = o.fetch ?? fetch;
  }

  private objectKey(key: string): string {
    assertKey(key);
    return this.o.prefix ? `${this.o.prefix.replace(/\/$/, '')}/${key}` : key;
  }

  /** Sign and send one request (SigV4, payload hash in x-amz-content-sha256). */
  async request(method: 'GET' | 'PUT', objectKey: string | null, query: Record<string, string>, body?: Buffer, now = new Date()): Promise<Response> {
    const url = new URL(this.o.endpoint);
    const basePath = url.pathname.replace(/\/$/, '');
    const canonicalUri = `${basePath}/${encodeURIComponent(this.o.bucket)}${objectKey === null ? '' : `/${encodeKey(objectKey)}`}`;
    const canonicalQuery = Object.keys(query)
      .sort()
      .map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(query[k] ?? '')}`)
      .join('&');
    const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const day = amzDate.slice(0, 8);
    const payloadHash = hex(body ?? '');
    const headers: Record<string, string> = { host: url.host, 'x-amz-content-sha256': payloadHash, 'x-amz-date': amzDate };
    const signedHeaders = Object.keys(headers).sort().join(';');
    const canonicalHeaders = Object.keys(headers)
      .sort()
      .map((h) => `${h}:${headers[h]}\n`)
      .join('');
    const canonicalRequest = [method, canonicalUri, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash].join('\n');
    const scope = `${day}/${this.o.region}/s3/aws4_request`;
    const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, hex(canonicalRequest)].join('\n');
    const signingKey = hmac(hmac(hmac(hmac(`AWS4${this.o.secretAccessKey}`, day), this.o.region), 's3'), 'aws4_request');
    const signature = createHmac('sha256', signingKey).update(stringToSign).digest('hex');
    const auth = `AWS4-HMAC-SHA256 Credential=${this.o.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
    const target = `${url.origin}${canonicalUri}${canonicalQuery ? `?${canonicalQuery}` : ''}`;
    return this.fetchImpl(target, {
      method,
      headers: { 'x-amz-content-sha256': payloadHash, 'x-amz-date': amzDate, authorization: auth, ...(body ? { 'content-length': String(body.length) } : {}) },
      ...(body ? { body: new Uint8Array(body) } : {}),
    });
  }

  async put(key: string, body: Buffer): Promise<void> {
    const r = await this.request('PUT', this.objectKey(key), {}, body);
    if (!r.ok) throw new Error(`S3 PUT ${key}: HTTP ${r.status} ${(await r.text()).slice(0, 200)}`);
  }

  async get(key: string): Promise<Buffer | null> {
    const r = await this.request('GET', this.objectKey(key), {});
    if (r.status === 404) return null;
    if (!r.ok) throw new Error(`S3 GET ${key}: HTTP ${r.status} ${(await r.text()).slice(0, 200)}`);
    return Buffer.from(await r.arrayBuffer());
  }

  async list(prefix: string): Promise<string[]> {
    const full = prefix === '' ? (this.o.prefix ? `${this.o.prefix.replace(/\/$/, '')}/` : '') : this.objectKey(prefix.replace(/\/$/, '')) + '/';
    const strip = this.o.prefix ? `${this.o.prefix.replace(/\/$/, '')}/` : '';
    const keys: string[] = [];
    let token: string | undefined;
    for (;;) {
      const r = await this.request('GET', null, { 'list-type': '2', prefix: full, ...(token ? { 'continuation-token': token } : {}) });
      if (!r.ok) throw new Error(`S3 LIST ${prefix}: HTTP ${r.status} ${(await r.text()).slice(0, 200)}`);
      const xml = await r.text();
      for (const m of xml.matchAll(/<Key>([^<]*)<\/Key>/g)) keys.push(unescapeXml(m[1] ?? '').slice(strip.length));
      const truncated = /<IsTruncated>true<\/IsTruncated>/.test(xml);
      token = /<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(xml)?.[1];
      if (!truncated || !token) break;
      token = unescapeXml(token);
    }
    return keys.sort();
  }
}

function unescapeXml(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}
