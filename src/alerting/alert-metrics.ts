import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { type FiringAlertCount, METRICS, type Metrics } from '../platform/telemetry/metrics';
import { AlertsRepository } from './alerts.repository';
import { ALERT_RULES } from './rules';

/**
 * `aionis_alerts_firing{rule,severity}`: every rule the evaluator runs has a series (0 when
 * nothing of it fires, so a resolved rule's series never goes stale), plus any rule still firing
 * in the read model that this release no longer runs. No tenant label: its cardinality is the
 * number of rules, bounded.
 */
export function firingAlertSeries(counts: readonly FiringAlertCount[]): FiringAlertCount[] {
  const key = (rule: string, severity: string) => `${rule}\u0000${severity}`;
  const out = new Map<string, FiringAlertCount>(ALERT_RULES.map((r) => [key(r.rule, r.severity), { rule: r.rule, severity: r.severity, firing: 0 }]));
  for (const c of counts) {
    const k = key(c.rule, c.severity);
    out.set(k, { rule: c.rule, severity: c.severity, firing: (out.get(k)?.firing ?? 0) + c.firing });
  }
  return [...out.values()].sort((a, b) => a.rule.localeCompare(b.rule) || a.severity.localeCompare(b.severity));
}

/** Registers the alerts read model's firing count with the metrics (read at most once per gauge cache period). */
@Injectable()
export class AlertMetrics implements OnModuleInit, OnModuleDestroy {
  private unregister: (() => void) | undefined;

  constructor(
    @Inject(METRICS) private readonly metrics: Metrics,
    private readonly alerts: AlertsRepository,
  ) {}

  onModuleInit(): void {
    this.unregister = this.metrics.registerFiringAlerts(async () => firingAlertSeries(await this.alerts.firingCounts()));
  }

  onModuleDestroy(): void {
    this.unregister?.();
  }
}
