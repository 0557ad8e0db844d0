import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Logger, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule } from '@nestjs/swagger';
import { AppModule } from './app.module';
import type { EmbeddingProvider } from './data-plane/embeddings/embedding-provider';
import { TelemetryRecorder } from './data-plane/telemetry/telemetry-recorder';
import { type BootstrapResult, ensureBootstrapOperator } from './control-plane/operators/bootstrap';
import type { AppConfig } from './platform/config/config';
import { resolveSecrets, type Secrets } from './platform/config/secrets';
import type { Database } from './platform/db/database';
import { lockDataDir } from './platform/db/data-dir-lock';
import { migrateToLatest } from './platform/db/migrations';
import { PgDatabase } from './platform/db/pg-database';
import { PGliteDatabase } from './platform/db/pglite-database';
import { AppError } from './platform/errors/app-error';
import { problemOf } from './platform/errors/problem';
import { ProblemFilter } from './platform/errors/problem.filter';
import { PostgresEventStore } from './platform/event-store/postgres-event-store';
import { Sealer } from './platform/event-store/seals';
import { accessLogMiddleware, requestLoggerMiddleware } from './platform/http/access-log';
import { jsonBodyMiddleware, urlGuardMiddleware } from './platform/http/body';
import { CommandHeadersInterceptor } from './platform/http/command-headers';
import { consoleMiddleware } from './console/console-static';
import { corsMiddleware } from './platform/http/cors';
import { buildOpenApiDocument, UndeclaredQueryInterceptor } from './platform/http/openapi';
import { httpMetricsMiddleware } from './platform/http/http-metrics';
import { Listeners, listenerScopeMiddleware, type TlsReloadOutcome } from './platform/http/listeners';
import { requestContextMiddleware } from './platform/http/request-context';
import type { Infrastructure } from './platform/platform.module';
import type { AnyProjection } from './platform/projections/projection';
import type { RunnerHooks } from './platform/projections/projection-runner';
import { ProjectionsService } from './platform/projections/projections.service';
import { createLogging } from './platform/telemetry/logging';
import { Metrics } from './platform/telemetry/metrics';

/** The process's logging: pino JSON lines (or pino-pretty), Nest's logger bridged to it (docs/observability.md). */
export function createLogger(config: AppConfig): LoggerService {
  return createLogging(config).nest;
}

export interface RunningService {
  readonly app: NestExpressApplication;
  /** The main listener (PORT): every route, or only the data plane when ADMIN_PORT is set. */
  readonly url: string;
  /** The admin listener (ADMIN_PORT), when configured. */
  readonly adminUrl: string | undefined;
  /** Each private endpoint's URL by name (PRIVATE_ENDPOINTS). */
  readonly privateEndpointUrls: Readonly<Record<string, string>>;
  /** The listeners (undefined with listen: false). */
  readonly listeners: Listeners | undefined;
  /** Re-read every listener's certificate files now (SIGHUP); a bad new certificate keeps the old. */
  reloadTls(): Record<string, TlsReloadOutcome>;
  readonly infra: Infrastructure;
  readonly bootstrap: BootstrapResult;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Use this database instead of opening one from the config (tests). It is not closed by close(). */
  readonly database?: Database;
  /** false: no logs at all (tests), including access logs. */
  readonly logger?: LoggerService | false;
  readonly projections?: readonly AnyProjection[];
  readonly projectorHooks?: RunnerHooks;
  readonly embeddingProvider?: EmbeddingProvider;
  readonly listen?: boolean;
}

/**
 * Requests Node's HTTP parser refuses before any middleware runs (headers over 16 KiB, malformed
 * request lines) still get a problem+json answer instead of a bare status line.
 */
