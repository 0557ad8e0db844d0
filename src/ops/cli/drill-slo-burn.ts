import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyAionisSignature } from '../../alerting/webhook-signature';
import { loadConfig } from '../../platform/config/config';
import { startService } from '../../service';
import { type CliSpec, EXIT, numberFlag, parseCli, type ParsedCli, runCli } from './cli-support';
import { type DrillClient, drillAdminToken, drillClient, inThrowAwayDir, type Say, stepReporter, switchableProvider } from './drill-support';

/**
 * `npm run drill:slo-burn -- [--json] [--errors N] [--database-url URL]`: the SLO burn-rate alert
 * drill, end to end. It starts a local webhook receiver and a throw-away service, makes a drill
 * tenant with a signed webhook route, takes the embedding provider down so the tenant's
 * `recall_text` calls really fail (503 upstream_embedding_unavailable), and waits for the
 * availability burn-rate alerts to fire and their webhooks to arrive with a valid signature. Then
 * it restores the provider, sends healthy traffic until the error budget's burn falls below every
 * window pair's factor, and waits for the resolutions to arrive the same way. It also shows that
 * the documented receiver check refuses the captured firing delivery replayed later.
 * Exit 0 when all of that is proven, 2 when not, 1 on a usage or runtime error (a timeout).
 */
const SPEC: CliSpec = {
  name: 'drill:slo-burn',
  description:
    'The SLO burn-rate alert drill: real errors for a drill tenant fire the availability burn-rate alerts, their signed webhooks reach a local receiver, healthy traffic resolves them. Exit 0 proven, 2 not proven.',
  database: true,
  options: [['--errors <n>', 'failed requests to drive while the embedding provider is down (10-500, default 20)']],
  details: `What it runs with: its own service (port chosen free), evaluating alerts every second with ALERT_MIN_FIRING_MS=0,
ALERT_RESOLVE_DELAY_MS=1000 and ALERT_MIN_REQUESTS=10 so the whole cycle takes seconds; the rules, windows, factors and
delivery path are the production ones (docs/alerting.md). The drill tenant is on the starter tier (availability target
0.99) with a recall quota override so the healthy traffic is not throttled; its webhook route takes only that tenant.
Without --database-url or DATABASE_URL it runs on a throw-away embedded database. With one, it runs on that PostgreSQL (a
deployment's own) in a new tenant drill-slo-<hex>, left in place as the drill's record with its alert events, its
route disabled at the end; it then needs the deployment's KEY_PEPPER and AUDIT_SEAL_PRIVATE_KEY, and an owner or operator
token in AIONIS_ADMIN_TOKEN (unless the database is new). The runbook walk-through: runbooks/alerts.md#drill-slo-burn.`,
};

const FAST = 'slo-availability-fast-burn';
const BURN_RULES = [FAST, 'slo-availability-medium-burn', 'slo-availability-slow-burn'];

interface Delivery {
  readonly received_at: number;
  readonly raw: string;
  readonly signature: string | undefined;
  readonly body: { event?: string; rule?: string; tenant_id?: string; alert_id?: string; runbook_url?: string; console_url?: string; numbers?: Record<string, unknown> };
}

void runCli(async () => {
  const flags = parseCli(SPEC);
  const errors = numberFlag(flags.values, 'errors', 20, 10, 500, true);
  return inThrowAwayDir((dataDir) => drill(flags, errors, stepReporter(flags.json), dataDir));
});

