import type { IncomingMessage, ServerResponse } from 'node:http';
import { Logger } from '@nestjs/common';
import type { BatchObservableResult, Counter, Histogram, Meter, ObservableGauge } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, InstrumentType, MeterProvider, PeriodicExportingMetricReader, type IMetricReader } from '@opentelemetry/sdk-metrics';
import { CachedSample } from './cached-sample';

export interface LagSample {
  readonly events: number;
  readonly ms: number;
}

/** One series of `aionis_alerts_firing`: how many alerts of a rule and severity are firing now. */
export interface FiringAlertCount {
  readonly rule: string;
  readonly severity: string;
  readonly firing: number;
}

/** What the alerts read model registers (Metrics.registerFiringAlerts); called at most once per gauge cache period. */
export type FiringAlertsSource = () => Promise<readonly FiringAlertCount[]> | readonly FiringAlertCount[];

/** Default time a gauge read from the database is reused by the next scrapes (METRICS_GAUGE_CACHE_MS). */
export const DEFAULT_GAUGE_CACHE_MS = 5000;
/** A scrape waits at most this long for a gauge's read; a slower read leaves its gauges out of that scrape (and is kept for the next one). */
const GAUGE_READ_TIMEOUT_MS = 2500;

/**
 * Observable gauges report what their callbacks observed in this collection, nothing else. With
 * the SDK's cumulative default a gauge series, once observed, is reported forever with its last
 * value: a resolved alert, a job type gone from the table or a failed database read would show a
 * stale number. Gauges have no temporality in Prometheus or OTLP, so only that retention changes.
 */
const gaugesPerCollection = (type: InstrumentType, otherwise: (type: InstrumentType) => AggregationTemporality): AggregationTemporality =>
  type === InstrumentType.OBSERVABLE_GAUGE ? AggregationTemporality.DELTA : otherwise(type);

class GaugeAwarePrometheusExporter extends PrometheusExporter {
  override selectAggregationTemporality(type: InstrumentType): AggregationTemporality {
    return gaugesPerCollection(type, (t) => super.selectAggregationTemporality(t));
  }
}

class GaugeAwarePeriodicReader extends PeriodicExportingMetricReader {
  override selectAggregationTemporality(type: InstrumentType): AggregationTemporality {
    return gaugesPerCollection(type, (t) => super.selectAggregationTemporality(t));
  }
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
  private readonly logger = new Logger('Metrics');
  private readonly failingGauges = new Set<string>();
  /** How long a gauge read from the database is reused (ms). */
  readonly gaugeCacheMs: number;
  private firingAlerts: FiringAlertsSource | undefined;

  constructor(options: { serviceName: string; otlpEndpoint?: string | undefined; otlpIntervalMs?: number; gaugeCacheMs?: number }) {
    this.gaugeCacheMs = options.gaugeCacheMs ?? DEFAULT_GAUGE_CACHE_MS;
    this.prometheus = new GaugeAwarePrometheusExporter({ preventServerStart: true });
    const readers: IMetricReader[] = [this.prometheus];
    if (options.otlpEndpoint) {
      readers.push(
        new GaugeAwarePeriodicReader({
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
    const firing = this.meter.createObservableGauge('aionis_alerts_firing', {
      description: 'Alerts firing now, by rule and severity (no series until the alerts read model registers its count)',
    });
    this.observeCached(
      'aionis_alerts_firing',
      async () => (this.firingAlerts ? [...(await this.firingAlerts())] : []),
      [firing],
      (rows, r) => {
        for (const row of rows) r.observe(firing, row.firing, { rule: row.rule, severity: row.severity });
      },
    );
  }

  /**
   * Feed `aionis_alerts_firing{rule,severity}` (docs/observability.md): the alerts read model
   * registers a function counting the alerts firing now, one entry per rule and severity (report
   * 0 for a rule that resolved rather than dropping it, so its series does not go stale). Called at
   * most once per gauge cache period, whatever the scrape rate. Without a registration the gauge
   * has no series. A later registration replaces the earlier one; the returned function removes it.
   */
  registerFiringAlerts(source: FiringAlertsSource): () => void {
    this.firingAlerts = source;
    return () => {
      if (this.firingAlerts === source) this.firingAlerts = undefined;
    };
  }

  /**
   * Observable gauges fed by one read (a database query), cached for `gaugeCacheMs` so a scrape
   * never hammers the database. A read that fails or takes over 2.5 s leaves these gauges out of
   * that scrape (a missing series, never a stale or made-up number); the failure is logged once
   * until the read works again.
   */
  observeCached<T>(name: string, read: () => Promise<T>, gauges: readonly ObservableGauge[], observe: (sample: T, result: BatchObservableResult) => void): void {
    const sample = new CachedSample(read, this.gaugeCacheMs);
    this.meter.addBatchObservableCallback(async (result) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`read took over ${GAUGE_READ_TIMEOUT_MS} ms`)), GAUGE_READ_TIMEOUT_MS);
          timer.unref();
        });
        const value = await Promise.race([sample.get(), timeout]);
        observe(value, result);
        if (this.failingGauges.delete(name)) this.logger.log({ msg: 'metrics gauge read again', gauge: name });
      } catch (err) {
        if (!this.failingGauges.has(name)) this.logger.warn({ msg: 'metrics gauge read failed; left out of scrapes until it works', gauge: name, err });
        this.failingGauges.add(name);
      } finally {
        clearTimeout(timer);
      }
    }, [...gauges]);
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
