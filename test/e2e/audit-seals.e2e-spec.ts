import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import request from 'supertest';
import { type ExportManifest, exportTenant, sha256File, verifyExportReport } from '../../src/ops/audit/audit-export';
import { keyIdOf, parseSealPublicKey, rawPublicKey, sealKeyFrom } from '../../src/platform/config/seal-key';
import { canonicalJson } from '../../src/platform/event-store/canonical-json';
import { checkpointOf, compareCheckpoints, parseCheckpoint, type RecordedEvent, START } from '../../src/platform/event-store/event-store';
import { chainHash, hashedEnvelope, PostgresEventStore, readAllFrom } from '../../src/platform/event-store/postgres-event-store';
import { hashListDigest, listSeals, type Seal, type SealBody, Sealer, sealLinkProblems, tenantsRoot, verifySealSignature } from '../../src/platform/event-store/seals';
import { startTestService, type TestService } from '../support/service';
import { createTestDatabase } from '../support/test-db';

const ROOT = join(__dirname, '../..');
const json = { 'Content-Type': 'application/json' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface VerifyOut {
  ok: boolean;
  seals: { seals: number; key_pinned: boolean; trusted_key_ids: string[]; unsealed_events: number };
  findings: { check: string; seal_no?: number; detail: string; event_id?: string }[];
}

/** audit:verify as an auditor runs it: a separate process, no database. */
function verifyCli(file: string, ...args: string[]): { status: number | null; out: VerifyOut; text: string } {
  const run = (extra: string[]) =>
    spawnSync(process.execPath, ['-r', join(ROOT, 'test/support/swc-register.cjs'), join(ROOT, 'src/ops/cli/audit-verify.ts'), file, ...args, ...extra], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' },
      encoding: 'utf8',
    });
  const r = run(['--json']);
  const text = run([]);
  expect(text.status).toBe(r.status);
  return { status: r.status, out: JSON.parse(r.stdout || '{"ok":false,"findings":[]}') as VerifyOut, text: text.stdout };
}

