import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';

let sdk: NodeSDK | undefined;
let exporting = false;

/**
 * Start OpenTelemetry tracing (HTTP server/client and pg spans) for this process. Must run before
 * `http` and `pg` are loaded, so main.ts calls it first. Spans are exported over OTLP/HTTP when an
 * endpoint is configured; without one, context still propagates and nothing is exported.
 * Metrics are not part of this SDK instance: see metrics.ts.
 */
export function startTracing(options: { serviceName: string; otlpEndpoint: string | undefined }): void {
  if (sdk) return;
  exporting = options.otlpEndpoint !== undefined;
  sdk = new NodeSDK({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    // Without an endpoint: no exporter at all (the SDK's env default would try localhost:4318).
    ...(options.otlpEndpoint
      ? { traceExporter: new OTLPTraceExporter({ url: `${options.otlpEndpoint.replace(/\/$/, '')}/v1/traces` }) }
      : { spanProcessors: [] }),
    logRecordProcessors: [],
    instrumentations: [
      new HttpInstrumentation({ ignoreIncomingRequestHook: (req) => req.url === '/metrics' || (req.url ?? '').startsWith('/health') }),
      new PgInstrumentation({ enhancedDatabaseReporting: false }),
    ],
  });
  sdk.start();
}

/** Flush pending spans (at most 2 s). Without an exporter there is nothing to flush: the SDK's own shutdown then only costs seconds. */
export async function stopTracing(): Promise<void> {
  const s = sdk;
  sdk = undefined;
  if (!s || !exporting) return;
  await Promise.race([s.shutdown().catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
}
