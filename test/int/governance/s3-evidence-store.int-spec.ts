import { createHash, createHmac, generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listBundles, verifyBundle, verifyChain } from '../../../src/governance/evidence/bundles';
import { archiveBundle } from '../../../src/governance/evidence/evidence-archive';
import { S3EvidenceStore, type S3Options } from '../../../src/governance/evidence/evidence-store';
import { evidenceStoreFrom } from '../../../src/governance/evidence/evidence-store.factory';
import { loadConfig } from '../../../src/platform/config/config';
import { sealKeyFrom } from '../../../src/platform/config/seal-key';
import { PostgresEventStore } from '../../../src/platform/event-store/postgres-event-store';
import { createTestDatabase, type TestDatabase } from '../../support/test-db';

/**
 * The S3-compatible evidence store (the AWS SDK) against a stand-in S3 server (an S3-compatible
 * server such as MinIO cannot run here: it is a binary download). The stand-in keeps objects in
 * memory, answers PUT, GET and ListObjectsV2 (pages of at most 1000 keys, or max-keys), and checks
 * every request's AWS Signature V4 with its own implementation written from the specification,
 * including the session token of temporary credentials, so a wrong secret, a missing or wrong
 * token, a tampered body or a mis-signed request is refused with 403 as S3 would. It can answer
 * 503 to the next N requests, as S3 does under load.
 */
const ACCESS = 'AKIDEXAMPLE';
const SECRET = 'stand-in-secret-key-0123456789';
/** Temporary credentials (as STS issues them): valid only with their session token. */
const TEMP_ACCESS = 'ASIATEMPEXAMPLE';
const TEMP_SECRET = 'stand-in-temporary-secret-987654321';
const TEMP_TOKEN = 'FwoGZXIvYXdzEXAMPLE//session+token=';
const KEYS: Record<string, { secret: string; token?: string }> = { [ACCESS]: { secret: SECRET }, [TEMP_ACCESS]: { secret: TEMP_SECRET, token: TEMP_TOKEN } };

/** SigV4 URI encoding: every byte but unreserved characters. */
const sigEncode = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

