import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../platform/config/config';
import { lastFireAtOrBefore, parseCron } from '../platform/config/cron';
import { ProjectionsService } from '../platform/projections/projections.service';
import { OutboxRepository } from '../data-plane/outbox/outbox.repository';
import { TelemetryRepository } from '../data-plane/telemetry/telemetry.repository';
import { isTier } from '../control-plane/quotas/tiers';
import { isoWeekOf, previousIsoWeek } from '../governance/reports/iso-week';
import { governanceScheduleStreamId } from '../governance/reports/weekly-report.scheduler';
import { monthBounds, monthClosedBy, SLO_CLOSE_LOOKBACK_DAYS, sloCloseStreamId } from '../governance/slo-statements/month-close';
import { AlertRecorder } from './alert-recorder';
import { AlertsRepository } from './alerts.repository';
import { alertKey, burnRateObservations, type Decision, evaluate, type Observation, slowRequests, WINDOW_MINUTES, type WindowAggregates, type WindowName } from './burn-rate';
import { PlatformSignalsRepository } from './platform-signals.repository';
import { effectiveSlo, type SloOverrides, type SloTargets } from './slo';
import { TenantSlosRepository } from './tenant-slos.repository';
import { platformObservations, type PlatformSignals } from './platform-rules';


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

  /** Gathers the platform signals; the conditions are pure (platform-rules.ts). */
  private async platform(): Promise<Observation[]> {
    const a = this.config.alerting;
    const [projections, oldestWriteTransaction, overdue, deadLetters, oldestUnsealedEventMs, governance, sloClose] = await Promise.all([
      this.projections.health(),
      this.signals.oldestWriteTransactionMs(),
      this.outbox.overdue(a.outboxMaxAgeMs, 0),
      this.outbox.deadLettersByTenantAndType(),
      this.signals.oldestUnsealedEventMs(),
      this.governance(),
      this.sloClose(),
    ]);
    return platformObservations(
      { projections, oldestWriteTransaction, outbox: { overdueJobs: overdue.count, oldestOpenJobMs: overdue.oldestMs }, deadLetters, oldestUnsealedEventMs, governance, sloClose },
      { projectionLagMs: a.projectionLagMs, openTransactionMs: a.openTransactionMs, outboxMaxAgeMs: a.outboxMaxAgeMs, sealLimitMs: 3 * this.config.audit.sealIntervalMs },
    );
  }

  /**
   * The weekly report's last fire more than an hour ago: was a run due (a tenant to report on, as
   * the scheduler decides), and is it done (the scheduled run completed, or the week was run by
   * hand since, as runbooks/alerts.md says)?
   */
  private async governance(): Promise<PlatformSignals['governance']> {
    const cron = this.config.governance.weeklyReportCron;
    const none = { lastFire: null, week: null, due: false, scheduledRun: 'none', weekArchivedSinceFire: false } as const;
    if (cron === 'off') return { schedule: 'off', ...none };
    const grace = 3_600_000;
    const fire = lastFireAtOrBefore(parseCron(cron), new Date(Date.now() - grace), 8);
    if (!fire) return { schedule: cron, ...none };
    const period = fire.toISOString();
    const week = this.config.governance.weeklyReportWeek === 'current' ? isoWeekOf(fire) : previousIsoWeek(fire);
    const p = await this.signals.governancePeriod({ streamId: governanceScheduleStreamId(period), fireAt: period, week: week.label, weekEnd: week.end });
    return { schedule: cron, lastFire: period, week: week.label, due: p.tenantsBefore, scheduledRun: p.scheduledRun, weekArchivedSinceFire: p.weekArchivedSinceFire };
  }

  /**
   * The SLO statement close's last fire more than an hour ago (and after the month it closes is
   * final): was a close due (a tenant existed during the month), and is it done (the scheduled
   * run completed, or every tenant of the month has a final statement, as after the runbook's
   * run by hand)?
   */
  private async sloClose(): Promise<PlatformSignals['sloClose']> {
    const cron = this.config.governance.sloStatementCron;
    const none = { lastFire: null, month: null, due: false, scheduledRun: 'none', tenantsWithoutStatement: 0 } as const;
    if (cron === 'off') return { schedule: 'off', ...none };
    const grace = 3_600_000;
    const fire = lastFireAtOrBefore(parseCron(cron), new Date(Date.now() - grace), SLO_CLOSE_LOOKBACK_DAYS);
    if (!fire) return { schedule: cron, ...none };
    const month = monthClosedBy(fire);
    const p = await this.signals.sloClosePeriod({ streamId: sloCloseStreamId(month), month, monthEnd: new Date(monthBounds(month).end).toISOString() });
    return { schedule: cron, lastFire: fire.toISOString(), month, due: p.tenants > 0, scheduledRun: p.scheduledRun, tenantsWithoutStatement: p.tenantsWithoutStatement };
  }
}
