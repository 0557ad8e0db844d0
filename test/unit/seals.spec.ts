import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXPORT_FORMAT, type ExportManifest, verifyExport, verifyExportReport } from '../../src/ops/audit/audit-export';
import { ConfigError, loadConfig } from '../../src/platform/config/config';
import { keyIdOf, parseSealPrivateKey, parseSealPublicKey, rawPublicKey, type SealKey, sealKeyFrom } from '../../src/platform/config/seal-key';
import { resolveSealKey } from '../../src/platform/config/secrets';
import { canonicalJson } from '../../src/platform/event-store/canonical-json';
import { GENESIS_HASH, type RecordedEvent } from '../../src/platform/event-store/event-store';
import { chainHash, hashedEnvelope } from '../../src/platform/event-store/postgres-event-store';
import {
  buildSealBody,
  GLOBAL_TENANT_KEY,
  hashListDigest,
  inSealRange,
  proveTenant,
  RangeAccumulator,
  type Seal,
  type SealBody,
  sealHashOf,
  sealLinkProblems,
  sealOf,
  signSealBody,
  tenantsRoot,
  type TenantEntry,
  verifySealSignature,
  verifyTenantProof,
} from '../../src/platform/event-store/seals';
import { buildChain } from './support/recorded-events';

const newKey = (): SealKey => sealKeyFrom(generateKeyPairSync('ed25519').privateKey);
const h = (n: number): string => createHash('sha256').update(String(n)).digest('hex');
const entry = (n: number): TenantEntry => ({ count: n, digest: h(n) });

describe('seal keys', () => {
  const key = newKey();

  it('names a key by the first 16 hex characters of SHA-256 over the raw public key', () => {
    const raw = rawPublicKey(key.publicKey);
    expect(raw).toHaveLength(32);
    expect(key.keyId).toBe(createHash('sha256').update(raw).digest('hex').slice(0, 16));
    expect(Buffer.from(key.publicKeyBase64, 'base64').equals(raw)).toBe(true);
  });

  it('reads PKCS#8 PEM, PEM with literal \\n escapes and base64 DER, all to the same key', () => {
    const pem = key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const der = (key.privateKey.export({ format: 'der', type: 'pkcs8' }) as Buffer).toString('base64');
    for (const form of [pem, pem.replace(/\n/g, '\\n'), der]) expect(keyIdOf(sealKeyFrom(parseSealPrivateKey(form)).publicKey)).toBe(key.keyId);
  });

  it('refuses other key types and garbage without echoing the input', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(() => parseSealPrivateKey(rsa)).toThrow(/must be an Ed25519 key \(got rsa\)/);
    expect(() => parseSealPrivateKey('not-a-key-SECRETVALUE')).toThrow(/PKCS#8/);
    try {
      parseSealPrivateKey('not-a-key-SECRETVALUE');
    } catch (err) {
      expect(String(err)).not.toContain('SECRETVALUE');
    }
  });

  it('reads public keys as SPKI PEM or base64 of the raw 32 bytes', () => {
    expect(keyIdOf(parseSealPublicKey(key.publicKeyPem))).toBe(key.keyId);
    expect(keyIdOf(parseSealPublicKey(key.publicKeyBase64))).toBe(key.keyId);
    const rsaPub = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
    expect(() => parseSealPublicKey(rsaPub)).toThrow(/not an Ed25519 public key/);
  });
});

