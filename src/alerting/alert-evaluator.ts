import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../platform/config/config';
import { lastFireAtOrBefore, parseCron } from '../platform/config/cron';
import { ProjectionsService } from '../platform/projections/projections.service';
import { OutboxRepository } from '../data-plane/outbox/outbox.repository';
import { TelemetryRepository } from '../data-plane/telemetry/telemetry.repository';
import { isTier } from '../control-plane/quotas/tiers';
import { isoWeekOf, previousIsoWeek } from '../governance/reports/iso-week';
import { governanceScheduleStreamId } from '../governance/reports/weekly-report.scheduler';
import { AlertRecorder } from './alert-recorder';
import { AlertsRepository } from './alerts.repository';
import { alertKey, burnRateObservations, type Decision, evaluate, type Observation, slowRequests, WINDOW_MINUTES, type WindowAggregates, type WindowName } from './burn-rate';
import { PlatformSignalsRepository } from './platform-signals.repository';
import { effectiveSlo, type SloOverrides, type SloTargets } from './slo';
import { TenantSlosRepository } from './tenant-slos.repository';
import { PLATFORM_RULES } from './rules';

const severityOf = (rule: string) => PLATFORM_RULES.find((r) => r.rule === rule)!.severity;
const platformObservation = (rule: string, breaching: boolean, numbers: Observation['numbers']): Observation => ({ rule, tenant_id: null, severity: severityOf(rule), breaching, numbers });

/**
 * The worker-role alert evaluator: every ALERT_EVALUATION_INTERVAL_MS it reads the telemetry
 * rollups' window aggregates and the platform signals, runs the pure evaluation (burn-rate.ts)
 * against the open alerts, and records each decision (AlertRecorder: an event on the alert's stream
 * plus its deliveries, in one transaction). Several instances may evaluate at once: the alert
 * stream's expected revision lets exactly one record each firing or resolution.
 * The clear-since memory (for the resolve delay) lives in this process; a restart at worst delays
 * a resolution by one more ALERT_RESOLVE_DELAY_MS.
 */