describe('global seals (real server)', () => {
  let t: TestService;
  let api: ReturnType<typeof request>;
  let dir = '';
  let file = '';
  let keyFile = '';
  let auditor: { Authorization: string };
  let publicKey: { algorithm: string; key_id: string; public_key_pem: string; public_key_base64: string };

  beforeAll(async () => {
    t = await startTestService({ env: { AUDIT_SEAL_INTERVAL_MS: '1000' } });
    api = request(t.url);
    dir = mkdtempSync(join(tmpdir(), 'aionis-seals-'));
    const op = await api.post('/v1/admin/control/operators').set(t.auth).set(json).send({ display_name: 'seal auditor', role: 'auditor' }).expect(201);
    auditor = { Authorization: `Bearer ${op.body.token as string}` };
    // seal-a's events in three streams, with seal-b's events between them in the global log.
    await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'seal-a' }).expect(201);
    await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'seal-b' }).expect(201);
    await api.post('/v1/admin/control/projects').set(t.auth).set(json).send({ tenant_id: 'seal-a', project_id: 'seal-a-p' }).expect(201);
    await api.patch('/v1/admin/control/tenants/seal-b').set(t.auth).set(json).send({ display_name: 'B one' }).expect(200);
    await api.patch('/v1/admin/control/tenants/seal-a').set(t.auth).set(json).send({ display_name: 'A one' }).expect(200);
    await api.patch('/v1/admin/control/tenants/seal-b').set(t.auth).set(json).send({ display_name: 'B two' }).expect(200);
    const k = await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: 'seal-a', label: 'sealed key' }).expect(201);
    await api.patch('/v1/admin/control/tenants/seal-b').set(t.auth).set(json).send({ display_name: 'B three' }).expect(200);
    await api.post(`/v1/admin/control/api-keys/${k.body.key.key_id as string}/revoke`).set(t.auth).expect(200);
    await api.patch('/v1/admin/control/tenants/seal-a').set(t.auth).set(json).send({ display_name: 'A two' }).expect(200);

    publicKey = (await api.get('/v1/audit/public-key').expect(200)).body as typeof publicKey;
    keyFile = join(dir, 'seal-key.pem');
    writeFileSync(keyFile, publicKey.public_key_pem);

    // Export once the sealer (1 s interval) has covered every event of seal-a.
    file = join(dir, 'seal-a.ndjson');
    const deadline = Date.now() + 20_000;
    for (;;) {
      const lines: string[] = [];
      const summary = await exportTenant(t.tdb.database, { tenantId: 'seal-a' }, (l) => void lines.push(l));
      if (summary.unsealed_events === 0 && (summary.seals?.length ?? 0) > 0) {
        writeFileSync(file, lines.join(''));
        writeFileSync(`${file}.manifest.json`, JSON.stringify({ ...summary, exported_at: new Date().toISOString(), file_sha256: await sha256File(file) }));
        break;
      }
      if (Date.now() > deadline) throw new Error(`events still unsealed after 20 s: ${summary.unsealed_events}`);
      await sleep(250);
    }
  });
  afterAll(async () => {
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const events = (): RecordedEvent[] => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RecordedEvent);
  const manifest = (): ExportManifest => JSON.parse(readFileSync(`${file}.manifest.json`, 'utf8')) as ExportManifest;

  /** Write a doctored export the way an attacker who cannot sign would: file, stream summaries, counts and file hash all consistent. */
  function doctored(name: string, list: readonly RecordedEvent[], edit: (m: ExportManifest) => void = () => undefined): string {
    const f = join(dir, name);
    writeFileSync(f, list.map((e) => `${canonicalJson(e)}\n`).join(''));
    const m = manifest();
    m.streams = {};
    for (const e of list) {
      const s = m.streams[e.streamId];
      if (!s) m.streams[e.streamId] = { first_position: e.streamPosition, last_position: e.streamPosition, count: 1, anchor_prev_hash: e.prevHash, head_hash: e.hash };
      else Object.assign(s, { last_position: e.streamPosition, count: s.count + 1, head_hash: e.hash });
    }
    m.events = list.length;
    edit(m);
    m.file_sha256 = createHash('sha256').update(readFileSync(f)).digest('hex');
    writeFileSync(`${f}.manifest.json`, JSON.stringify(m));
    return f;
  }

  it('publishes the seal public key without authentication', () => {
    expect(publicKey.algorithm).toBe('Ed25519');
    const key = parseSealPublicKey(publicKey.public_key_pem);
    expect(rawPublicKey(key).toString('base64')).toBe(publicKey.public_key_base64);
    expect(publicKey.key_id).toBe(createHash('sha256').update(Buffer.from(publicKey.public_key_base64, 'base64')).digest('hex').slice(0, 16));
    expect(keyIdOf(key)).toBe(t.service.infra.secrets.sealKey.keyId);
  });

  it('lists signed, chained seals covering the log to auditors, in pages', async () => {
    const all: { seal_no: number; body: SealBody; signature: string; seal_hash: string; tenants: Seal['tenants'] }[] = [];
    for (let after = 0; ; ) {
      const r = await api.get('/v1/admin/control/audit/seals').query({ after, limit: 2 }).set(auditor).expect(200);
      all.push(...(r.body.items as typeof all));
      if (!r.body.has_more) break;
      after = r.body.next_after as number;
    }
    expect(all.length).toBeGreaterThan(0);
    expect(all.map((s) => s.seal_no)).toStrictEqual(all.map((_, i) => i + 1));
    const key = parseSealPublicKey(publicKey.public_key_pem);
    let prev: SealBody | undefined;
    for (const s of all) {
      expect(verifySealSignature(s.body, s.signature, key)).toBe(true);
      expect(sealLinkProblems(prev, s.body)).toStrictEqual([]);
      expect(s.body.key_id).toBe(publicKey.key_id);
      expect(tenantsRoot(s.tenants)).toBe(s.body.tenants_root);
      // The range digest is the digest of the log's own event hashes in that range.
      const covered = await readAllFrom(t.tdb.database.db, { after: prev ? parseCheckpoint(prev.to) : START, limit: s.body.event_count });
      expect(`${covered.at(-1)!.transactionId}:${covered.at(-1)!.globalPosition}`).toBe(s.body.to);
      expect(hashListDigest(covered.map((e) => e.hash))).toBe(s.body.range_digest);
      prev = s.body;
    }
    const sealedTenants = all.flatMap((s) => Object.keys(s.tenants));
    expect(sealedTenants).toEqual(expect.arrayContaining(['seal-a', 'seal-b', '(global)']));
  });

  it('refuses bad paging parameters with problem+json and anonymous callers with 401', async () => {
    for (const query of [{ limit: 0 }, { limit: 1001 }, { after: -1 }, { after: 'x' }, { bogus: 1 }]) {
      const r = await api.get('/v1/admin/control/audit/seals').query(query).set(auditor);
      expect(r.status).toBe(400);
      expect(r.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(r.body.code).toBe('validation_failed');
    }
    expect((await api.get('/v1/admin/control/audit/seals')).status).toBe(401);
  });

  it("puts the seals and the tenant's proofs in the export, never another tenant's id, and verifies clean", () => {
    const m = manifest();
    expect(m.seals?.[0]?.body.seal_no).toBe(1);
    expect(m.seal_public_key).toBe(publicKey.public_key_pem);
    expect(readFileSync(`${file}.manifest.json`, 'utf8')).not.toContain('seal-b');
    const pinned = verifyCli(file, '--public-key', keyFile);
    expect(pinned.status).toBe(0);
    expect(pinned.out).toMatchObject({ ok: true, findings: [], seals: { key_pinned: true, trusted_key_ids: [publicKey.key_id], unsealed_events: 0 } });
    expect(pinned.text).toContain(`seal key pinned: ${publicKey.key_id}`);
    const unpinned = verifyCli(file);
    expect(unpinned.status).toBe(0);
    expect(unpinned.out.seals.key_pinned).toBe(false);
    expect(unpinned.text).toMatch(/seal key NOT pinned/);
  });

  it('carries only the seals a --from window meets, and verifies their signatures and chain', async () => {
    const all = events();
    const from = all[Math.floor(all.length / 2)]!.recordedAt;
    const lines: string[] = [];
    const summary = await exportTenant(t.tdb.database, { tenantId: 'seal-a', from }, (l) => void lines.push(l));
    const windowed = lines.map((l) => JSON.parse(l) as RecordedEvent);
    expect(windowed.length).toBeGreaterThan(0);
    expect(windowed.length).toBeLessThan(all.length);
    const firstAt = checkpointOf(windowed[0]!);
    expect(summary.seals!.length).toBeGreaterThan(0);
    expect(summary.seals!.every((x) => compareCheckpoints(parseCheckpoint(x.body.to), firstAt) >= 0)).toBe(true);
    const manifestOf = { ...summary, exported_at: new Date().toISOString(), file_sha256: 'x' };
    const key = parseSealPublicKey(publicKey.public_key_pem);
    expect(verifyExportReport(lines, 'x', manifestOf, { trustedSealKeys: [key] })).toMatchObject({ findings: [], seals: { key_pinned: true, unsealed_events: 0 } });
    const badSig = { ...manifestOf, seals: summary.seals!.map((x, i) => (i === 0 ? { ...x, body: { ...x.body, event_count: x.body.event_count + 1 } } : x)) };
    // The altered seal's signature fails; when the window also meets the next seal, its link to the altered one fails too.
    const findings = verifyExportReport(lines, 'x', badSig, { trustedSealKeys: [key] }).findings;
    expect(findings[0]).toEqual(expect.objectContaining({ check: 'seal', detail: expect.stringMatching(/signature does not verify/) }));
    expect(findings.slice(1)).toEqual(summary.seals!.length > 1 ? [expect.objectContaining({ check: 'seal', detail: expect.stringMatching(/prev_seal_hash does not match/) })] : []);
  });

  it('detects an event dropped from between other streams, with its stream re-chained and the manifest fixed', () => {
    const list = events();
    // The tenant's "A one" update: after the project's event, before the api key's, with seal-b's events around it.
    const victim = list.findIndex((e) => e.type === 'TenantUpdated' && (e.data as { display_name?: string }).display_name === 'A one');
    expect(victim).toBeGreaterThan(0);
    expect(list[victim - 1]!.streamId).not.toBe(list[victim]!.streamId);
    expect(list[victim + 1]!.streamId).not.toBe(list[victim]!.streamId);
    const stream = list[victim]!.streamId;
    let prev = '';
    let pos = 0;
    const rechained = list
      .filter((_, i) => i !== victim)
      .map((e) => {
        if (e.streamId !== stream) return e;
        pos += 1;
        const relinked = { ...e, streamPosition: pos, prevHash: pos === 1 ? e.prevHash : prev };
        const out = { ...relinked, hash: chainHash(relinked.prevHash, hashedEnvelope(relinked)) };
        prev = out.hash;
        return out;
      });
    const r = verifyCli(doctored('dropped.ndjson', rechained), '--public-key', keyFile);
    expect(r.status).toBe(2);
    expect(new Set(r.out.findings.map((f) => f.check))).toStrictEqual(new Set(['seal']));
    expect(r.out.findings.map((f) => f.detail).join('\n')).toMatch(/fewer than sealed/);
  });

  it('detects two events of different streams swapped, positions swapped too so commit order still holds', () => {
    const list = events();
    const i = list.findIndex((e, n) => n > 0 && e.streamId !== list[n - 1]!.streamId);
    const [p, q] = [list[i - 1]!, list[i]!];
    const swapped = [...list];
    swapped[i - 1] = { ...q, transactionId: p.transactionId, globalPosition: p.globalPosition };
    swapped[i] = { ...p, transactionId: q.transactionId, globalPosition: q.globalPosition };
    const r = verifyCli(doctored('swapped.ndjson', swapped), '--public-key', keyFile);
    expect(r.status).toBe(2);
    // Nothing but the seals sees it (two findings if a seal boundary fell between the two events).
    expect(new Set(r.out.findings.map((f) => f.check))).toStrictEqual(new Set(['seal']));
    expect(r.out.findings.map((f) => f.detail).join('\n')).toMatch(/not the sealed ones in the sealed order/);
  });

  it('detects a tampered seal signature and a wrong pinned key', () => {
    const list = events();
    const tampered = doctored('bad-sig.ndjson', list, (m) => {
      const s = m.seals![0]!;
      const sig = Buffer.from(s.signature, 'base64');
      sig[10] = sig[10]! ^ 0x01;
      s.signature = sig.toString('base64');
    });
    const r = verifyCli(tampered, '--public-key', keyFile);
    expect(r.status).toBe(2);
    expect(r.out.findings).toStrictEqual([expect.objectContaining({ check: 'seal', seal_no: 1, detail: expect.stringMatching(/signature does not verify/) })]);

    const otherKey = join(dir, 'other.pem');
    writeFileSync(otherKey, sealKeyFrom(generateKeyPairSync('ed25519').privateKey).publicKeyPem);
    const wrong = verifyCli(file, '--public-key', otherKey);
    expect(wrong.status).toBe(2);
    expect(wrong.out.findings.length).toBe(manifest().seals!.length);
    expect(wrong.out.findings[0]!.detail).toMatch(new RegExp(`signed with key ${publicKey.key_id}, which is not a pinned key`));
  });
});

