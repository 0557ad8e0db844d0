import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { PgDatabase } from '../../src/platform/db/pg-database';
import { createPgDatabase, usingPostgres } from '../support/test-db';

const ROOT = join(__dirname, '..', '..');

interface Step {
  readonly step: string;
  readonly [k: string]: unknown;
}

/**
 * `npm run drill:slo-burn` as on-call runs it (a child process, --json): real recall_text errors
 * for a drill tenant fire the three availability burn-rate alerts, each reaches the drill's local
 * receiver once with a valid signature, healthy traffic resolves them, and the documented receiver
 * check refuses the firing delivery replayed later. On PostgreSQL (the CI tier with
 * TEST_DATABASE_URL) it runs against a database given by DATABASE_URL, as on a deployment's own,
 * and the alert events are left in that log; on the embedded database otherwise.
 */
describe('the SLO burn-rate drill (npm run drill:slo-burn)', () => {
  let tmp: string;
  let pg: { url: string; drop: () => Promise<void> } | undefined;
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'aionis-slo-drill-test-'));
  });
  afterEach(async () => {
    rmSync(tmp, { recursive: true, force: true });
    await pg?.drop();
    pg = undefined;
  });

  const drill = (args: string[], env: Record<string, string>) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['-r', join(ROOT, 'test/support/swc-register.cjs'), join(ROOT, 'src/ops/cli/drill-slo-burn.ts'), ...args], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', TMPDIR: tmp, ...env },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
      const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
      child.on('error', reject);
      child.on('close', (status) => {
        clearTimeout(timer);
        resolve({ status, stdout, stderr });
      });
    });

  it(`fires, delivers signed, resolves and refuses a replayed delivery on ${usingPostgres() ? 'PostgreSQL (DATABASE_URL)' : 'the embedded database'}; leaves no data directory`, async () => {
    pg = usingPostgres() ? await createPgDatabase() : undefined;
    const keys = { KEY_PEPPER: randomBytes(32).toString('hex'), AUDIT_SEAL_PRIVATE_KEY: generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
    const r = await drill(['--json'], pg ? { DATABASE_URL: pg.url, ...keys } : {});
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const steps = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Step);
    const step = (prefix: string) => steps.find((s) => s.step.startsWith(prefix));
    expect(steps[0]).toMatchObject({ database: pg ? 'postgresql (DATABASE_URL)' : 'embedded' });
    // The errors are real: every recall_text failed with the provider down.
    expect(step('errors driven')).toMatchObject({ requests: 20, statuses: { '503': 20 } });
    const fired = step('ALERT FIRED')!;
    expect(fired).toMatchObject({
      rule: 'slo-availability-fast-burn',
      signature: 'valid',
      runbook_url: 'runbooks/alerts.md#slo-availability-fast-burn',
      numbers: { sli: 'availability', target: 0.99, factor: 14.4, bad_long: 20, requests_long: 30 },
      firing_rules: ['slo-availability-fast-burn', 'slo-availability-medium-burn', 'slo-availability-slow-burn'],
    });
    expect(fired.console_url).toMatch(new RegExp(`/console/alerts/${String(fired.alert_id)}$`));
    expect(step('metrics')).toEqual({ step: 'metrics', 'aionis_alerts_firing{rule="slo-availability-fast-burn",severity="page"}': 1 });
    expect(step('ALERTS RESOLVED')).toMatchObject({ resolved_rules: ['slo-availability-fast-burn', 'slo-availability-medium-burn', 'slo-availability-slow-burn'] });
    expect(steps.at(-1)).toMatchObject({
      step: expect.stringMatching(/^proven/),
      deliveries: 6,
      signatures_valid: 6,
      each_delivered_once: true,
      replayed_delivery: 'refused (stale)',
      tampered_delivery: 'refused (mismatch)',
      resolved_alert_id: fired.alert_id,
    });
    expect(readdirSync(tmp)).toEqual([]);
    if (pg) {
      // It ran on that database: the drill tenant's alert events are in its log, and the drill's route is disabled.
      const tenant = String(steps.find((s) => typeof s.tenant === 'string')?.tenant);
      const client = new PgDatabase({ url: pg.url, poolSize: 1, applicationName: 'aionis-test' });
      try {
        const events = await sql<{ type: string; n: number }>`SELECT type, count(*)::int AS n FROM es_events WHERE tenant_id = ${tenant} AND type IN ('AlertFired', 'AlertResolved') GROUP BY type ORDER BY type`.execute(client.db);
        expect(events.rows).toEqual([
          { type: 'AlertFired', n: 3 },
          { type: 'AlertResolved', n: 3 },
        ]);
        const disabled = await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_events WHERE type = 'AlertRouteDisabled'`.execute(client.db);
        expect(disabled.rows[0]?.n).toBe(1);
      } finally {
        await client.close();
      }
    }
  }, 300_000);

  it('refuses a bad --errors with exit 1 and its usage; --help exits 0', async () => {
    const bad = await drill(['--errors', '5'], {});
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('usage error: --errors must be a whole number between 10 and 500');
    expect(bad.stderr).toContain('usage: npm run -s drill:slo-burn --');
    const help = await drill(['--help'], {});
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('runbooks/alerts.md#drill-slo-burn');
    expect(readdirSync(tmp)).toEqual([]);
  }, 60_000);
});
