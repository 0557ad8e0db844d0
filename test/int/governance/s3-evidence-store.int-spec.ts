import { createHash, createHmac, generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listBundles, verifyBundle, verifyChain } from '../../../src/governance/evidence/bundles';
import { archiveBundle } from '../../../src/governance/evidence/evidence-archive';
import { S3EvidenceStore } from '../../../src/governance/evidence/evidence-store';
import { sealKeyFrom } from '../../../src/platform/config/seal-key';
import { PostgresEventStore } from '../../../src/platform/event-store/postgres-event-store';
import { createTestDatabase, type TestDatabase } from '../../support/test-db';

/**
 * The S3-compatible evidence store against a stand-in S3 server (an S3-compatible server such as
 * MinIO cannot run here: it is a binary download). The stand-in keeps objects in memory, answers
 * PUT, GET and ListObjectsV2 (paged), and checks every request's AWS Signature V4 with its own
 * implementation written from the specification, so a wrong secret, a tampered body or a
 * mis-signed request is refused with 403 as S3 would.
 */
const ACCESS = 'AKIDEXAMPLE';
const SECRET = 'stand-in-secret-key-0123456789';

function expectedSignature(req: IncomingMessage, body: Buffer, secret: string): string | null {
  const auth = req.headers.authorization ?? '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return null;
  const [, , day, region, signedHeaders] = m;
  const url = new URL(req.url ?? '/', 'http://x');
  const query = [...url.searchParams.entries()]
    .map(([k, v]) => [encodeURIComponent(k), encodeURIComponent(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const headerLines = signedHeaders!
    .split(';')
    .map((h) => `${h}:${String(req.headers[h] ?? '').trim()}\n`)
    .join('');
  const payload = createHash('sha256').update(body).digest('hex');
  if (payload !== req.headers['x-amz-content-sha256']) return 'payload-mismatch';
  const canonical = `${req.method}\n${url.pathname}\n${query}\n${headerLines}\n${signedHeaders}\n${payload}`;
  const toSign = `AWS4-HMAC-SHA256\n${String(req.headers['x-amz-date'])}\n${day}/${region}/s3/aws4_request\n${createHash('sha256').update(canonical).digest('hex')}`;
  let k = createHmac('sha256', `AWS4${secret}`).update(day!).digest();
  for (const part of [region!, 's3', 'aws4_request']) k = createHmac('sha256', k).update(part).digest();
  return createHmac('sha256', k).update(toSign).digest('hex');
}

function standInS3(): Promise<{ server: Server; url: string; objects: Map<string, Buffer>; requests: string[] }> {
  const objects = new Map<string, Buffer>();
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const given = /Signature=([0-9a-f]{64})/.exec(req.headers.authorization ?? '')?.[1];
      if (!given || expectedSignature(req, body, SECRET) !== given) {
        res.writeHead(403).end('<Error><Code>SignatureDoesNotMatch</Code></Error>');
        return;
      }
      const url = new URL(req.url ?? '/', 'http://x');
      const [, bucket, ...rest] = url.pathname.split('/');
      const key = rest.map(decodeURIComponent).join('/');
      requests.push(`${req.method} ${bucket}/${key}${url.search}`);
      if (req.method === 'PUT') {
        objects.set(key, body);
        res.writeHead(200).end();
      } else if (req.method === 'GET' && key) {
        const o = objects.get(key);
        if (!o) res.writeHead(404).end('<Error><Code>NoSuchKey</Code></Error>');
        else res.writeHead(200).end(o);
      } else if (req.method === 'GET' && url.searchParams.get('list-type') === '2') {
        const prefix = url.searchParams.get('prefix') ?? '';
        const all = [...objects.keys()].filter((k) => k.startsWith(prefix)).sort();
        const start = Number(url.searchParams.get('continuation-token') ?? '0');
        const page = all.slice(start, start + 3); // tiny pages: the client must follow continuation tokens
        const truncated = start + 3 < all.length;
        res.writeHead(200, { 'content-type': 'application/xml' }).end(
          `<ListBucketResult><IsTruncated>${truncated}</IsTruncated>${page.map((k) => `<Contents><Key>${k.replace(/&/g, '&amp;')}</Key></Contents>`).join('')}${truncated ? `<NextContinuationToken>${start + 3}</NextContinuationToken>` : ''}</ListBucketResult>`,
        );
      } else res.writeHead(400).end();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, objects, requests })));
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

  const store = (secret = SECRET) => new S3EvidenceStore({ endpoint: s3.url, bucket: 'evidence', prefix: 'prod/aionis', region: 'eu-central-1', accessKeyId: ACCESS, secretAccessKey: secret });

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
    expect(s3.requests.some((r) => r.includes('continuation-token'))).toBe(true);
    // Tampering in the bucket is found just as on disk.
    const fileKey = [...s3.objects.keys()].find((k) => k.endsWith('files/report.json'))!;
    s3.objects.set(fileKey, Buffer.from('{"week":"forged"}'));
    const id = fileKey.split('/')[3]!;
    expect((await verifyBundle(store(), 'governance-weekly', id)).map((f) => f.check)).toEqual(['file_hash']);
  });

  it('a wrong secret is refused by the server, and the error says so without the secret', async () => {
    await expect(store('wrong-secret').put('governance-weekly/x/manifest.json', Buffer.from('{}'))).rejects.toThrow(/HTTP 403/);
    await expect(store('wrong-secret').get('governance-weekly/x/manifest.json')).rejects.toThrow(/^(?!.*wrong-secret).*HTTP 403/);
    expect(await store().get('governance-weekly/none/manifest.json')).toBeNull();
  });
});