describe('two sealers on one database', () => {
  it('never write two seals with one number or leave a gap, while events keep coming', async () => {
    const tdb = await createTestDatabase();
    const store = new PostgresEventStore(tdb.database);
    try {
      const key = sealKeyFrom(generateKeyPairSync('ed25519').privateKey);
      const sealers = [0, 1].map(() => new Sealer(tdb.database, key, { intervalMs: 1000, maxEvents: 7, pageSize: 3 }));
      const outcomes: string[] = [];
      let writing = true;
      const metadata = { actor: { type: 'system' as const, id: 'race' }, occurred_at: new Date().toISOString(), correlation_id: 'race', causation_id: null, request_id: null, command_id: null };
      const writers = [0, 1, 2].map(async (w) => {
        for (let i = 0; i < 25; i++) {
          await store.append(`race-${w}-${i % 4}`, [{ type: 'Raced', data: { w, i } }], { expectedRevision: 'any', tenantId: w === 2 ? null : `race-t${w}`, metadata });
        }
      });
      const racers = sealers.map(async (s) => {
        while (writing) {
          const o = await s.sealOnce();
          outcomes.push(o.status);
          if (o.status === 'idle') await sleep(5);
        }
      });
      await Promise.all(writers);
      writing = false;
      await Promise.all(racers);
      // Both finish the backlog at the same time too.
      await Promise.all(sealers.map((s) => s.catchUp()));
      expect((await Promise.all(sealers.map((s) => s.sealOnce()))).map((o) => o.status)).toStrictEqual(['idle', 'idle']);

      const seals = await listSeals(tdb.database.db, { after: 0, limit: 10_000 });
      expect(seals.map((s) => s.body.seal_no)).toStrictEqual(seals.map((_, i) => i + 1));
      let prev: SealBody | undefined;
      for (const s of seals) {
        expect(sealLinkProblems(prev, s.body)).toStrictEqual([]);
        expect(verifySealSignature(s.body, s.signature, key.publicKey)).toBe(true);
        expect(s.body.event_count).toBeLessThanOrEqual(7);
        prev = s.body;
      }
      const total = await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_events`.execute(tdb.database.db);
      expect(seals.reduce((n, s) => n + s.body.event_count, 0)).toBe(total.rows[0]!.n);
      expect(total.rows[0]!.n).toBe(75);
      expect(outcomes).toContain('sealed');
    } finally {
      await store.close();
      await tdb.dispose();
    }
  });
});