function answerMalformedRequests(server: import('node:http').Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: import('node:stream').Duplex) => {
    if (!socket.writable) return;
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const problem = problemOf(
      new AppError(tooLarge ? 'headers_too_large' : 'validation_failed', tooLarge ? 'the request headers exceed 16 KiB' : 'the request could not be parsed as HTTP'),
      randomUUID(),
      '/',
    );
    const body = JSON.stringify(problem);
    socket.end(
      `HTTP/1.1 ${problem.status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
        `Content-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${problem.request_id}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}

/** Open the configured database: PostgreSQL when DATABASE_URL is set, else PGlite in DATA_DIR (locked). */
export async function openDatabase(config: AppConfig): Promise<{ database: Database; release: () => Promise<void> }> {
  if (config.databaseUrl) {
    const database = new PgDatabase({ url: config.databaseUrl, poolSize: config.databasePoolSize });
    return { database, release: () => database.close() };
  }
  const lock = lockDataDir(config.dataDir);
  try {
    const database = await PGliteDatabase.open({ dataDir: join(config.dataDir, 'pgdata') });
    return {
      database,
      release: async () => {
        await database.close();
        lock.release();
      },
    };
  } catch (err) {
    lock.release();
    throw err;
  }
}

/**
 * Boot the whole service: database, migrations, secrets, the Nest app (API, projector and worker
 * roles as configured), the bootstrap operator, and the HTTP listener.
 */
export async function startService(config: AppConfig, options: StartOptions = {}): Promise<RunningService> {
  const opened = options.database ? { database: options.database, release: () => Promise.resolve() } : await openDatabase(config);
  const { database } = opened;
  let app: NestExpressApplication | undefined;
  let listeners: Listeners | undefined;
  const logging = createLogging(options.logger === false ? { ...config, logLevel: 'silent' } : config);
  const metrics = new Metrics({ serviceName: config.serviceName, otlpEndpoint: config.otlpEndpoint, otlpIntervalMs: config.otlpMetricIntervalMs, gaugeCacheMs: config.metricsGaugeCacheMs });
  const store = new PostgresEventStore(database, {
    onAppend: (_stream, count, ms, outcome) => {
      metrics.appends.add(count, { outcome });
      metrics.appendDuration.record(ms / 1000, { outcome });
    },
  });
  try {
    await migrateToLatest(database.db);
    const secrets: Secrets = resolveSecrets(config);
    const infra: Infrastructure = {
      config,
      secrets,
      database,
      store,
      metrics,
      ...(options.projections ? { projections: options.projections } : {}),
      ...(options.projectorHooks ? { projectorHooks: options.projectorHooks } : {}),
      ...(options.embeddingProvider ? { embeddingProvider: options.embeddingProvider } : {}),
    };
    app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(infra), {
      bodyParser: false,
      logger: options.logger === undefined ? logging.nest : options.logger,
      abortOnError: false,
    });
    app.disable('x-powered-by');
    // Only our own ETags (stream revisions) are sent; Express's automatic weak ETags would look like revisions.
    app.set('etag', false);
    // Client addresses (CIDR checks, logs) come from X-Forwarded-For only through trusted proxies.
    app.set('trust proxy', config.http.trustProxy);
    app.use(requestContextMiddleware);
    app.use(accessLogMiddleware(logging.root));
    app.use(httpMetricsMiddleware(metrics));
    // With an admin listener, the public one and private endpoints serve the data plane only (404 otherwise).
    app.use(listenerScopeMiddleware);
    app.use(corsMiddleware(config.memory.corsAllowOrigins));
    app.use(urlGuardMiddleware);
    // The operator console (docs/console.md): static files with a strict CSP; it calls the admin API like any client.
    app.use(consoleMiddleware());
    app.use(jsonBodyMiddleware(config.http.bodyLimit, config.memory.bodyLimit));
    app.use(app.get(TelemetryRecorder).middleware());
    app.use(requestLoggerMiddleware);
    app.useGlobalFilters(new ProblemFilter());
    app.useGlobalInterceptors(new CommandHeadersInterceptor(), new UndeclaredQueryInterceptor());
    const openapi = buildOpenApiDocument(app);
    SwaggerModule.setup('docs', app, openapi, { jsonDocumentUrl: 'docs-json' });
    await app.init();

    const bootstrap = await ensureBootstrapOperator(store, config, secrets);
    if (bootstrap.position) {
      // Admin auth reads the operators read model: let it catch up before taking traffic.
      await app.get(ProjectionsService).waitFor('operators', bootstrap.position, 15_000);
    }
    // Take traffic once the projector has started, so readiness does not flap at boot.
    await app.get(ProjectionsService).started(15_000);
    if (options.listen !== false) {
      // Our own servers (not app.listen): one per listener, HTTP or HTTPS, each tagged for listenerScopeMiddleware.
      listeners = Listeners.create(config, app.getHttpAdapter().getInstance(), metrics, new Logger('Listeners'));
      await listeners.listen(config.network.tlsReloadIntervalMs);
      for (const l of listeners.all) answerMalformedRequests(l.server);
    }
    const served = listeners;
    const url = listeners?.main.url ?? '';
    // Worker role: a signed global seal over the new events every AUDIT_SEAL_INTERVAL_MS (docs/audit-seals.md).
    const sealer = config.roles.has('worker')
      ? new Sealer(database, secrets.sealKey, { intervalMs: config.audit.sealIntervalMs, metrics, logger: new Logger('Sealer') })
      : undefined;
    sealer?.start();
    const started = app;
    let closed = false;
    return {
      app: started,
      url,
      adminUrl: listeners?.byName('admin')?.url,
      privateEndpointUrls: Object.fromEntries((listeners?.all ?? []).filter((l) => l.info.kind === 'private').map((l) => [l.info.name.slice('private:'.length), l.url])),
      listeners,
      infra,
      bootstrap,
      reloadTls: () => served?.reloadTls(true) ?? {},
      close: async () => {
        if (closed) return;
        closed = true;
        await sealer?.stop();
        await served?.close();
        await started.close();
        await store.close();
        await metrics.shutdown();
        await opened.release();
      },
    };
  } catch (err) {
    await listeners?.close().catch(() => undefined);
    await app?.close().catch(() => undefined);
    await store.close();
    await metrics.shutdown();
    await opened.release().catch(() => undefined);
    throw err;
  }
}
