import { createServer, type Server } from 'node:http';
import request from 'supertest';
import { type ServiceProcess, spawnService } from '../support/process';
import { createPgDatabase } from '../support/test-db';
import { pgOnly } from '../support/skips';

/**
 * OTLP export from the real process: a stand-in collector (a plain HTTP server on loopback; no
 * OpenTelemetry collector can run here) receives the OTLP/HTTP JSON the service sends, and the test
 * looks for an HTTP server span and a pg span of the same trace, and for our metrics.
 * PostgreSQL only: the pg spans come from node-postgres, which the embedded database does not use.
 */
const pgIt = pgOnly.it;

interface Received {
  path: string;
  body: unknown;
}

describe('OpenTelemetry export (PostgreSQL only)', () => {
  let collector: Server;
  let collectorUrl = '';
  const received: Received[] = [];
  let svc: ServiceProcess | undefined;
  let drop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    collector = createServer((req, res) => {
      let raw = '';
      req.on('data', (d: Buffer) => (raw += d.toString()));
      req.on('end', () => {
        try {
          received.push({ path: req.url ?? '', body: JSON.parse(raw) as unknown });
        } catch {
          received.push({ path: req.url ?? '', body: raw });
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', () => r()));
    const addr = collector.address() as { port: number };
    collectorUrl = `http://127.0.0.1:${addr.port}`;
  });

  afterAll(async () => {
    await svc?.stop('SIGKILL');
    await new Promise<void>((r) => collector.close(() => r()));
    await drop?.();
  });

  pgIt('exports HTTP and pg spans of one trace, and the service metrics, over OTLP/HTTP', async () => {
    const db = await createPgDatabase('otel');
    drop = db.drop;
    const token = 'aio_admin_otel-test-token-0123456789abcdef0123';
    svc = spawnService({
      DATABASE_URL: db.url,
      PORT: '0',
      KEY_PEPPER: 'otel-test-pepper-0123456789abcdef0123456789',
      ADMIN_BOOTSTRAP_TOKEN: token,
      OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_METRIC_EXPORT_INTERVAL: '500',
      LOG_FORMAT: 'json',
    });
    const url = await svc.url();
    await request(url).post('/v1/admin/control/tenants').set('Authorization', `Bearer ${token}`).send({ tenant_id: 'traced-co' }).expect(201);

    type Span = { traceId: string; name: string; kind: number; attributes?: { key: string }[] };
    const spans = (): Span[] =>
      received
        .filter((r) => r.path === '/v1/traces')
        .flatMap((r) => ((r.body as { resourceSpans?: { scopeSpans?: { spans?: Span[] }[] }[] }).resourceSpans ?? []))
        .flatMap((rs) => rs.scopeSpans ?? [])
        .flatMap((ss) => ss.spans ?? []);
    const metricNames = (): string[] =>
      received
        .filter((r) => r.path === '/v1/metrics')
        .flatMap((r) => ((r.body as { resourceMetrics?: { scopeMetrics?: { metrics?: { name: string }[] }[] }[] }).resourceMetrics ?? []))
        .flatMap((rm) => rm.scopeMetrics ?? [])
        .flatMap((sm) => sm.metrics ?? [])
        .map((m) => m.name);

    const until = Date.now() + 20_000;
    const findTrace = () => {
      const server = spans().find((s) => s.kind === 2 && /POST/.test(s.name));
      if (!server) return undefined;
      const pgSpan = spans().find((s) => s.traceId === server.traceId && (s.attributes ?? []).some((a) => a.key === 'db.system' || a.key === 'db.system.name'));
      return pgSpan ? { server, pgSpan } : undefined;
    };
    while ((!findTrace() || !metricNames().includes('aionis_http_requests')) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    const trace = findTrace();
    expect(trace).toBeDefined();
    expect(metricNames()).toEqual(expect.arrayContaining(['aionis_http_requests', 'aionis_event_store_appends']));
    await svc.stop();
  }, 90_000);
});