/** A local HTTP receiver that keeps every delivery (the drill checks the signatures). */
async function startReceiver(): Promise<{ server: Server; url: string; deliveries: Delivery[] }> {
  const deliveries: Delivery[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: Delivery['body'] = {};
      try {
        body = JSON.parse(raw) as Delivery['body'];
      } catch {
        // kept as an empty body: the signature check below still runs on the raw bytes
      }
      const header = req.headers['x-aionis-signature'];
      deliveries.push({ received_at: Date.now(), raw, signature: Array.isArray(header) ? header[0] : header, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`, deliveries };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function drill(flags: ParsedCli, errors: number, say: Say, dataDir: string): Promise<number> {
  const token = drillAdminToken(flags);
  const receiver = await startReceiver();
  const port = await freePort();
  const config = loadConfig({
    ...process.env,
    DATABASE_URL: flags.databaseUrl ?? '',
    DATA_DIR: dataDir,
    HOST: '127.0.0.1',
    PORT: String(port),
    PUBLIC_URL: process.env.PUBLIC_URL || `http://127.0.0.1:${port}`,
    ADMIN_BOOTSTRAP_TOKEN: token,
    LOG_LEVEL: 'error',
    LOG_FORMAT: 'json',
    ALERTS_ENABLED: 'true',
    ALERT_EVALUATION_INTERVAL_MS: '1000',
    ALERT_MIN_REQUESTS: '10',
    ALERT_MIN_FIRING_MS: '0',
    ALERT_RESOLVE_DELAY_MS: '1000',
    ALERT_REFIRE_HOLD_MS: '600000',
    OUTBOX_POLL_INTERVAL_MS: '100',
    METRICS_GAUGE_CACHE_MS: '0',
  });
  const embeddings = switchableProvider(config.embeddings.dimension);
  say('starting a local webhook receiver and a throw-away service', { receiver: receiver.url, data_dir: dataDir, database: flags.databaseUrl ? 'postgresql (DATABASE_URL)' : 'embedded' });
  const svc = await startService(config, { logger: false, embeddingProvider: embeddings.provider });
  const client = drillClient(svc.url, token);
  const { call } = client;
  let routeId: string | undefined;
  try {
    const tenant = `drill-slo-${randomBytes(3).toString('hex')}`;
    await call('POST', '/v1/admin/control/tenants', { tenant_id: tenant, tier: 'starter' });
    const quota = await call('GET', `/v1/admin/control/tenants/${tenant}/quota`);
    await call('PUT', `/v1/admin/control/tenants/${tenant}/quota`, { recall_rps: 10_000, recall_burst: 20_000 }, { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'If-Match': `"${String(quota.revision)}"` });
    const slo = await call('GET', `/v1/admin/control/tenants/${tenant}/slo`);
    const key = (await call('POST', '/v1/admin/control/api-keys', { tenant_id: tenant, label: 'drill:slo-burn' })).api_key as string;
    routeId = `drill-slo-${randomBytes(3).toString('hex')}`;
    const route = await call('POST', '/v1/admin/control/alert-routes', { route_id: routeId, kind: 'webhook', url: receiver.url, tenant_ids: [tenant], include_platform: false });
    const secret = route.signing_secret as string;
    say('drill tenant, API key and signed webhook route ready', { tenant, tier: 'starter', slo: slo.targets, route_id: routeId });

    const recall = recallText(svc.url, key);
    const baseline = await traffic(recall, 10);
    embeddings.setBroken(true);
    say('embedding provider DOWN: recall_text fails for real', { healthy_before: baseline.ok });
    const burst = await traffic(recall, errors);
    say('errors driven', { requests: errors, statuses: burst.statuses });

    const firedAt = Date.now();
    const fired = (d: Delivery) => d.body.event === 'alert.fired' && d.body.tenant_id === tenant;
    await client.wait('the fast-burn alert delivered to the receiver', async () => receiver.deliveries.some((d) => fired(d) && d.body.rule === FAST), 120_000);
    await client.wait('the three burn-rate alerts in the alerts API', async () => (await alerts(client, tenant, 'firing')).length === BURN_RULES.length, 60_000);
    const firing = await alerts(client, tenant, 'firing');
    const fast = receiver.deliveries.find((d) => fired(d) && d.body.rule === FAST)!;
    const fastSig = verifyAionisSignature(fast.raw, fast.signature, secret);
    say('ALERT FIRED and delivered', {
      rule: FAST,
      alert_id: fast.body.alert_id,
      seconds_from_burst_to_delivery: Math.round((fast.received_at - firedAt) / 100) / 10,
      signature: fastSig.ok ? 'valid' : fastSig.reason,
      runbook_url: fast.body.runbook_url,
      console_url: fast.body.console_url,
      numbers: fast.body.numbers,
      firing_rules: firing.map((a) => a.rule).sort(),
    });
    const metric = await firingMetric(svc.url, token, FAST);
    say('metrics', { [`aionis_alerts_firing{rule="${FAST}",severity="page"}`]: metric });

    embeddings.setBroken(false);
    say('embedding provider restored; healthy traffic until every window pair is below its factor');
    let healthy = 0;
    while ((await alerts(client, tenant, 'firing')).length > 0) {
      if (healthy >= 20_000) throw new Error('drill: the alerts did not resolve after 20000 healthy requests');
      healthy += (await traffic(recall, 250)).ok;
      await new Promise((r) => setTimeout(r, 200));
    }
    const resolved = (d: Delivery) => d.body.event === 'alert.resolved' && d.body.tenant_id === tenant;
    await client.wait('every resolution delivered', async () => BURN_RULES.every((rule) => receiver.deliveries.some((d) => resolved(d) && d.body.rule === rule)), 60_000);
    const fastResolved = receiver.deliveries.find((d) => resolved(d) && d.body.rule === FAST)!;
    say('ALERTS RESOLVED and delivered', { healthy_requests: healthy, resolved_rules: (await alerts(client, tenant, 'resolved')).map((a) => a.rule).sort() });

    // The documented receiver check (docs/alerting.md#verifying-a-webhook-receivers) on every delivery, and on the firing replayed 10 minutes later.
    const mine = receiver.deliveries.filter((d) => d.body.tenant_id === tenant);
    const valid = mine.filter((d) => verifyAionisSignature(d.raw, d.signature, secret).ok).length;
    const replayed = verifyAionisSignature(fast.raw, fast.signature, secret, undefined, Math.floor(fast.received_at / 1000) + 600);
    const tampered = verifyAionisSignature(fast.raw.replace(tenant, 'someone-else'), fast.signature, secret);
    const perAlert = new Map<string, number>();
    for (const d of mine) perAlert.set(`${d.body.event} ${d.body.alert_id}`, (perAlert.get(`${d.body.event} ${d.body.alert_id}`) ?? 0) + 1);
    const proof = {
      fired: mine.filter((d) => d.body.event === 'alert.fired').map((d) => d.body.rule).sort(),
      resolved: mine.filter((d) => d.body.event === 'alert.resolved').map((d) => d.body.rule).sort(),
      deliveries: mine.length,
      signatures_valid: valid,
      each_delivered_once: [...perAlert.values()].every((n) => n === 1),
      replayed_delivery: replayed.ok ? 'accepted' : `refused (${replayed.reason})`,
      tampered_delivery: tampered.ok ? 'accepted' : `refused (${tampered.reason})`,
      resolved_alert_id: fastResolved.body.alert_id,
    };
    const ok =
      BURN_RULES.every((r) => proof.fired.includes(r) && proof.resolved.includes(r)) &&
      valid === mine.length &&
      proof.each_delivered_once &&
      !replayed.ok &&
      !tampered.ok &&
      fastResolved.body.alert_id === fast.body.alert_id;
    say(ok ? 'proven: the burn fired the alerts, each reached the receiver once with a valid signature, recovery resolved them, a replayed delivery is refused' : 'NOT proven', proof);
    return ok ? EXIT.ok : EXIT.gateFailed;
  } finally {
    if (routeId) await call('POST', `/v1/admin/control/alert-routes/${routeId}/disable`, {}).catch(() => undefined);
    await svc.close();
    await new Promise<void>((r) => receiver.server.close(() => r()));
  }
}

type Recall = () => Promise<number>;

/** One `recall_text` call of the drill tenant's agent (a new question each time: answers to a repeated one come from the query-embedding cache); returns the HTTP status. */
function recallText(base: string, key: string): Recall {
  let n = 0;
  return async () => {
    n += 1;
    const res = await fetch(`${base}/v1/memory/recall_text`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'Content-Type': 'application/json' },
      body: JSON.stringify({ scope: 'drill', query_text: `is the embedding provider up? (question ${n})` }),
    });
    await res.arrayBuffer();
    return res.status;
  };
}

/** `n` calls, 8 at a time; the statuses counted. */
async function traffic(recall: Recall, n: number): Promise<{ ok: number; statuses: Record<string, number> }> {
  const statuses: Record<string, number> = {};
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(8, n) }, async () => {
      while (next < n) {
        next += 1;
        const s = String(await recall());
        statuses[s] = (statuses[s] ?? 0) + 1;
      }
    }),
  );
  return { ok: statuses['200'] ?? 0, statuses };
}

async function alerts(client: DrillClient, tenant: string, state: 'firing' | 'resolved'): Promise<{ rule: string }[]> {
  return (await client.call('GET', `/v1/admin/control/alerts?state=${state}&tenant_id=${tenant}&limit=100`)).items as { rule: string }[];
}

async function firingMetric(base: string, token: string, rule: string): Promise<number | null> {
  const text = await (await fetch(`${base}/metrics`, { headers: { Authorization: `Bearer ${token}` } })).text();
  const line = text.split('\n').find((l) => l.startsWith('aionis_alerts_firing{') && l.includes(`rule="${rule}"`));
  return line ? Number(line.trim().split(/\s+/).at(-1)) : null;
}