function expectedSignature(req: IncomingMessage, body: Buffer): string | null {
  const auth = req.headers.authorization ?? '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return null;
  const [, access, day, region, signedHeaders] = m;
  const known = KEYS[access!];
  if (!known) return 'unknown-access-key';
  // Temporary credentials: the token must be sent and signed.
  if (known.token !== undefined && (req.headers['x-amz-security-token'] !== known.token || !signedHeaders!.split(';').includes('x-amz-security-token'))) return 'bad-session-token';
  const url = new URL(req.url ?? '/', 'http://x');
  const query = [...url.searchParams.entries()]
    .map(([k, v]) => [sigEncode(k), sigEncode(v)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const headerLines = signedHeaders!
    .split(';')
    .map((h) => `${h}:${String(req.headers[h] ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const payload = createHash('sha256').update(body).digest('hex');
  if (payload !== req.headers['x-amz-content-sha256']) return 'payload-mismatch';
  const canonical = `${req.method}\n${url.pathname}\n${query}\n${headerLines}\n${signedHeaders}\n${payload}`;
  const toSign = `AWS4-HMAC-SHA256\n${String(req.headers['x-amz-date'])}\n${day}/${region}/s3/aws4_request\n${createHash('sha256').update(canonical).digest('hex')}`;
  let k = createHmac('sha256', `AWS4${known.secret}`).update(day!).digest();
  for (const part of [region!, 's3', 'aws4_request']) k = createHmac('sha256', k).update(part).digest();
  return createHmac('sha256', k).update(toSign).digest('hex');
}

const xml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

interface StandIn {
  server: Server;
  url: string;
  objects: Map<string, Buffer>;
  /** Every signed request served: method, bucket/key and query. */
  requests: string[];
  /** Answer 503 SlowDown to this many of the next requests. */
  failNext: number;
  /** How many requests were answered 503. */
  failed: number;
}

function standInS3(): Promise<StandIn> {
  const state = { objects: new Map<string, Buffer>(), requests: [] as string[], failNext: 0, failed: 0 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const given = /Signature=([0-9a-f]{64})/.exec(req.headers.authorization ?? '')?.[1];
      if (!given || expectedSignature(req, body) !== given) {
        res.writeHead(403, { 'content-type': 'application/xml' }).end('<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message></Error>');
        return;
      }
      if (state.failNext > 0) {
        state.failNext--;
        state.failed++;
        res.writeHead(503, { 'content-type': 'application/xml' }).end('<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
        return;
      }
      const url = new URL(req.url ?? '/', 'http://x');
      const [, bucket, ...rest] = url.pathname.split('/');
      const key = rest.map(decodeURIComponent).join('/');
      state.requests.push(`${req.method} ${bucket}/${key}${url.search}`);
      if (req.method === 'PUT') {
        state.objects.set(key, body);
        res.writeHead(200).end();
      } else if (req.method === 'GET' && key) {
        const o = state.objects.get(key);
        if (!o) res.writeHead(404, { 'content-type': 'application/xml' }).end('<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>');
        else res.writeHead(200, { 'content-length': String(o.length) }).end(o);
      } else if (req.method === 'GET' && url.searchParams.get('list-type') === '2') {
        const prefix = url.searchParams.get('prefix') ?? '';
        const maxKeys = Math.min(1000, Number(url.searchParams.get('max-keys') ?? '1000'));
        const all = [...state.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
        const start = Number(url.searchParams.get('continuation-token') ?? '0');
        const page = all.slice(start, start + maxKeys);
        const truncated = start + maxKeys < all.length;
        res.writeHead(200, { 'content-type': 'application/xml' }).end(
          `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${bucket}</Name><Prefix>${xml(prefix)}</Prefix><KeyCount>${page.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${truncated}</IsTruncated>` +
            `${page.map((k) => `<Contents><Key>${xml(k)}</Key><Size>${state.objects.get(k)!.length}</Size></Contents>`).join('')}${truncated ? `<NextContinuationToken>${start + maxKeys}</NextContinuationToken>` : ''}</ListBucketResult>`,
        );
      } else res.writeHead(400).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const standIn = Object.assign(state, { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
      resolve(standIn as StandIn);
    }),
  );
}

describe('S3-compatible evidence store', () => {
  let s3: Awaited<ReturnType<typeof standInS3>>;
  let tdb: TestDatabase;

  beforeAll(async () => {
    s3 = await standInS3();
    tdb = await createTestDatabase();
  });
  afterAll(async () => {
    await new Promise((r) => s3.server.close(r));
    await tdb.dispose();
  });

  const stores: S3EvidenceStore[] = [];
  afterEach(() => {
    for (const s of stores.splice(0)) s.destroy();
    s3.failNext = 0;
  });
  const store = (credentials: S3Options['credentials'] = { accessKeyId: ACCESS, secretAccessKey: SECRET }, extra: Partial<S3Options> = {}): S3EvidenceStore => {
    const st = new S3EvidenceStore({ endpoint: s3.url, bucket: 'evidence', prefix: 'prod/aionis', region: 'eu-central-1', credentials, ...extra });
    stores.push(st);
    return st;
  };

  it('archives signed, chained bundles in the bucket and verifies them from there', async () => {
    const key = sealKeyFrom(generateKeyPairSync('ed25519').privateKey);
    const events = new PostgresEventStore(tdb.database);
    for (const week of ['2026-W47', '2026-W48']) {
      await archiveBundle(tdb.database, events, store(), key, {
        kind: 'governance-weekly',
        labels: { week },
        files: [
          { path: 'report.json', content: Buffer.from(`{"week":"${week}"}`) },
          { path: 'WEEKLY_REPORT.md', content: Buffer.from(`# ${week} & more\n`) },
        ],
        logPosition: '0:0',
        actor: { type: 'operator', id: 'op_test' },
        command: 'test',
        version: 'x',
      });
    }
    expect([...s3.objects.keys()].every((k) => k.startsWith('prod/aionis/governance-weekly/'))).toBe(true);
    const bundles = await listBundles(store(), 'governance-weekly');
    expect(bundles.map((b) => b.manifest.labels.week)).toEqual(['2026-W47', '2026-W48']);
    expect(verifyChain(bundles)).toEqual([]);
    for (const b of bundles) expect(await verifyBundle(store(), b.kind, b.id, key.publicKey)).toEqual([]);
    // Tampering in the bucket is found just as on disk.
    const fileKey = [...s3.objects.keys()].find((k) => k.endsWith('files/report.json'))!;
    s3.objects.set(fileKey, Buffer.from('{"week":"forged"}'));
    const id = fileKey.split('/')[3]!;
    expect((await verifyBundle(store(), 'governance-weekly', id)).map((f) => f.check)).toEqual(['file_hash']);
  });

  it('a wrong secret is refused by the server (no retry of a 403), and the error says so without the secret', async () => {
    const before = s3.failed;
    const wrong = { accessKeyId: ACCESS, secretAccessKey: 'wrong-secret' };
    await expect(store(wrong).put('governance-weekly/x/manifest.json', Buffer.from('{}'))).rejects.toThrow(/HTTP 403 SignatureDoesNotMatch/);
    await expect(store(wrong).get('governance-weekly/x/manifest.json')).rejects.toThrow(/^(?!.*wrong-secret).*HTTP 403/);
    expect(s3.failed).toBe(before);
    expect(await store().get('governance-weekly/none/manifest.json')).toBeNull();
  });

  it('temporary credentials: signs with the session token (static keys, and the default chain from AWS_* variables); without it the server refuses', async () => {
    await store({ accessKeyId: TEMP_ACCESS, secretAccessKey: TEMP_SECRET, sessionToken: TEMP_TOKEN }).put('session/a.json', Buffer.from('{"a":1}'));
    expect(s3.objects.get('prod/aionis/session/a.json')?.toString()).toBe('{"a":1}');
    await expect(store({ accessKeyId: TEMP_ACCESS, secretAccessKey: TEMP_SECRET }).get('session/a.json')).rejects.toThrow(/HTTP 403/);
    await expect(store({ accessKeyId: TEMP_ACCESS, secretAccessKey: TEMP_SECRET, sessionToken: 'stale-token' }).get('session/a.json')).rejects.toThrow(/HTTP 403/);

    // No keys in the configuration: the SDK's default chain reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: TEMP_ACCESS, AWS_SECRET_ACCESS_KEY: TEMP_SECRET, AWS_SESSION_TOKEN: TEMP_TOKEN });
    try {
      const config = loadConfig({ ARCHIVE_S3_BUCKET: 'evidence', ARCHIVE_S3_ENDPOINT: s3.url, ARCHIVE_S3_PREFIX: 'prod/aionis', ARCHIVE_S3_REGION: 'eu-central-1' });
      expect(config.governance.s3?.credentials).toBeUndefined();
      const fromChain = evidenceStoreFrom(config) as S3EvidenceStore;
      stores.push(fromChain);
      expect((await fromChain.get('session/a.json'))?.toString()).toBe('{"a":1}');
      expect(await fromChain.list('session')).toEqual(['session/a.json']);
    } finally {
      for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) if (saved[k] === undefined) delete process.env[k];
    }
  });

  it('retries a transient 503 (SlowDown) and succeeds; gives up after its attempts', async () => {
    s3.failNext = 2;
    const before = s3.failed;
    await store().put('retry/one.json', Buffer.from('{"retried":true}'));
    expect(s3.failed - before).toBe(2);
    expect(s3.objects.get('prod/aionis/retry/one.json')?.toString()).toBe('{"retried":true}');
    s3.failNext = 1;
    expect((await store().get('retry/one.json'))?.toString()).toBe('{"retried":true}');
    s3.failNext = 5;
    await expect(store(undefined, { credentials: { accessKeyId: ACCESS, secretAccessKey: SECRET }, maxAttempts: 2 }).get('retry/one.json')).rejects.toThrow(/HTTP 503/);
  }, 30_000);

  it('lists every key across pages: more than 1000 keys (S3\'s page size)', async () => {
    const st = store();
    const keys = Array.from({ length: 1005 }, (_, i) => `many/k${String(i).padStart(4, '0')}.json`);
    for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => st.put(k, Buffer.from('x'))));
    const listed = s3.requests.length;
    expect(await st.list('many')).toEqual(keys);
    const pages = s3.requests.slice(listed).filter((r) => r.includes('list-type=2'));
    expect(pages).toHaveLength(2);
    expect(pages[1]).toContain('continuation-token=1000');
  }, 60_000);
});