describe('AUDIT_SEAL_* configuration', () => {
  it('defaults to a 60 s interval and the key file in DATA_DIR', () => {
    const c = loadConfig({ LOG_FORMAT: 'json' });
    expect(c.audit).toStrictEqual({ sealPrivateKeyPem: undefined, sealIntervalMs: 60_000 });
  });

  it('normalises a base64 DER key to PEM', () => {
    const key = newKey();
    const der = (key.privateKey.export({ format: 'der', type: 'pkcs8' }) as Buffer).toString('base64');
    const c = loadConfig({ LOG_FORMAT: 'json', AUDIT_SEAL_PRIVATE_KEY: der, AUDIT_SEAL_INTERVAL_MS: '1000' });
    expect(c.audit.sealPrivateKeyPem).toContain('-----BEGIN PRIVATE KEY-----');
    expect(c.audit.sealIntervalMs).toBe(1000);
  });

  it('lists a bad key and a too-short interval by variable name, never the value', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    let error: unknown;
    try {
      loadConfig({ AUDIT_SEAL_PRIVATE_KEY: rsa, AUDIT_SEAL_INTERVAL_MS: '999' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(/^AUDIT_SEAL_PRIVATE_KEY: must be an Ed25519 key/), 'AUDIT_SEAL_INTERVAL_MS: must be >= 1000']));
    expect(problems.join('\n')).not.toContain(rsa.split('\n')[1]!);
  });
});

describe('resolveSealKey', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'aionis-seal-key-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates DATA_DIR/audit-seal-key.pem with mode 0600 once and reuses it', () => {
    const config = loadConfig({ DATA_DIR: dir, LOG_FORMAT: 'json' });
    const first = resolveSealKey(config);
    expect(first.sealKeySource).toBe('data_dir_generated');
    const file = join(dir, 'audit-seal-key.pem');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const again = resolveSealKey(config);
    expect(again.sealKeySource).toBe('data_dir_existing');
    expect(again.sealKey.keyId).toBe(first.sealKey.keyId);
  });

  it('prefers AUDIT_SEAL_PRIVATE_KEY and refuses an unusable key file by name', () => {
    const key = newKey();
    const pem = key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const fromEnv = resolveSealKey(loadConfig({ DATA_DIR: dir, LOG_FORMAT: 'json', AUDIT_SEAL_PRIVATE_KEY: pem }));
    expect(fromEnv).toMatchObject({ sealKeySource: 'env', sealKey: { keyId: key.keyId } });
    writeFileSync(join(dir, 'audit-seal-key.pem'), 'garbage');
    expect(() => resolveSealKey(loadConfig({ DATA_DIR: dir, LOG_FORMAT: 'json' }))).toThrow(/audit-seal-key\.pem must be a PKCS#8 private key/);
    expect(readFileSync(join(dir, 'audit-seal-key.pem'), 'utf8')).toBe('garbage');
  });
});

describe('digests', () => {
  it('digests a list of event hashes as SHA-256 over each hash and a newline, in order', () => {
    expect(hashListDigest([h(1), h(2)])).toBe(createHash('sha256').update(`${h(1)}\n${h(2)}\n`).digest('hex'));
    expect(hashListDigest([h(2), h(1)])).not.toBe(hashListDigest([h(1), h(2)]));
  });

  it('folds a range into its count, last position, overall digest and per-tenant entries', () => {
    const events = [
      { transactionId: '10', globalPosition: 1, tenantId: 'acme', hash: h(1) },
      { transactionId: '10', globalPosition: 2, tenantId: null, hash: h(2) },
      { transactionId: '12', globalPosition: 4, tenantId: 'acme', hash: h(3) },
      { transactionId: '13', globalPosition: 3, tenantId: 'beta', hash: h(4) },
    ];
    const acc = new RangeAccumulator();
    for (const e of events) acc.add(e);
    expect(acc.finish()).toStrictEqual({
      count: 4,
      to: { transactionId: '13', globalPosition: 3 },
      range_digest: hashListDigest([h(1), h(2), h(3), h(4)]),
      tenants: {
        [GLOBAL_TENANT_KEY]: { count: 1, digest: hashListDigest([h(2)]) },
        acme: { count: 2, digest: hashListDigest([h(1), h(3)]) },
        beta: { count: 1, digest: hashListDigest([h(4)]) },
      },
    });
  });
});

