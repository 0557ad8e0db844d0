import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { sql } from 'kysely';
import request from 'supertest';
import { AlertEvaluator } from '../../src/alerting/alert-evaluator';
import { emptyRollup } from '../../src/data-plane/telemetry/telemetry';
import { TelemetryRepository } from '../../src/data-plane/telemetry/telemetry.repository';
import { type EmbeddingProvider, EmbeddingError } from '../../src/data-plane/embeddings/embedding-provider';
import { LocalEmbeddingProvider } from '../../src/data-plane/embeddings/local-provider';
import { startTestService, TEST_ADMIN_TOKEN, type TestService } from '../support/service';
import { onlyIf } from '../support/skips';

/**
 * The operator console in a real browser (Debian's chromium driven by playwright-core; never a
 * downloaded browser) against a real server: sign-in, the overview with seeded tenants, a chart
 * with data, a dead-letter replay (dry run first, then the resulting events), an auditor refused
 * (no buttons; the API refuses), a CSRF attempt refused, and sign-out ending the session.
 * UPDATE_CONSOLE_SCREENSHOTS=1 also writes each page's screenshot into docs/console/.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ROOT = join(__dirname, '../..');
const hasPlaywright = (() => {
  try {
    require.resolve('playwright-core');
    return true;
  } catch {
    return false;
  }
})();
const browserTests = onlyIf(existsSync(CHROMIUM) && hasPlaywright, `needs a browser: ${CHROMIUM} (apt-get install -y chromium) and the playwright-core devDependency`);
const SHOTS = process.env.UPDATE_CONSOLE_SCREENSHOTS === '1' ? join(ROOT, 'docs/console') : null;
const json = { 'Content-Type': 'application/json' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Playwright = typeof import('playwright-core');
type Browser = Awaited<ReturnType<Playwright['chromium']['launch']>>;
type Page = Awaited<ReturnType<Browser['newPage']>>;

browserTests.describe('operator console in a real browser', () => {
  let t: TestService;
  let api: ReturnType<typeof request>;
  let browser: Browser;
  let auditorToken: string;
  let broken = true;
  // Where RUNBOOK_BASE_URL points: this repository's runbooks, served as a Git host would.
  let runbooks: Server;
  const local = new LocalEmbeddingProvider(1536);
  const provider: EmbeddingProvider = {
    model: local.model,
    dimensions: local.dimensions,
    embed: (texts) => (broken ? Promise.reject(new EmbeddingError('provider down', true)) : local.embed(texts)),
  };

  const shot = async (page: Page, name: string) => {
    if (!SHOTS) return;
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  };

  async function signIn(page: Page, token: string) {
    await page.goto(`${t.url}/console`);
    await page.getByLabel('Operator token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('who').waitFor();
  }

  beforeAll(async () => {
    // The console's modules, compiled as `npm run build` does (CI builds first; this keeps a local run current).
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'src/console/web/tsconfig.json')], { cwd: ROOT, encoding: 'utf8' });
    if (tsc.status !== 0) throw new Error(`console build failed:\n${tsc.stdout}${tsc.stderr}`);
    runbooks = createServer((req, res) => {
      const file = /^\/repo\/(runbooks\/[a-z-]+\.md)$/.exec(req.url ?? '');
      if (!file) return void res.writeHead(404).end();
      res.writeHead(200, { 'Content-Type': 'text/markdown; charset=utf-8' }).end(readFileSync(join(ROOT, file[1]!)));
    });
    await new Promise<void>((r) => runbooks.listen(0, '127.0.0.1', r));
    t = await startTestService({
      env: {
        OUTBOX_MAX_ATTEMPTS: '1',
        OUTBOX_POLL_INTERVAL_MS: '50',
        // Alerts evaluate when the test says (tick), fire and resolve at once.
        RUNBOOK_BASE_URL: `http://127.0.0.1:${(runbooks.address() as AddressInfo).port}/repo`,
        ALERT_MIN_REQUESTS: '5',
        ALERT_MIN_FIRING_MS: '0',
        ALERT_RESOLVE_DELAY_MS: '0',
        ALERT_REFIRE_HOLD_MS: '0',
      },
      embeddingProvider: provider,
    });
    api = request(t.url);
    for (const [id, tier] of [['acme-co', 'growth'], ['beta-co', 'starter'], ['gamma-co', 'enterprise']] as const) {
      await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: id, display_name: id.toUpperCase(), tier }).expect(201);
    }
    const key = (await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: 'acme-co', label: 'console-test' }).expect(201)).body.api_key as string;
    for (let i = 0; i < 3; i++) {
      await api.post('/v1/memory/write').set({ 'x-api-key': key, ...json }).send({ scope: 's', input_text: `${i}`, memory_lane: 'shared', nodes: [{ client_id: `n-${i}`, type: 'event', title: `console ${i}` }] }).expect(200);
    }
    // Some 4xx traffic too, for the status-class chart.
    await api.post('/v1/memory/write').set({ 'x-api-key': key, ...json }).send({ scope: '' }).expect(400);
    const until = Date.now() + 15_000;
    const dead = async () => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM memory_outbox WHERE tenant_id = 'acme-co' AND status = 'dead_letter'`.execute(t.tdb.database.db)).rows[0]!.n;
    while ((await dead()) < 3 && Date.now() < until) await sleep(50);
    expect(await dead()).toBe(3);
    // A weekly governance report, for the evidence page to render.
    await api.post('/v1/admin/control/governance/reports').set(t.auth).set(json).send({}).expect(201);
    auditorToken = (await api.post('/v1/admin/control/operators').set(t.auth).set(json).send({ operator_id: 'op_ida', display_name: 'Ida (auditor)', role: 'auditor' }).expect(201)).body.token as string;
    const { chromium } = (await import('playwright-core')) as Playwright;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await t?.stop();
    await new Promise<void>((r) => (runbooks ? runbooks.close(() => r()) : r()));
  });

  it('signs in with a token, shows the seeded tenants on the overview, a tenant chart with data, and replays a dead letter', async () => {
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
    });
    await signIn(page, TEST_ADMIN_TOKEN);
    expect(await page.getByTestId('role').textContent()).toBe('owner');
    // The token is nowhere the page keeps things.
    expect(page.url()).not.toContain(TEST_ADMIN_TOKEN);
    // Local storage and cookies as the browser keeps them (the CSP forbids evaluating strings in the page).
    expect(JSON.stringify(await context.storageState())).not.toContain('aio_admin_');
    const cookie = (await context.cookies()).find((c) => c.name === 'aionis_session')!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });

    const table = page.getByTestId('overview-table');
    await table.waitFor();
    for (const id of ['acme-co', 'beta-co', 'gamma-co']) await expect(table.getByRole('link', { name: id }).count()).resolves.toBe(1);
    const acmeRow = table.locator('tr', { has: page.getByRole('link', { name: 'acme-co' }) });
    expect(await acmeRow.locator('td').nth(8).textContent()).toBe('3'); // dead letters
    await shot(page, 'overview');

    // Filtering narrows the list (server-side).
    await page.locator('input[name=q]').fill('beta');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByTestId('tenant-link').nth(1).waitFor({ state: 'detached' });
    expect(await page.getByTestId('tenant-link').textContent()).toBe('beta-co');
    await page.locator('input[name=q]').fill('');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByTestId('tenant-link').nth(2).waitFor();

    await table.getByRole('link', { name: 'acme-co' }).click();
    const requests = page.getByTestId('chart-requests');
    await requests.waitFor();
    expect(Number(await requests.getAttribute('data-points'))).toBeGreaterThan(0);
    expect(await requests.locator('polyline, circle').count()).toBeGreaterThan(0);
    // The outbox backlog and the error-budget burn (availability and latency, against the effective SLO) are charts too.
    for (const id of ['chart-backlog', 'chart-burn', 'chart-latency', 'chart-errors']) expect(Number(await page.getByTestId(id).getAttribute('data-points'))).toBeGreaterThan(0);
    expect(await page.getByTestId('chart-burn').textContent()).toContain('latency burn');
    expect(await page.getByTestId('budget-consumed').textContent()).toMatch(/of the 30-day availability budget/);
    await page.getByRole('button', { name: '1h' }).click();
    await page.locator('.window button.active', { hasText: '1h' }).waitFor();
    expect(Number(await page.getByTestId('chart-requests').getAttribute('data-points'))).toBeGreaterThan(0);
    await shot(page, 'tenant');

    await page.goto(`${t.url}/console#/dead-letters`);
    await page.getByTestId('dl-table').waitFor();
    await page.locator('input[name=tenant_id]').fill('acme-co');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.locator('[data-testid=dl-counts][data-tenant=acme-co]').waitFor();
    expect(await page.getByTestId('dl-replay').isDisabled()).toBe(true); // a dry run comes first
    await page.getByTestId('dl-reason').fill('provider restored (console test)');
    await page.getByTestId('dl-dry-replay').click();
    await page.getByTestId('dl-dry-run').waitFor();
    expect(await page.getByTestId('dl-dry-run').textContent()).toContain('3 matched');
    await shot(page, 'dead-letters');
    broken = false;
    await page.getByTestId('dl-replay').click();
    await page.getByTestId('dl-done').waitFor();
    expect(await page.getByTestId('dl-done').textContent()).toMatch(/Replayed 3 of 3/);
    expect(await page.getByTestId('dl-result').getByText('OutboxJobsReplayed').count()).toBeGreaterThan(0);
    await shot(page, 'dead-letters-replayed');
    const replayed = await api.get('/v1/admin/control/audit-events').query({ type: 'OutboxJobsReplayed' }).set(t.auth).expect(200);
    expect(replayed.body.items.at(-1)).toMatchObject({ actor: { type: 'operator' }, data: { reason: 'provider restored (console test)' } });

    for (const [hash, testid, name] of [
      ['#/projections', 'projections-table', 'projections'],
      ['#/audit', 'audit-table', 'audit'],
      ['#/governance', 'controls-table', 'governance'],
      ['#/alerts', 'alerts-none-firing', 'alerts'],
    ] as const) {
      await page.goto(`${t.url}/console${hash}`);
      await page.getByTestId(testid).waitFor();
      if (name === 'governance') {
        // The weekly report, rendered from its Markdown, with its files.
        await page.getByTestId('show-report').first().click();
        await page.getByTestId('report-markdown').waitFor();
        expect(await page.getByTestId('report-markdown').locator('h2, h3').count()).toBeGreaterThan(0);
      }
      await shot(page, name);
    }
    // The alerts page reads GET /v1/admin/control/alerts (the test service evaluates no alerts: nothing fires).
    expect(await page.getByTestId('alerts-none-firing').textContent()).toContain('Nothing is firing');
    expect(violations).toEqual([]);
    await context.close();
  }, 120_000);

  it('a firing burn-rate alert: the Alerts page lists it with its runbook and console links, the overview counts it on its tenant, and it shows resolved after recovery', async () => {
    const minute = () => new Date(Math.floor(Date.now() / 60_000) * 60_000).toISOString();
    const traffic = (tenant: string, total: number, errors: number) =>
      t.service.app.get(TelemetryRepository).addRollup({ tenant, project: '', key: 'k', endpoint: 'write', minute: minute(), rollup: { ...emptyRollup(), total, status_2xx: total - errors, status_5xx: errors, latency_sum_ms: total, buckets: [total, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] } });
    const tick = () => t.service.app.get(AlertEvaluator).tick();
    const ofBeta = (ds: Awaited<ReturnType<typeof tick>>) => ds.filter((d) => d.tenant_id === 'beta-co').map((d) => `${d.kind} ${d.rule}`).sort();
    const listed = async (state: string) => (await api.get('/v1/admin/control/alerts').query({ state, tenant_id: 'beta-co' }).set(t.auth).expect(200)).body.items as { alert_id: string; rule: string; runbook_url: string; console_url: string; numbers: Record<string, unknown> }[];
    const waitFor = async (what: string, check: () => Promise<boolean>) => {
      const end = Date.now() + 15_000;
      while (!(await check())) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await sleep(50);
      }
    };
    await traffic('beta-co', 100, 60);
    const rules = ['slo-availability-fast-burn', 'slo-availability-medium-burn', 'slo-availability-slow-burn'];
    expect(ofBeta(await tick())).toEqual(rules.map((r) => `fire ${r}`));
    await waitFor('the alerts read model', async () => (await listed('firing')).length === 3);
    const fast = (await listed('firing')).find((a) => a.rule === 'slo-availability-fast-burn')!;
    // The runbook link works: the Git host (here, a local one) serves the section it names.
    expect(fast.runbook_url).toMatch(/\/repo\/runbooks\/alerts\.md#slo-availability-fast-burn$/);
    const runbook = await fetch(fast.runbook_url);
    expect(runbook.status).toBe(200);
    expect(await runbook.text()).toContain('slo-availability-fast-burn');

    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    await signIn(page, TEST_ADMIN_TOKEN);
    await page.goto(`${t.url}/console#/alerts`);
    const firingTable = page.getByTestId('alerts-firing');
    await firingTable.waitFor();
    const row = firingTable.locator('tr', { hasText: 'slo-availability-fast-burn' });
    expect(await row.count()).toBe(1);
    expect(await row.locator('td').nth(1).textContent()).toBe('beta-co');
    expect(await row.locator('td').nth(3).textContent()).toBe('firing');
    expect(await row.getByTestId('runbook-link').getAttribute('href')).toBe(fast.runbook_url);
    await shot(page, 'alerts');
    // The console link: the alert's own page, which is also what console_url (in each delivery) opens.
    await row.getByTestId('alert-link').click();
    const detail = page.getByTestId('alert-detail');
    await detail.waitFor();
    expect(await detail.getAttribute('data-state')).toBe('firing');
    expect(await detail.getByTestId('numbers-fired').locator('tr', { hasText: 'burn_rate_long' }).locator('td').textContent()).toBe(String(fast.numbers.burn_rate_long));
    await shot(page, 'alert');
    expect(await detail.getByTestId('runbook-link').getAttribute('href')).toBe(fast.runbook_url);
    expect(fast.console_url).toMatch(new RegExp(`/console/alerts/${fast.alert_id}$`));
    await page.goto(`${t.url}${new URL(fast.console_url).pathname}`);
    await page.getByTestId('alert-detail').waitFor();
    expect(page.url()).toBe(`${t.url}/console#/alerts/${fast.alert_id}`);
    expect(await page.locator('h1').textContent()).toBe('Alert slo-availability-fast-burn');

    // The overview counts the tenant's firing alerts.
    await page.goto(`${t.url}/console#/overview`);
    const table = page.getByTestId('overview-table');
    await table.waitFor();
    const firingOf = (tenant: string) => table.locator('tr', { has: page.getByRole('link', { name: tenant }) }).getByTestId('firing-alerts').textContent();
    expect(await firingOf('beta-co')).toBe('3');
    expect(await firingOf('gamma-co')).toBe('0');

    // Recovery: the alerts resolve, and the page shows them resolved.
    await traffic('beta-co', 200_000, 0);
    expect(ofBeta(await tick())).toEqual(rules.map((r) => `resolve ${r}`));
    await waitFor('the resolutions in the read model', async () => (await listed('resolved')).length === 3);
    await page.goto(`${t.url}/console#/alerts`);
    const resolvedRow = page.getByTestId('alerts-resolved').locator('tr', { hasText: 'slo-availability-fast-burn' });
    await resolvedRow.waitFor();
    expect(await resolvedRow.locator('td').nth(3).textContent()).toBe('resolved');
    expect(await page.getByTestId('alerts-firing').locator('tr', { hasText: 'beta-co' }).count()).toBe(0);
    await page.goto(`${t.url}/console#/alerts/${fast.alert_id}`);
    await page.locator('[data-testid=alert-detail][data-state=resolved]').waitFor();
    await page.goto(`${t.url}/console#/overview`);
    await page.getByTestId('overview-table').waitFor();
    expect(await firingOf('beta-co')).toBe('0');
    await context.close();
  }, 60_000);

  it('refuses a change made with the session cookie but without (or with a wrong) CSRF token', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, TEST_ADMIN_TOKEN);
    const statuses = await page.evaluate(async () => {
      const post = (headers: Record<string, string>) =>
        fetch('/v1/admin/control/tenants', { method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify({ tenant_id: 'csrf-attempt' }) }).then((r) => r.status);
      return [await post({}), await post({ 'X-CSRF-Token': 'not-the-token' })];
    });
    expect(statuses).toEqual([403, 403]);
    expect((await api.get('/v1/admin/control/tenants/csrf-attempt').set(t.auth)).status).toBe(404);
    await context.close();
  });

  it('an auditor sees the pages without mutation buttons, and the API refuses the auditor’s change', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, auditorToken);
    expect(await page.getByTestId('role').textContent()).toBe('auditor');
    await page.getByTestId('overview-table').waitFor();
    await page.goto(`${t.url}/console#/dead-letters`);
    await page.getByTestId('read-only').waitFor();
    expect(await page.getByTestId('dl-replay').count()).toBe(0);
    expect(await page.getByTestId('dl-discard').count()).toBe(0);
    expect(await page.getByTestId('dl-dry-replay').count()).toBe(0);
    const status = await page.evaluate(async () => {
      const me = (await (await fetch('/v1/admin/session', { credentials: 'same-origin' })).json()) as { session: { csrf_token: string } };
      const r = await fetch('/v1/admin/control/dead-letters/replay', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.session.csrf_token },
        body: JSON.stringify({ tenant_id: 'acme-co', reason: 'auditor tries' }),
      });
      return r.status;
    });
    expect(status).toBe(403);
    await context.close();
  });

  it('signs out: the page returns to sign-in and the old session cookie no longer works', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, TEST_ADMIN_TOKEN);
    const cookie = (await context.cookies()).find((c) => c.name === 'aionis_session')!;
    expect((await api.get('/v1/admin/control/tenants').set('Cookie', `aionis_session=${cookie.value}`)).status).toBe(200);
    await page.getByTestId('signout').click();
    await page.getByTestId('signin').waitFor();
    await shot(page, 'sign-in');
    expect((await api.get('/v1/admin/control/tenants').set('Cookie', `aionis_session=${cookie.value}`)).status).toBe(401);
    expect((await context.cookies()).find((c) => c.name === 'aionis_session')).toBeUndefined();
    await context.close();
  });
});
