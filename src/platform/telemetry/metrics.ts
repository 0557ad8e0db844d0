import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Counter, Histogram, Meter, ObservableGauge } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type IMetricReader } from '@opentelemetry/sdk-metrics';

export interface LagSample {
  readonly events: number;
  readonly ms: number;
}

/**
 * The service's metrics: one MeterProvider per process (per app instance in tests), read by the
 * Prometheus exporter behind GET /metrics and, when OTEL_EXPORTER_OTLP_ENDPOINT is set, pushed over OTLP.
 * Instruments live here so names and labels stay in one place (docs/observability.md).
 */
export class Metrics {
  private readonly provider: MeterProvider;
  private readonly prometheus: PrometheusExporter;
  readonly meter: Meter;
  readonly httpRequests: Counter;
  readonly httpDuration: Histogram;
  readonly appends: Counter;
  readonly appendDuration: Histogram;
  readonly projectedEvents: Counter;
  readonly projectionDeadLetters: Counter;
  private readonly lagGauges: ObservableGauge[] = [];
  private readonly lagSources = new Map<string, () => LagSample>();

  constructor(options: { serviceName: string; otlpEndpoint?: string | undefined; otlpIntervalMs?: number }) {
    this.prometheus = new PrometheusExporter({ preventServerStart: true });
    const readers: IMetricReader[] = [this.prometheus];
    if (options.otlpEndpoint) {
      readers.push(
        new PeriodicExportingMetricReader({
          exporter: new OTLPMetricExporter({ url: `${options.otlpEndpoint.replace(/\/$/, '')}/v1/metrics` }),
          exportIntervalMillis: options.otlpIntervalMs ?? 15_000,
          exportTimeoutMillis: Math.min(options.otlpIntervalMs ?? 15_000, 10_000),
        }),
      );
    }
    this.provider = new MeterProvider({
      resource: resourceFromAttributes({ 'service.name': options.serviceName }),
      readers,
    });
    this.meter = this.provider.getMeter('aionis-hosted');
    this.httpRequests = this.meter.createCounter('aionis_http_requests', { description: 'HTTP requests by method, route and status' });
    this.httpDuration = this.meter.createHistogram('aionis_http_request_duration_seconds', {
      description: 'HTTP request latency by method, route and status',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] },
    });
    this.appends = this.meter.createCounter('aionis_event_store_appends', { description: 'Event-store appends by outcome' });
    this.appendDuration = this.meter.createHistogram('aionis_event_store_append_duration_seconds', {
      description: 'Event-store append latency',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1] },
    });
    this.projectedEvents = this.meter.createCounter('aionis_projection_events_applied', { description: 'Events applied by each projection' });
    this.projectionDeadLetters = this.meter.createCounter('aionis_projection_dead_letters', {
      description: 'Events sent to the projection dead-letter table, by projection and category',
    });
    const lagEvents = this.meter.createObservableGauge('aionis_projection_lag_events', { description: 'Events behind the head of the log, per projection' });
    const lagMs = this.meter.createObservableGauge('aionis_projection_lag_ms', {
      description: 'Milliseconds since the oldest event the projection has not applied yet was recorded (0 = caught up)',
    });
    lagEvents.addCallback((r) => {
      for (const [name, src] of this.lagSources) r.observe(src().events, { projection: name });
    });
    lagMs.addCallback((r) => {
      for (const [name, src] of this.lagSources) r.observe(src().ms, { projection: name });
    });
    this.lagGauges.push(lagEvents, lagMs);
  }

  registerProjectionLag(projection: string, source: () => LagSample): void {
    this.lagSources.set(projection, source);
  }

  /** Serve the Prometheus text format. */
  handleScrape(req: IncomingMessage, res: ServerResponse): void {
    this.prometheus.getMetricsRequestHandler(req, res);
  }

  async shutdown(): Promise<void> {
    await this.provider.shutdown().catch(() => undefined);
  }
}

export const METRICS = Symbol('METRICS');