describe('tenant proofs (sparse Merkle tree)', () => {
  const tenants: Record<string, TenantEntry> = {};
  for (let i = 0; i < 40; i++) tenants[`tenant-${i}`] = entry(i + 1);
  tenants[GLOBAL_TENANT_KEY] = entry(99);
  const root = tenantsRoot(tenants);

  it('has a root independent of insertion order that changes with any entry', () => {
    const reversed = Object.fromEntries(Object.entries(tenants).reverse());
    expect(tenantsRoot(reversed)).toBe(root);
    expect(tenantsRoot({ ...tenants, 'tenant-7': entry(1000) })).not.toBe(root);
    expect(tenantsRoot({ ...tenants, extra: entry(1) })).not.toBe(root);
    expect(tenantsRoot({})).toMatch(/^[0-9a-f]{64}$/);
  });

  it('proves every present tenant and the absence of any other, revealing no other tenant', () => {
    for (const key of Object.keys(tenants)) {
      const proof = proveTenant(tenants, key);
      expect(proof.entry).toStrictEqual(tenants[key]);
      expect(verifyTenantProof(root, key, proof)).toBe(true);
      expect(JSON.stringify(proof)).not.toMatch(/tenant-/);
    }
    const absent = proveTenant(tenants, 'never-here');
    expect(absent.entry).toBeNull();
    expect(verifyTenantProof(root, 'never-here', absent)).toBe(true);
  });

  it('rejects a wrong count or digest, a denied presence, a claimed presence, another tenant’s proof and bad siblings', () => {
    const p = proveTenant(tenants, 'tenant-3');
    expect(verifyTenantProof(root, 'tenant-3', { ...p, entry: { ...p.entry!, count: p.entry!.count - 1 } })).toBe(false);
    expect(verifyTenantProof(root, 'tenant-3', { ...p, entry: { ...p.entry!, digest: h(12345) } })).toBe(false);
    expect(verifyTenantProof(root, 'tenant-3', { ...p, entry: null })).toBe(false);
    expect(verifyTenantProof(root, 'tenant-3', proveTenant(tenants, 'never-here'))).toBe(false);
    expect(verifyTenantProof(root, 'never-here', { ...proveTenant(tenants, 'never-here'), entry: entry(1) })).toBe(false);
    expect(verifyTenantProof(root, 'tenant-4', p)).toBe(false);
    const [first, ...rest] = p.siblings;
    expect(verifyTenantProof(root, 'tenant-3', { ...p, siblings: rest })).toBe(false);
    expect(verifyTenantProof(root, 'tenant-3', { ...p, siblings: [[first![0], h(1)], ...rest] })).toBe(false);
    expect(verifyTenantProof(root, 'tenant-3', { ...p, siblings: [first!, first!, ...rest] })).toBe(false);
    expect(verifyTenantProof(root, 'tenant-3', { ...p, siblings: [[256, h(1)]] })).toBe(false);
    expect(verifyTenantProof(root, 'tenant-3', { ...p, siblings: 'nope' as never })).toBe(false);
  });
});

