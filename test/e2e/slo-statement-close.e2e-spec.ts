import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { sql } from 'kysely';
import request from 'supertest';
import { AlertEvaluator } from '../../src/alerting/alert-evaluator';
import type { Decision } from '../../src/alerting/burn-rate';
import { ExecuteTenantCommand } from '../../src/control-plane/tenants/tenant.commands';
import type { Tier } from '../../src/control-plane/tenants/tenant.domain';
import { MONTH_CLOSE_HOLD_DAYS } from '../../src/data-plane/telemetry/telemetry';
import { TelemetryRepository } from '../../src/data-plane/telemetry/telemetry.repository';
import { listBundles, verifyBundle } from '../../src/governance/evidence/bundles';
import { FilesystemEvidenceStore } from '../../src/governance/evidence/evidence-store';
import { GovernanceService } from '../../src/governance/governance.service';
import { sloCloseStreamId } from '../../src/governance/slo-statements/month-close';
import { SloCloseEventsRepository } from '../../src/governance/slo-statements/slo-close-events.repository';
import { SloStatementScheduler } from '../../src/governance/slo-statements/slo-statement.scheduler';
import { systemCommandContext } from '../../src/platform/event-store/command-context';
import { runCli } from '../support/cli';
import { startTestService, type TestService } from '../support/service';
import { onlyIf } from '../support/skips';
import { usingPostgres } from '../support/test-db';

const DAY = 86_400_000;
const MIN = 60_000;
const now = Date.now();
const d = new Date(now);
const curStart = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
const prevStart = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 1, 1);
const PREV = new Date(prevStart).toISOString().slice(0, 7);
// Within the month-close hold a starter tenant's closed month is still computable (the point of
// the hold); later in the month only a longer retention is, so the second tenant is enterprise then.
const heldTier: Tier = now < curStart + (MONTH_CLOSE_HOLD_DAYS - 1) * DAY ? 'starter' : 'enterprise';
// The default schedule (00:15 on the 1st) closes last month once it has fired this month; the
// missed-run alert looks at a fire more than an hour ago.
const closable = now > curStart + 75 * MIN;

/**
 * The monthly SLO statement close on a real service: two tenants that existed last month (one
 * suspended since) and one created this month; the scheduler's run, raced by two instances,
 * issues each statement once as a signed bundle with its SloStatementIssued event; a second run
 * issues nothing; the missed-run alert fires while the month is not closed and resolves after
 * the runbook's close by hand.
 */
async function setup(t: TestService): Promise<void> {
  const bus = t.service.app.get(CommandBus);
  const at = (ms: number) => systemCommandContext({ actor: { type: 'operator', id: 'test' }, now: () => new Date(ms) });
  // Created last month (the event dated then, as if it had happened then).
  await bus.execute(new ExecuteTenantCommand({ type: 'CreateTenant', tenant_id: 'close-a', display_name: 'A', tier: 'enterprise', metadata: {} }, at(prevStart + 2 * DAY)));
  await bus.execute(new ExecuteTenantCommand({ type: 'CreateTenant', tenant_id: 'close-b', display_name: 'B', tier: heldTier, metadata: {} }, at(prevStart + 3 * DAY)));
  await bus.execute(new ExecuteTenantCommand({ type: 'SuspendTenant', tenant_id: 'close-b', reason: 'unpaid' }, at(now)));
  await request(t.url).post('/v1/admin/control/tenants').set(t.auth).set({ 'Content-Type': 'application/json' }).send({ tenant_id: 'close-new' }).expect(201);
  const telemetry = t.service.app.get(TelemetryRepository);
  for (const [tenant, minute, total, s5xx] of [
    ['close-a', prevStart + 5 * DAY, 1000, 1],
    ['close-b', curStart - MIN, 200, 0],
    ['close-new', curStart + MIN, 50, 0],
  ] as const) {
    await telemetry.addRollup({ tenant, project: '', key: 'k', endpoint: 'write', minute: new Date(minute).toISOString(), rollup: { total, status_2xx: total - s5xx, status_4xx: 0, status_429: 0, status_5xx: s5xx, latency_sum_ms: total, buckets: [total, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] } });
  }
}

