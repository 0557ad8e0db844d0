import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { type ExportManifest, exportTenant, sha256File } from '../../src/ops/audit/audit-export';
import { startTestService, type TestService } from '../support/service';
import { pgOnly } from '../support/skips';

const ROOT = join(__dirname, '../..');
const json = { 'Content-Type': 'application/json' };

function verify(file: string): { status: number | null; out: { ok: boolean; findings: { check: string; event_id?: string; stream_position?: number }[] } } {
  const r = spawnSync(process.execPath, ['-r', join(ROOT, 'test/support/swc-register.cjs'), join(ROOT, 'src/ops/cli/audit-verify.ts'), file, '--json'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' },
    encoding: 'utf8',
  });
  return { status: r.status, out: JSON.parse(r.stdout || '{"ok":false,"findings":[]}') as never };
}

describe('auditor export and offline verification', () => {
  let t: TestService;
  let dir = '';
  let file = '';

  beforeAll(async () => {
    t = await startTestService();
    dir = mkdtempSync(join(tmpdir(), 'aionis-audit-'));
    const api = request(t.url);
    for (const id of ['aud-a', 'aud-b']) await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: id }).expect(201);
    await api.patch('/v1/admin/control/tenants/aud-a').set(t.auth).set(json).send({ display_name: 'Audited A' }).expect(200);
    await api.post('/v1/admin/control/projects').set(t.auth).set(json).send({ tenant_id: 'aud-a', project_id: 'aud-a-p' }).expect(201);
    const k = await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: 'aud-a', label: 'CANARY-A' }).expect(201);
    await api.post(`/v1/admin/control/api-keys/${k.body.key.key_id}/revoke`).set(t.auth).expect(200);
    await api.post('/v1/admin/control/tenants/aud-b/suspend').set(t.auth).expect(200);
    file = join(dir, 'aud-a.ndjson');
    const lines: string[] = [];
    const summary = await exportTenant(t.tdb.database, { tenantId: 'aud-a' }, (l) => void lines.push(l));
    writeFileSync(file, lines.join(''));
    const manifest: ExportManifest = { ...summary, exported_at: new Date().toISOString(), file_sha256: await sha256File(file) };
    writeFileSync(`${file}.manifest.json`, JSON.stringify(manifest));
  });
  afterAll(async () => {
    await t.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const lines = () => readFileSync(file, 'utf8').trim().split('\n');
  const variant = (name: string, content: string[], fixSha = false): string => {
    const f = join(dir, name);
    writeFileSync(f, `${content.join('\n')}\n`);
    const manifest = JSON.parse(readFileSync(`${file}.manifest.json`, 'utf8')) as ExportManifest;
    if (fixSha) manifest.file_sha256 = createHash('sha256').update(readFileSync(f)).digest('hex');
    writeFileSync(`${f}.manifest.json`, JSON.stringify(manifest));
    return f;
  };

  it("exports only the tenant's events, in commit order, and verifies clean", () => {
    const events = lines().map((l) => JSON.parse(l) as { tenantId: string; type: string });
    expect(events.every((e) => e.tenantId === 'aud-a')).toBe(true);
    expect(events.map((e) => e.type)).toEqual(['TenantCreated', 'TenantUpdated', 'ProjectCreated', 'ApiKeyCreated', 'ApiKeyRevoked']);
    const r = verify(file);
    expect(r.status).toBe(0);
    expect(r.out).toMatchObject({ ok: true, findings: [] });
  });

  it('detects an edited event and names it, even when the file hash in the manifest is recomputed', () => {
    const ls = lines();
    const edited = ls.map((l, i) => (i === 1 ? l.replace('Audited A', 'Audited Z') : l));
    const r = verify(variant('edited.ndjson', edited, true));
    expect(r.status).toBe(2);
    const target = JSON.parse(ls[1]!) as { eventId: string };
    expect(r.out.findings).toEqual(expect.arrayContaining([expect.objectContaining({ check: 'chain', event_id: target.eventId })]));
  });

  it('detects a deleted, a reordered and a truncated event', () => {
    const ls = lines();
    // Delete ApiKeyCreated: the key's next event no longer links to anything.
    const deleted = verify(variant('deleted.ndjson', [...ls.slice(0, 3), ...ls.slice(4)], true));
    expect(deleted.status).toBe(2);
    expect(deleted.out.findings.map((f) => f.check)).toEqual(expect.arrayContaining(['chain', 'manifest_counts']));
    // Delete the tenant stream's last event: a truncation, caught by the manifest's head hash.
    const tail = verify(variant('tail.ndjson', [ls[0]!, ...ls.slice(2)], true));
    expect(tail.out.findings.map((f) => f.check)).toContain('manifest_heads');
    const reordered = verify(variant('reordered.ndjson', [ls[1]!, ls[0]!, ...ls.slice(2)], true));
    expect(reordered.status).toBe(2);
    expect(reordered.out.findings.map((f) => f.check)).toContain('order');
    const truncated = verify(variant('truncated.ndjson', ls.slice(0, -1), true));
    expect(truncated.status).toBe(2);
    expect(truncated.out.findings.map((f) => f.check)).toEqual(expect.arrayContaining(['manifest_heads', 'manifest_counts']));
    const untouchedButResaved = verify(variant('same.ndjson', ls, false));
    expect(untouchedButResaved.status).toBe(0);
  });

  pgOnly.it('has a CLI that exports from the database (PostgreSQL: a second process)', () => {
    const out = join(dir, 'cli.ndjson');
    const r = spawnSync(process.execPath, ['-r', join(ROOT, 'test/support/swc-register.cjs'), join(ROOT, 'src/ops/cli/audit-export.ts'), '--tenant', 'aud-a', '--out', out, '--json'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DATABASE_URL: t.tdb.url ?? '' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, events: 5, streams: 3 });
    expect(r.stderr).toContain('"progress":"audit:export"');
    expect(verify(out).status).toBe(0);
    expect(readFileSync(out, 'utf8')).not.toContain('"tenantId":"aud-b"');
  });
});