describe('seal bodies, hashes and signatures', () => {
  const key = newKey();
  const other = newKey();
  const range = (n: number, tx: number): ReturnType<RangeAccumulator['finish']> => ({ count: n, to: { transactionId: String(tx), globalPosition: tx }, range_digest: h(tx), tenants: { acme: entry(n) } });
  const s1 = buildSealBody({ prev: undefined, range: range(3, 10), keyId: key.keyId, sealedAt: '2026-01-01T00:00:00.000Z' });
  const s2 = buildSealBody({ prev: { seal_no: 1, to: s1.to, seal_hash: sealHashOf(s1) }, range: range(2, 20), keyId: key.keyId, sealedAt: '2026-01-01T00:01:00.000Z' });
  const s3 = buildSealBody({ prev: { seal_no: 2, to: s2.to, seal_hash: sealHashOf(s2) }, range: range(5, 30), keyId: key.keyId, sealedAt: '2026-01-01T00:02:00.000Z' });

  it('numbers seals from 1, starts the first at 0:0 with the genesis hash and links each to the last', () => {
    expect(s1).toMatchObject({ format: 'aionis-seal/1', seal_no: 1, from: '0:0', to: '10:10', event_count: 3, prev_seal_hash: GENESIS_HASH, tenant_count: 1 });
    expect(s2).toMatchObject({ seal_no: 2, from: '10:10', to: '20:20', prev_seal_hash: sealHashOf(s1) });
    expect(sealHashOf(s1)).toBe(createHash('sha256').update(canonicalJson(s1)).digest('hex'));
    expect(sealLinkProblems(undefined, s1)).toStrictEqual([]);
    expect(sealLinkProblems(s1, s2)).toStrictEqual([]);
    expect(sealLinkProblems(s2, s3)).toStrictEqual([]);
  });

  it('reports a missing seal, a wrong previous hash and ranges that do not meet', () => {
    expect(sealLinkProblems(s1, s3).join('\n')).toMatch(/expected seal 2: a seal is missing[\s\S]*prev_seal_hash[\s\S]*not where seal 1 ends/);
    expect(sealLinkProblems(undefined, s2).join('\n')).toMatch(/expected seal 1/);
    expect(sealLinkProblems(s1, { ...s2, prev_seal_hash: h(0) })).toStrictEqual([expect.stringMatching(/prev_seal_hash/)]);
    expect(sealLinkProblems(s1, { ...s2, from: '9:9' })).toStrictEqual([expect.stringMatching(/starts after 9:9/)]);
  });

  it('tells which positions a seal covers: (from, to]', () => {
    expect(inSealRange(s2, { transactionId: '10', globalPosition: 10 })).toBe(false);
    expect(inSealRange(s2, { transactionId: '10', globalPosition: 11 })).toBe(true);
    expect(inSealRange(s2, { transactionId: '20', globalPosition: 20 })).toBe(true);
    expect(inSealRange(s2, { transactionId: '21', globalPosition: 1 })).toBe(false);
  });

  it('signs the canonical JSON of the body with Ed25519 and refuses any change', () => {
    const sig = signSealBody(s2, key.privateKey);
    expect(verifySealSignature(s2, sig, key.publicKey)).toBe(true);
    expect(verifySealSignature({ ...s2 }, sig, parseSealPublicKey(key.publicKeyBase64))).toBe(true);
    for (const changed of [
      { ...s2, event_count: 3 },
      { ...s2, tenants_root: h(7) },
      { ...s2, prev_seal_hash: GENESIS_HASH },
      { ...s2, to: '20:21' },
      { ...s2, key_id: other.keyId },
    ] as SealBody[]) {
      expect(verifySealSignature(changed, sig, key.publicKey)).toBe(false);
    }
    expect(verifySealSignature(s2, signSealBody(s2, other.privateKey), key.publicKey)).toBe(false);
    expect(verifySealSignature(s2, sig, other.publicKey)).toBe(false);
    const flipped = Buffer.from(sig, 'base64');
    flipped[5] = flipped[5]! ^ 1;
    expect(verifySealSignature(s2, flipped.toString('base64'), key.publicKey)).toBe(false);
    expect(verifySealSignature(s2, 'garbage', key.publicKey)).toBe(false);
  });
});

/**
 * Offline verification against hand-built seals: tenant "acme" has two streams interleaved with
 * "beta" and platform events; the attacker rewrites the file, fixes up chains and the manifest,
 * but cannot sign.
 */