const issuedEvents = async (t: TestService) =>
  (
    await sql<{ tenant_id: string; data: { month: string; provisional: boolean; bundle_id: string } }>`
      SELECT tenant_id, data FROM es_events WHERE type = 'SloStatementIssued' ORDER BY global_position`.execute(t.tdb.database.db)
  ).rows;

onlyIf(closable, 'in the first 75 minutes of a month the default close has not fired (or not an hour ago) yet').describe('SLO statements: the monthly close', () => {
  describe('the scheduled close', () => {
    let t: TestService;
    let archiveDir = '';
    beforeAll(async () => {
      archiveDir = mkdtempSync(join(tmpdir(), 'aionis-slo-close-'));
      // The service's own scheduler runs the default schedule, ticking at start only (before the tenants exist).
      t = await startTestService({ env: { ARCHIVE_DIR: archiveDir, GOVERNANCE_WEEKLY_REPORT_CRON: 'off', GOVERNANCE_SCHEDULER_TICK_MS: '3600000', ALERTS_ENABLED: 'false' } });
      await setup(t);
    }, 60_000);
    afterAll(async () => {
      await t?.stop();
      rmSync(archiveDir, { recursive: true, force: true });
    });

    it("two instances racing close last month once: every tenant that existed in it gets its signed statement, a tenant created this month none", async () => {
      const g = t.service.app.get(GovernanceService);
      const instance = (id: string) =>
        new SloStatementScheduler({ repository: new SloCloseEventsRepository(t.tdb.database), eventStore: g.eventStore, logger: new Logger('test'), instanceId: id, close: (m, on) => g.closeSloMonth(m, on) }, '15 0 1 * *');
      const runs = await Promise.all([instance('one').tick(), instance('two').tick(), g.sloScheduler!.tick()]);
      const ran = runs.filter((r) => r !== null);
      expect(ran).toEqual([{ month: PREV, tenants: 2, issued: 2, already_issued: 0, failed: [] }]);

      const db = t.tdb.database.db;
      const stream = await sql<{ type: string; data: Record<string, unknown> }>`SELECT type, data FROM es_events WHERE stream_id = ${sloCloseStreamId(PREV)} ORDER BY stream_position`.execute(db);
      expect(stream.rows.map((r) => r.type)).toEqual(['SloStatementCloseClaimed', 'SloStatementCloseCompleted']);
      expect(stream.rows[1]!.data).toMatchObject({ month: PREV, tenants: 2, issued: 2, failed: [] });

      const issued = await issuedEvents(t);
      expect(issued.map((e) => [e.tenant_id, e.data.month, e.data.provisional])).toEqual([
        ['close-a', PREV, false],
        ['close-b', PREV, false],
      ]);
      const store = new FilesystemEvidenceStore(archiveDir);
      const bundles = await listBundles(store, 'slo-statement');
      expect(bundles.map((b) => b.manifest.labels).sort((x, y) => String(x.tenant_id).localeCompare(String(y.tenant_id)))).toEqual([
        expect.objectContaining({ tenant_id: 'close-a', month: PREV, provisional: 'false' }),
        expect.objectContaining({ tenant_id: 'close-b', month: PREV, provisional: 'false' }),
      ]);
      expect(bundles.map((b) => b.id).sort()).toEqual(issued.map((e) => e.data.bundle_id).sort());
      for (const b of bundles) expect(await verifyBundle(store, 'slo-statement', b.id)).toEqual([]);
      // The statement is the real one: close-a's month has its 1000 requests.
      const statement = await request(t.url).get(`/v1/admin/control/tenants/close-a/slo-statements/${PREV}`).set(t.auth).expect(200);
      expect(JSON.parse(statement.text)).toMatchObject({ computable: true, requests: { total: 1000 }, period: { provisional: false } });
    });

    it('a second run issues nothing new: the month is claimed, and closing it again finds every statement issued', async () => {
      const g = t.service.app.get(GovernanceService);
      expect(await g.sloScheduler!.tick()).toBeNull();
      expect(await g.closeSloMonth(PREV)).toEqual({ month: PREV, tenants: 2, issued: 0, already_issued: 2, failed: [] });
      expect(await issuedEvents(t)).toHaveLength(2);
      expect(await listBundles(new FilesystemEvidenceStore(archiveDir), 'slo-statement')).toHaveLength(2);
    });
  });

  describe('the missed close alert', () => {
    let t: TestService;
    let archiveDir = '';
    beforeAll(async () => {
      archiveDir = mkdtempSync(join(tmpdir(), 'aionis-slo-missed-'));
      // The service's scheduler ticks at start only, before the tenants exist: as if every worker was down at the month's close. The evaluator runs when the test says.
      const rare = '3600000';
      t = await startTestService({ env: { ARCHIVE_DIR: archiveDir, GOVERNANCE_WEEKLY_REPORT_CRON: 'off', GOVERNANCE_SCHEDULER_TICK_MS: rare, ALERT_EVALUATION_INTERVAL_MS: rare, ALERT_MIN_FIRING_MS: '0', ALERT_RESOLVE_DELAY_MS: '0', ALERT_REFIRE_HOLD_MS: '0' } });
      await setup(t);
    }, 60_000);
    afterAll(async () => {
      await t?.stop();
      rmSync(archiveDir, { recursive: true, force: true });
    });
    const tick = (): Promise<Decision[]> => t.service.app.get(AlertEvaluator).tick();
    const platform = (ds: readonly Decision[]) => ds.filter((x) => x.tenant_id === null).map((x) => `${x.kind} ${x.rule}`);

    it('fires while last month is not closed, and resolves once the runbook closes it by hand', async () => {
      const fired = await tick();
      expect(platform(fired)).toEqual(['fire slo-statement-close-missed']);
      expect(fired.find((x) => x.rule === 'slo-statement-close-missed')!.numbers).toMatchObject({ month: PREV, scheduled_run: 'none', tenants_without_statement: 2 });
      expect(platform(await tick())).toEqual([]);

      if (usingPostgres()) {
        // The runbook's command, a separate process on the deployment's database and key.
        const env = { DATABASE_URL: t.tdb.url ?? '', DATA_DIR: t.config.dataDir, ARCHIVE_DIR: archiveDir };
        const first = await runCli('slo-statement.ts', ['--all-tenants', '--month', PREV], env);
        expect(first.stderr).toBe('');
        expect(first.status).toBe(0);
        expect(first.stdout).toMatch(new RegExp(`^close-a ${PREV}: issued as bundle [0-9a-f]+\\nclose-b ${PREV}: issued as bundle [0-9a-f]+\\nSLO statements ${PREV}: 2 tenant\\(s\\), 2 issued, 0 already issued, 0 not issued\\n$`));
        const again = await runCli<{ ok: boolean; issued: number; already_issued: number }>('slo-statement.ts', ['--all-tenants', '--month', PREV, '--json'], env);
        expect(again.status).toBe(0);
        expect(again.out).toMatchObject({ ok: true, tenants: 2, issued: 0, already_issued: 2, failed: [] });
        const notClosed = await runCli('slo-statement.ts', ['--all-tenants', '--month', new Date(curStart).toISOString().slice(0, 7)], env);
        expect(notClosed.status).toBe(1);
        expect(notClosed.stderr).toMatch(/is not closed yet/);
      } else {
        // The embedded database has one connection: what the command runs, in this process.
        expect(await t.service.app.get(GovernanceService).closeSloMonth(PREV)).toMatchObject({ issued: 2, failed: [] });
      }
      const resolved = await tick();
      expect(platform(resolved)).toEqual(['resolve slo-statement-close-missed']);
      expect(resolved.find((x) => x.rule === 'slo-statement-close-missed')!.numbers).toMatchObject({ month: PREV, tenants_without_statement: 0 });
      expect(await issuedEvents(t)).toHaveLength(2);
    }, 120_000);
  });
});