@Injectable()
export class AlertEvaluator implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Alerts');
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<Decision[]> | undefined;
  private clearSince: Record<string, string> = {};

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly telemetry: TelemetryRepository,
    private readonly slos: TenantSlosRepository,
    private readonly alerts: AlertsRepository,
    private readonly outbox: OutboxRepository,
    private readonly signals: PlatformSignalsRepository,
    private readonly projections: ProjectionsService,
    private readonly recorder: AlertRecorder,
  ) {}

  onModuleInit(): void {
    if (!this.config.roles.has('worker') || !this.config.alerting.enabled) return;
    this.timer = setInterval(() => void this.tick().catch((err: unknown) => this.logger.error({ msg: 'alert evaluation failed', err })), this.config.alerting.evaluationIntervalMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** One evaluation (concurrent calls share it); returns the decisions it recorded. Exposed for tests and drills. */
  tick(): Promise<Decision[]> {
    if (this.running) return this.running;
    this.running = this.evaluateOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async evaluateOnce(): Promise<Decision[]> {
    const observations = [...(await this.burnRates()), ...(await this.platform())];
    const now = new Date();
    const a = this.config.alerting;
    const [open, resolved] = await Promise.all([this.alerts.firing(), this.alerts.resolvedSince(new Date(now.getTime() - a.refireHoldMs).toISOString())]);
    const result = evaluate({
      now: now.toISOString(),
      observations,
      open: open.map((x) => ({ alert_id: x.alert_id, rule: x.rule, tenant_id: x.tenant_id, fired_at: x.fired_at })),
      lastResolved: Object.fromEntries(resolved.map((r) => [alertKey(r.rule, r.tenant_id), r.resolved_at])),
      clearSince: this.clearSince,
      policy: { minFiringMs: a.minFiringMs, resolveDelayMs: a.resolveDelayMs, refireHoldMs: a.refireHoldMs },
    });
    this.clearSince = result.clearSince;
    const recorded: Decision[] = [];
    for (const d of result.decisions) {
      const r = await this.recorder.record(d);
      if (!r) continue;
      recorded.push(d);
      this.logger.warn({ msg: d.kind === 'fire' ? 'alert fired' : 'alert resolved', rule: d.rule, tenant_id: d.tenant_id, alert_id: r.alert_id, deliveries: r.deliveries, numbers: d.numbers });
    }
    return recorded;
  }

  private async burnRates(): Promise<Observation[]> {
    const rows = await this.telemetry.windowAggregates(WINDOW_MINUTES);
    const stored = new Map((await this.slos.findMany(rows.map((r) => r.tenant_id))).map((s) => [s.tenant_id, s]));
    const out: Observation[] = [];
    for (const row of rows) {
      const s = stored.get(row.tenant_id);
      if (!s || !isTier(s.tier)) continue; // rollups of a tenant the read model does not know (yet)
      const slo: SloTargets = effectiveSlo(s.tenant_id, s.tier, s.overrides as SloOverrides, s.revision).targets;
      const windows = Object.fromEntries(
        (Object.keys(WINDOW_MINUTES) as WindowName[]).map((w) => {
          const x = row.windows[w]!;
          return [w, { total: x.total, errors: x.status_5xx, slow: slowRequests(x.buckets, slo.latency_threshold_ms) }];
        }),
      ) as WindowAggregates;
      out.push(...burnRateObservations(row.tenant_id, slo, windows, this.config.alerting.minRequests));
    }
    return out;
  }

  private async platform(): Promise<Observation[]> {
    const a = this.config.alerting;
    const out: Observation[] = [];
    const health = await this.projections.health();
    const worst = health.map((h) => ({ h, lag: Math.max(h.lag_ms ?? 0, h.state === 'remote' ? (h.heartbeat_age_ms ?? 0) : 0) })).sort((x, y) => y.lag - x.lag)[0];
    const stalled = health.filter((h) => ['failed', 'stopped', 'retrying'].includes(h.state));
    out.push(
      platformObservation('projection-lag', (worst?.lag ?? 0) > a.projectionLagMs || stalled.length > 0, {
        projection: worst?.h.projection ?? null,
        lag_ms: worst?.lag ?? 0,
        threshold_ms: a.projectionLagMs,
        stalled: stalled.map((h) => h.projection).join(',') || null,
      }),
    );
    const txn = await this.signals.oldestWriteTransactionMs();
    out.push(platformObservation('oldest-write-transaction', (txn.ageMs ?? 0) > a.openTransactionMs, { age_ms: txn.ageMs, pid: txn.pid, threshold_ms: a.openTransactionMs }));
    const overdue = await this.outbox.overdue(a.outboxMaxAgeMs, 0);
    out.push(platformObservation('outbox-backlog-age', overdue.count > 0, { oldest_open_job_ms: overdue.oldestMs, overdue_jobs: overdue.count, threshold_ms: a.outboxMaxAgeMs }));
    const dead = await this.outbox.deadLettersByTenantAndType();
    const deadTotal = dead.reduce((s, d) => s + d.n, 0);
    out.push(platformObservation('dead-letters', deadTotal > 0, { dead_letters: deadTotal, tenants: new Set(dead.map((d) => d.tenant_id)).size, types: [...new Set(dead.map((d) => d.type))].join(',') || null }));
    const unsealed = this.config.roles.has('worker') ? await this.signals.oldestUnsealedEventMs() : null;
    const sealLimit = 3 * this.config.audit.sealIntervalMs;
    out.push(platformObservation('seal-schedule-missed', (unsealed ?? 0) > sealLimit, { oldest_unsealed_event_ms: unsealed, threshold_ms: sealLimit }));
    out.push(await this.governance());
    return out;
  }

  /** The last weekly-report fire more than an hour ago must have completed (if there was a tenant to report on). */
  private async governance(): Promise<Observation> {
    const cron = this.config.governance.weeklyReportCron;
    if (cron === 'off') return platformObservation('governance-schedule-missed', false, { schedule: 'off' });
    const grace = 3_600_000;
    const fire = lastFireAtOrBefore(parseCron(cron), new Date(Date.now() - grace), 8);
    if (!fire) return platformObservation('governance-schedule-missed', false, { schedule: cron, last_fire: null });
    const period = fire.toISOString();
    // As the scheduler: no report is due for a week in which there was no tenant yet.
    const week = this.config.governance.weeklyReportWeek === 'current' ? isoWeekOf(fire) : previousIsoWeek(fire);
    const p = await this.signals.governancePeriod(governanceScheduleStreamId(period), week.end);
    return platformObservation('governance-schedule-missed', p.tenantsBefore && !p.completed, { schedule: cron, last_fire: period, completed: p.completed ? 'yes' : 'no' });
  }
}
