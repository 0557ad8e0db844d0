import { GetObjectCommand, NoSuchKey, paginateListObjectsV2, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { ArchiveS3Config } from '../../platform/config/config';

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

export interface S3Options extends ArchiveS3Config {
  /** Attempts per request including the first (the SDK's standard retry strategy); default 3, or AWS_MAX_ATTEMPTS. */
  readonly maxAttempts?: number | undefined;
}

/**
 * An S3-compatible bucket through the AWS SDK (@aws-sdk/client-s3): SigV4 signing with any
 * credential the default chain finds (session tokens included), its retries with backoff on
 * throttling and 5xx, and ListObjectsV2 pagination. Checksums only when an operation requires
 * them, so S3-compatible servers without the newer checksum headers work alike.
 */
export class S3EvidenceStore implements EvidenceStore {
  readonly location: string;
  private readonly client: S3Client;

  constructor(private readonly o: S3Options) {
    this.location = `s3://${o.bucket}/${o.prefix}`;
    this.client = new S3Client({
      region: o.region,
      ...(o.endpoint ? { endpoint: o.endpoint, forcePathStyle: true } : {}),
      ...(o.credentials ? { credentials: { ...o.credentials } } : {}),
      ...(o.maxAttempts ? { maxAttempts: o.maxAttempts } : {}),
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  private objectKey(key: string): string {
    assertKey(key);
    return this.o.prefix ? `${this.o.prefix.replace(/\/$/, '')}/${key}` : key;
  }

  async put(key: string, body: Buffer): Promise<void> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.o.bucket, Key: this.objectKey(key), Body: body, ContentLength: body.length }));
    } catch (err) {
      throw s3Error('PUT', key, err);
    }
  }

  async get(key: string): Promise<Buffer | null> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.o.bucket, Key: this.objectKey(key) }));
      return r.Body ? Buffer.from(await r.Body.transformToByteArray()) : Buffer.alloc(0);
    } catch (err) {
      if (err instanceof NoSuchKey || (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return null;
      throw s3Error('GET', key, err);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const strip = this.o.prefix ? `${this.o.prefix.replace(/\/$/, '')}/` : '';
    const full = prefix === '' ? strip : this.objectKey(prefix.replace(/\/$/, '')) + '/';
    const keys: string[] = [];
    try {
      for await (const page of paginateListObjectsV2({ client: this.client }, { Bucket: this.o.bucket, Prefix: full })) {
        for (const o of page.Contents ?? []) if (o.Key !== undefined) keys.push(o.Key.slice(strip.length));
      }
    } catch (err) {
      throw s3Error('LIST', prefix, err);
    }
    return keys.sort();
  }

  /** Close the client's connections (tests; the service keeps one store for its lifetime). */
  destroy(): void {
    this.client.destroy();
  }
}

/** The SDK's error with what was asked and the HTTP status, never a credential. */
function s3Error(op: string, key: string, err: unknown): Error {
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const name = err instanceof Error ? err.name : 'Error';
  const message = err instanceof Error ? err.message : String(err);
  return new Error(`S3 ${op} ${key}: ${status ? `HTTP ${status} ` : ''}${name}: ${message.slice(0, 200)}`, { cause: err });
}
