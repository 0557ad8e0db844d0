import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { ProjectionsService } from '../../src/platform/projections/projections.service';
import { startTestService } from '../support/service';

/**
 * The service as a real process (`node src/main.ts` through swc): configuration failing fast,
 * the embedded mode's DATA_DIR lock, the bootstrap credential, restarts.
 */
const ROOT = join(__dirname, '../..');

interface Proc {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function startMain(env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['-r', join(ROOT, 'test/support/swc-register.cjs'), join(ROOT, 'src/main.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NODE_OPTIONS: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out: () => out, exited };
}

async function waitFor(p: Proc, pattern: RegExp, timeoutMs = 60_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = pattern.exec(p.out());
    if (m) return m;
    if (p.child.exitCode !== null) throw new Error(`process exited (${p.child.exitCode}) before printing ${pattern}:\n${p.out()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}:\n${p.out()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the service process', () => {
  const procs: Proc[] = [];
  const dirs: string[] = [];
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('refuses to start on bad configuration and lists every bad variable', async () => {
    const p = startMain({ PORT: 'eighty', DATABASE_URL: 'mysql://db/x', KEY_PEPPER: 'short', LOG_LEVEL: 'loud', AIONIS_ROLES: 'api,janitor' });
    procs.push(p);
    expect(await p.exited).toBe(1);
    const out = p.out();
    for (const v of ['PORT', 'DATABASE_URL', 'KEY_PEPPER', 'LOG_LEVEL', 'AIONIS_ROLES']) expect(out).toContain(`${v}:`);
    expect(out).toContain('docs/configuration.md');
  }, 30_000);

  it('boots on the embedded database, writes the bootstrap token 0600 without logging it, locks DATA_DIR, and keeps data across restarts', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'aionis-proc-'));
    dirs.push(dataDir);
    const env = { DATA_DIR: dataDir, PORT: '0', LOG_FORMAT: 'json', LOG_LEVEL: 'info' };
    const first = startMain(env);
    procs.push(first);
    const [, url] = await waitFor(first, /running at (http:\/\/\S+)/);
    const tokenFile = join(dataDir, 'bootstrap-admin.token');
    expect(first.out()).toContain(tokenFile);
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, 'key-pepper')).mode & 0o777).toBe(0o600);
    const token = readFileSync(tokenFile, 'utf8').trim();
    expect(token).toMatch(/^aio_admin_[A-Za-z0-9_-]{43}$/);

    const api = request(url!);
    await api.post('/v1/admin/control/tenants').set('Authorization', `Bearer ${token}`).send({ tenant_id: 'survives-restart' }).expect(201);
    expect((await api.get('/health/ready')).status).toBe(200);

    // A second process on the same DATA_DIR is refused with a clear message.
    const second = startMain(env);
    procs.push(second);
    expect(await second.exited).toBe(1);
    expect(second.out()).toMatch(/DATA_DIR .* is in use by another Aionis process \(pid \d+/);

    // The token never appears in the output.
    expect(first.out()).not.toContain(token);

    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const third = startMain(env);
    procs.push(third);
    const [, url3] = await waitFor(third, /running at (http:\/\/\S+)/);
    expect(readFileSync(tokenFile, 'utf8').trim()).toBe(token); // no second bootstrap
    const got = await request(url3!).get('/v1/admin/control/tenants/survives-restart').set('Authorization', `Bearer ${token}`);
    expect(got.status).toBe(200);
    expect(third.out()).not.toContain(token);
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
  }, 120_000);
});

describe('readiness', () => {
  it('fails when a projector has died, and says which', async () => {
    const t = await startTestService();
    try {
      const api = request(t.url);
      expect((await api.get('/health/ready')).status).toBe(200);
      await t.service.app.get(ProjectionsService).runner('tenants')!.stop();
      const res = await api.get('/health/ready');
      expect(res.status).toBe(503);
      expect(res.body.status).toBe('not_ready');
      const tenants = res.body.projections.find((p: { projection: string }) => p.projection === 'tenants');
      expect(tenants).toMatchObject({ ok: false, state: 'stopped' });
      expect(res.body.checks.find((c: { name: string }) => c.name === 'projector').detail).toContain('tenants');
    } finally {
      await t.stop();
    }
  }, 60_000);
});