describe('verifyExport with seals', () => {
  const key = newKey();
  // Commit order: a1 b1 g1 x1 a2 b2 x2 a3 | b3 x3 a4 (| = seal boundary); a*, x* are acme's streams.
  const a = buildChain('acme-a', [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }], 1, 'acme');
  const x = buildChain('acme-x', [{ n: 1 }, { n: 2 }, { n: 3 }], 1, 'acme');
  const b = buildChain('beta-b', [{ n: 1 }, { n: 2 }, { n: 3 }], 1, 'beta');
  const g = buildChain('platform', [{ n: 1 }], 1, null);
  const order = [a[0], b[0], g[0], x[0], a[1], b[1], x[1], a[2], b[2], x[2], a[3]].map((e, i) => ({ ...e!, transactionId: String(100 + i), globalPosition: i + 1 }));
  const seals: Seal[] = [];
  for (const [from, to] of [
    [0, 8],
    [8, 11],
  ] as const) {
    const acc = new RangeAccumulator();
    for (const e of order.slice(from, to)) acc.add(e);
    const summary = acc.finish();
    const last = seals.at(-1);
    const body = buildSealBody({ prev: last ? { seal_no: last.body.seal_no, to: last.body.to, seal_hash: last.seal_hash } : undefined, range: summary, keyId: key.keyId, sealedAt: '2026-01-01T00:00:00.000Z' });
    seals.push(sealOf(body, summary.tenants, key));
  }
  const exported = order.filter((e) => e.tenantId === 'acme');

  function manifestFor(events: readonly RecordedEvent[], sealsIn = seals): ExportManifest {
    const streams: ExportManifest['streams'] = {};
    for (const e of events) {
      const s = streams[e.streamId];
      if (!s) streams[e.streamId] = { first_position: e.streamPosition, last_position: e.streamPosition, count: 1, anchor_prev_hash: e.prevHash, head_hash: e.hash };
      else Object.assign(s, { last_position: e.streamPosition, count: s.count + 1, head_hash: e.hash });
    }
    const lastTo = sealsIn.at(-1)?.body.to;
    return {
      format: EXPORT_FORMAT,
      tenant_id: 'acme',
      from: null,
      to: null,
      exported_at: '2026-01-02T00:00:00.000Z',
      position: '110:11',
      events: events.length,
      streams,
      file_sha256: 'f',
      seals: sealsIn.map((s) => ({ body: s.body, signature: s.signature, key_id: s.body.key_id, tenant_proof: proveTenant(s.tenants, 'acme') })),
      seal_public_key: key.publicKeyPem,
      seal_public_keys: { [key.keyId]: key.publicKeyPem },
      unsealed_events: lastTo ? 0 : events.length,
    };
  }
  const run = (events: readonly RecordedEvent[], manifest = manifestFor(events), trusted?: KeyObject[]) =>
    verifyExportReport(
      events.map((e) => canonicalJson(e)),
      'f',
      manifest,
      trusted ? { trustedSealKeys: trusted } : {},
    );

  /** Re-link a stream after an edit, as an attacker without the key can. */
  function rechain(events: RecordedEvent[], streamId: string): RecordedEvent[] {
    let prev = GENESIS_HASH;
    let pos = 0;
    return events.map((e) => {
      if (e.streamId !== streamId) return e;
      pos += 1;
      const relinked = { ...e, streamPosition: pos, prevHash: prev };
      const out = { ...relinked, hash: chainHash(prev, hashedEnvelope(relinked)) };
      prev = out.hash;
      return out;
    });
  }

  it('verifies an untouched export, with and without a pinned key', () => {
    expect(run(exported)).toStrictEqual({ findings: [], seals: { seals: 2, last_seal_no: 2, key_pinned: false, trusted_key_ids: [key.keyId], unsealed_events: 0 } });
    expect(run(exported, undefined, [key.publicKey]).seals.key_pinned).toBe(true);
    expect(run(exported, undefined, [key.publicKey]).findings).toStrictEqual([]);
  });

  it('catches a dropped event between other streams even with its stream re-chained and the manifest fixed', () => {
    const dropped = rechain(exported.filter((e) => e !== exported[2]), 'acme-a'); // a2: after x1, before b2
    const r = run(dropped);
    // Seal 1 lost an event; seal 2 holds a4, whose hash changed with the re-chaining.
    expect(r.findings.map((f) => [f.check, f.seal_no])).toStrictEqual([
      ['seal', 1],
      ['seal', 2],
    ]);
    expect(r.findings[0]!.detail).toMatch(/1 event\(s\) fewer than sealed/);
  });

  it('catches two streams’ events swapped, positions swapped too so the order check passes', () => {
    const i = 1; // x1, then a2: different streams, adjacent in the export
    const [p, q] = [exported[i]!, exported[i + 1]!];
    const swapped = [...exported];
    swapped[i] = { ...q, transactionId: p.transactionId, globalPosition: p.globalPosition };
    swapped[i + 1] = { ...p, transactionId: q.transactionId, globalPosition: q.globalPosition };
    const r = run(swapped);
    expect(r.findings.map((f) => f.check)).toStrictEqual(['seal']);
    expect(r.findings[0]!.detail).toMatch(/same number of events, but not the sealed ones in the sealed order/);
  });

  it('catches an event moved past the last seal, an unsealed event inserted into a sealed range, and a dropped seal', () => {
    const moved = exported.map((e) => (e === exported[4] ? { ...e, transactionId: '200', globalPosition: 50 } : e)).sort((m, n) => Number(m.transactionId) - Number(n.transactionId));
    const movedManifest = { ...manifestFor(moved), position: '200:50', unsealed_events: 1 };
    expect(run(moved, movedManifest).findings).toEqual([expect.objectContaining({ check: 'seal', seal_no: 1 })]);
    // A fabricated acme stream placed where beta's b1 sits in the log: seal 1 counts one acme event too many.
    const intruder = { ...buildChain('acme-new', [{ n: 1 }], 1, 'acme')[0]!, transactionId: '101', globalPosition: 2 };
    const withIntruder = [exported[0]!, intruder, ...exported.slice(1)];
    expect(run(withIntruder).findings).toEqual([expect.objectContaining({ check: 'seal', seal_no: 1, detail: expect.stringMatching(/1 event\(s\) more than sealed/) })]);
    expect(run(exported, manifestFor(exported, [seals[1]!])).findings).toEqual(expect.arrayContaining([expect.objectContaining({ check: 'seal', seal_no: 2, detail: expect.stringMatching(/expected seal 1/) })]));
  });

  it('catches a tampered signature, a tampered body, an untrusted pinned key and a forged tenant entry', () => {
    const m = manifestFor(exported);
    const sig = Buffer.from(m.seals![0]!.signature, 'base64');
    sig[0] = sig[0]! ^ 0xff;
    const badSig = { ...m, seals: [{ ...m.seals![0]!, signature: sig.toString('base64') }, m.seals![1]!] };
    expect(run(exported, badSig).findings).toStrictEqual([expect.objectContaining({ check: 'seal', seal_no: 1, detail: expect.stringMatching(/signature does not verify/) })]);
    const wrongKey = newKey();
    const pinnedWrong = run(exported, m, [wrongKey.publicKey]);
    expect(pinnedWrong.findings).toHaveLength(2);
    expect(pinnedWrong.findings[0]!.detail).toMatch(new RegExp(`signed with key ${key.keyId}, which is not a pinned key`));
    // Re-signed by the attacker's own key, manifest key swapped: fine unpinned, caught pinned.
    const forged = { ...m, seal_public_key: wrongKey.publicKeyPem, seal_public_keys: { [wrongKey.keyId]: wrongKey.publicKeyPem } };
    let prev: SealBody | undefined;
    forged.seals = m.seals!.map((s) => {
      const body = { ...s.body, key_id: wrongKey.keyId, ...(prev ? { prev_seal_hash: sealHashOf(prev) } : {}) };
      prev = body;
      return { ...s, body, key_id: wrongKey.keyId, signature: signSealBody(body, wrongKey.privateKey) };
    });
    expect(run(exported, forged).findings).toStrictEqual([]);
    expect(run(exported, forged, [key.publicKey]).findings.map((f) => f.check)).toStrictEqual(['seal', 'seal']);
    const forgedEntry = { ...m, seals: [{ ...m.seals![0]!, tenant_proof: { ...m.seals![0]!.tenant_proof, entry: { count: 1, digest: h(1) } } }, m.seals![1]!] };
    expect(run(exported, forgedEntry).findings).toStrictEqual([expect.objectContaining({ check: 'seal', detail: expect.stringMatching(/do not lead to the sealed tenants_root/) })]);
  });

  it('keeps manifests without seals (older exports) verifiable', () => {
    const m = manifestFor(exported);
    delete m.seals;
    delete m.seal_public_key;
    delete m.seal_public_keys;
    delete m.unsealed_events;
    expect(verifyExport(exported.map((e) => canonicalJson(e)), 'f', m)).toStrictEqual([]);
  });
});
