import 'reflect-metadata';
import { ConfigError, loadConfig } from './platform/config/config';
import { startTracing, stopTracing } from './platform/telemetry/tracing';

/**
 * Entry point: `npm start`. Parses the configuration (a bad value stops the process listing every
 * bad variable), starts tracing before http and pg are loaded, then boots the service.
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`aionis: ${err.message}\nSee docs/configuration.md.\n`);
      process.exit(1);
    }
    throw err;
  }
  startTracing({ serviceName: config.serviceName, otlpEndpoint: config.otlpEndpoint });
  // Loaded after tracing so that http and pg are instrumented.
  const { startService } = await import('./service');
  const { DataDirLockedError } = await import('./platform/db/data-dir-lock');
  const { EmbeddingDimensionMismatchError } = await import('./data-plane/vector-support');
  let service;
  try {
    service = await startService(config);
  } catch (err) {
    if (err instanceof DataDirLockedError || err instanceof EmbeddingDimensionMismatchError) {
      process.stderr.write(`aionis: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const svc = service;
  const admin = svc.bootstrap.tokenFromEnv
    ? 'the value of ADMIN_BOOTSTRAP_TOKEN'
    : svc.bootstrap.tokenFile
      ? `the file ${svc.bootstrap.tokenFile} (created now, mode 0600)`
      : `the token created on first start (kept in ${config.dataDir}/bootstrap-admin.token unless it was set with ADMIN_BOOTSTRAP_TOKEN)`;
  const tokenExpr = svc.bootstrap.tokenFromEnv ? '$ADMIN_BOOTSTRAP_TOKEN' : `$(cat ${config.dataDir}/bootstrap-admin.token)`;
  const lines = [
    '',
    `  Aionis Hosted is running at ${svc.url}`,
    ...(svc.adminUrl ? [`  admin listener:  ${svc.adminUrl} (the admin API, console, /metrics and /docs live here only)`] : []),
    ...Object.entries(svc.privateEndpointUrls).map(([name, u]) => `  private endpoint ${name}: ${u}`),
    `  database:        ${svc.infra.database.target}`,
    `  roles:           ${[...config.roles].join(', ')}`,
    `  admin token:     ${admin}`,
    `  API docs:        ${svc.url}/docs`,
    `  readiness:       ${svc.url}/health/ready`,
    '',
    '  In another shell, in this directory (the README and docs/ examples continue from here):',
    `    export AIONIS_BASE_URL=${svc.url}`,
    `    export AIONIS_ADMIN_TOKEN=${tokenExpr}`,
    `    curl -s -X POST "$AIONIS_BASE_URL/v1/admin/control/tenants" -H "Authorization: Bearer $AIONIS_ADMIN_TOKEN" -H 'Content-Type: application/json' -d '{"tenant_id":"hello","display_name":"Hello World"}'`,
    '',
  ];
  // With JSON logs stdout carries only JSON lines: the banner is for a human, on stderr.
  const human = config.logFormat === 'json' ? process.stderr : process.stdout;
  human.write(`${lines.join('\n')}\n`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    human.write(`aionis: ${signal} received, shutting down\n`);
    void svc
      .close()
      .then(stopTracing)
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        process.stderr.write(`aionis: shutdown failed: ${String(err)}\n`);
        process.exit(1);
      });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // Re-read TLS certificates (docs/deployment-topologies.md#certificate-reload); a bad one keeps the old.
  process.on('SIGHUP', () => {
    svc.reloadTls();
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`aionis: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
