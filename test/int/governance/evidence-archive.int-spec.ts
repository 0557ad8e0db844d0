import { generateKeyPairSync, sign } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { archiveBundle, archivedBundles, logPosition } from '../../../src/governance/evidence/evidence-archive';
import { FilesystemEvidenceStore } from '../../../src/governance/evidence/evidence-store';
import { listBundles } from '../../../src/governance/evidence/bundles';
import { sealKeyFrom } from '../../../src/platform/config/seal-key';
import { PostgresEventStore } from '../../../src/platform/event-store/postgres-event-store';
import { runCliSync } from '../../support/cli';
import { createTestDatabase, type TestDatabase } from '../../support/test-db';

const actor = { type: 'operator' as const, id: 'op_test' };

function verify(args: string[]): { status: number | null; out: { ok: boolean; findings: { check: string; detail: string; path?: string }[] } } {
  const r = runCliSync<{ ok: boolean; findings: { check: string; detail: string; path?: string }[] }>('evidence-verify.ts', [...args, '--json']);
  return { status: r.status, out: r.out ?? { ok: false, findings: [] } };
}

/**
 * The evidence archive: signed, content-addressed, chained bundles; every archive an event; and
 * evidence:verify (offline) naming precisely what was tampered with.
 */
describe('evidence archive and evidence:verify', () => {
  let tdb: TestDatabase;
  let dir = '';
  let archive = '';
  const key = sealKeyFrom(generateKeyPairSync('ed25519').privateKey);
  const ids: string[] = [];

  beforeAll(async () => {
    tdb = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'aionis-evidence-'));
    archive = join(dir, 'archive');
    const store = new FilesystemEvidenceStore(archive);
    const events = new PostgresEventStore(tdb.database);
    for (const week of ['2026-W46', '2026-W47', '2026-W48']) {
      const b = await archiveBundle(tdb.database, events, store, key, {
        kind: 'governance-weekly',
        labels: { week },
        files: [
          { path: 'report.json', content: Buffer.from(JSON.stringify({ week, ok: true })) },
          { path: 'WEEKLY_REPORT.md', content: Buffer.from(`# Week ${week}\n`) },
        ],
        logPosition: await logPosition(tdb.database.db),
        actor,
        command: 'test',
        version: '0.0.0-test',
      });
      ids.push(b.id);
    }
    // Appended through the one command path: a command id, dated by the manifest's created_at.
    const archived = await sql<{ command_id: string | null; occurred_at: string; bundle_id: string }>`
      SELECT metadata->>'command_id' AS command_id, metadata->>'occurred_at' AS occurred_at, data->>'bundle_id' AS bundle_id
      FROM es_events WHERE stream_id = 'evidence-governance-weekly' ORDER BY stream_position`.execute(tdb.database.db);
    const manifests = await listBundles(store, 'governance-weekly');
    expect(archived.rows.map((r) => r.bundle_id)).toEqual(ids);
    for (const r of archived.rows) {
      expect(r.command_id).toMatch(/^cmd:[0-9a-f-]{36}$/);
      expect(r.occurred_at).toBe(manifests.find((m) => m.id === r.bundle_id)?.manifest.created_at);
    }
    writeFileSync(join(dir, 'key.pem'), key.publicKeyPem);
    writeFileSync(join(dir, 'other.pem'), sealKeyFrom(generateKeyPairSync('ed25519').privateKey).publicKeyPem);
  }, 60_000);
  afterAll(async () => {
    await tdb.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A copy of the archive to tamper with. */
  const copy = (name: string): string => {
    const c = join(dir, name);
    cpSync(archive, c, { recursive: true });
    return c;
  };
  const bundleDir = (root: string, i: number) => join(root, 'governance-weekly', ids[i]!);

  it('archives a chain: sequences 1..3, each naming the previous manifest hash, each recorded as an event', async () => {
    const bundles = await listBundles(new FilesystemEvidenceStore(archive), 'governance-weekly');
    expect(bundles.map((b) => [b.manifest.sequence, b.manifest.previous_manifest_sha256])).toEqual([
      [1, null],
      [2, ids[0]],
      [3, ids[1]],
    ]);
    expect(bundles.map((b) => b.id)).toEqual(ids);
    const recorded = await archivedBundles(tdb.database.db, { kind: 'governance-weekly' });
    expect(recorded.map((r) => [r.sequence, r.bundle_id, r.labels.week, r.actor])).toEqual([
      [3, ids[2], '2026-W48', 'operator:op_test'],
      [2, ids[1], '2026-W47', 'operator:op_test'],
      [1, ids[0], '2026-W46', 'operator:op_test'],
    ]);
    expect(recorded[0]?.files.map((f) => f.path)).toEqual(['WEEKLY_REPORT.md', 'report.json']);
  });

  it('verifies clean: by directory, by id prefix, all, and against the pinned key', () => {
    expect(verify([bundleDir(archive, 1)]).status).toBe(0);
    expect(verify([ids[2]!.slice(0, 10), '--archive', archive]).status).toBe(0);
    expect(verify(['--all', '--archive', archive, '--public-key', join(dir, 'key.pem')]).out).toMatchObject({ ok: true, findings: [] });
  });

  it('an edited file is named, with the hash it has and the one the manifest gives', () => {
    const c = copy('edited-file');
    writeFileSync(join(bundleDir(c, 1), 'files', 'report.json'), '{"week":"2026-W47","ok":false}');
    const r = verify([bundleDir(c, 1)]);
    expect(r.status).toBe(2);
    expect(r.out.findings).toEqual([expect.objectContaining({ check: 'file_hash', path: 'report.json', detail: expect.stringContaining('report.json hashes to') })]);
  });

  it('an edited manifest breaks its address and its signature', () => {
    const c = copy('edited-manifest');
    const m = join(bundleDir(c, 0), 'manifest.json');
    writeFileSync(m, readFileSync(m, 'utf8').replace('2026-W46', '2026-W45'));
    const r = verify([bundleDir(c, 0)]);
    expect(r.status).toBe(2);
    expect(r.out.findings.map((f) => f.check)).toEqual(['manifest', 'signature']);
    expect(r.out.findings[0]?.detail).toContain('the manifest was edited');
  });

  it('a forged signature (another key) fails; the right signature with a wrong pinned key fails too', () => {
    const c = copy('forged-signature');
    const forger = sealKeyFrom(generateKeyPairSync('ed25519').privateKey);
    const sigFile = join(bundleDir(c, 2), 'manifest.sig');
    const forged = { algorithm: 'Ed25519', key_id: key.keyId, public_key_pem: key.publicKeyPem, signature: sign(null, readFileSync(join(bundleDir(c, 2), 'manifest.json')), forger.privateKey).toString('base64') };
    writeFileSync(sigFile, JSON.stringify(forged));
    const r = verify([bundleDir(c, 2)]);
    expect(r.status).toBe(2);
    expect(r.out.findings).toEqual([expect.objectContaining({ check: 'signature', detail: 'the signature over manifest.json does not verify' })]);
    const pinned = verify([bundleDir(archive, 2), '--public-key', join(dir, 'other.pem')]);
    expect(pinned.status).toBe(2);
    expect(pinned.out.findings).toEqual([expect.objectContaining({ check: 'signature', detail: 'the signature does not verify with the pinned public key' })]);
  });

  it('a bundle removed from the middle of the chain is named by its successor', () => {
    const c = copy('removed-bundle');
    rmSync(bundleDir(c, 1), { recursive: true });
    const r = verify(['--all', '--archive', c]);
    expect(r.status).toBe(2);
    const chain = r.out.findings.filter((f) => f.check === 'chain').map((f) => f.detail);
    expect(chain).toEqual([expect.stringContaining('bundle(s) 2..2 are missing'), expect.stringContaining(`names previous bundle ${ids[1]}, which is not in the archive (removed?)`)]);
  });

  it('a missing listed file and an unlisted extra file are both named', () => {
    const c = copy('files');
    rmSync(join(bundleDir(c, 0), 'files', 'WEEKLY_REPORT.md'));
    writeFileSync(join(bundleDir(c, 0), 'files', 'extra.txt'), 'slipped in later');
    const r = verify([bundleDir(c, 0)]);
    expect(r.out.findings.map((f) => [f.check, f.path])).toEqual([
      ['file_missing', 'WEEKLY_REPORT.md'],
      ['file_unlisted', 'extra.txt'],
    ]);
  });

  it('two archivers racing never fork the chain', async () => {
    const store = new FilesystemEvidenceStore(join(dir, 'race'));
    const events = new PostgresEventStore(tdb.database);
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        archiveBundle(tdb.database, events, store, key, { kind: 'release', labels: { release: `1.0.${i}` }, files: [{ path: 'a.txt', content: Buffer.from(String(i)) }], logPosition: '0:0', actor, command: 'test', version: 'x' }),
      ),
    );
    const bundles = await listBundles(store, 'release');
    expect(bundles.map((b) => b.manifest.sequence)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(verify(['--all', '--archive', join(dir, 'race')]).status).toBe(0);
    const n = await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_events WHERE stream_id = 'evidence-release'`.execute(tdb.database.db);
    expect(n.rows[0]?.n).toBe(6);
  }, 60_000);
});
