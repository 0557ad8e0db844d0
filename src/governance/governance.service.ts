import { hostname } from 'node:os';
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { buildInfo } from '../platform/build-info';
import { APP_CONFIG, type AppConfig } from '../platform/config/config';
import { SECRETS, type Secrets } from '../platform/config/secrets';
import { DATABASE, type Database } from '../platform/db/database';
import { type Actor, EVENT_STORE } from '../platform/event-store/event-store';
import type { PostgresEventStore } from '../platform/event-store/postgres-event-store';
import { EVIDENCE_STORE } from './evidence/evidence-store.factory';
import type { EvidenceStore } from './evidence/evidence-store';
import type { IsoWeek } from './reports/iso-week';
import { runWeeklyReport } from './reports/weekly-report.job';
import { WeeklyReportScheduler } from './reports/weekly-report.scheduler';
import type { CloseSummary, TenantCloseOutcome } from './slo-statements/month-close';
import { closeMonth } from './slo-statements/month-close.job';
import { SloCloseEventsRepository } from './slo-statements/slo-close-events.repository';
import { SLO_SCHEDULER_ACTOR, SloStatementScheduler } from './slo-statements/slo-statement.scheduler';
import type { IssueDeps } from './slo-statements/slo-statements';
import { systemCommandContext } from '../platform/event-store/command-context';

/** Runs governance reports for the API and the schedule (worker role), and owns the scheduler. */
@Injectable()
export class GovernanceService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Governance');
  private scheduler: WeeklyReportScheduler | undefined;
  /** The monthly SLO statement close (worker role, SLO_STATEMENT_CRON); exposed for tests. */
  sloScheduler: SloStatementScheduler | undefined;

  constructor(
    @Inject(DATABASE) readonly database: Database,
    @Inject(EVENT_STORE) readonly eventStore: PostgresEventStore,
    @Inject(APP_CONFIG) readonly config: AppConfig,
    @Inject(SECRETS) private readonly secrets: Secrets,
    @Inject(EVIDENCE_STORE) readonly archive: EvidenceStore,
  ) {}

  onModuleInit(): void {
    if (!this.config.roles.has('worker')) return;
    const instanceId = `${hostname()}:${process.pid}`;
    const sloCron = this.config.governance.sloStatementCron;
    if (sloCron !== 'off') {
      this.sloScheduler = new SloStatementScheduler(
        { repository: new SloCloseEventsRepository(this.database), eventStore: this.eventStore, logger: this.logger, instanceId, close: (month, onTenant) => this.closeSloMonth(month, onTenant) },
        sloCron,
        this.config.governance.schedulerTickMs,
      );
      this.sloScheduler.start();
    }
    const cron = this.config.governance.weeklyReportCron;
    if (cron === 'off') return;
    this.scheduler = new WeeklyReportScheduler(
      {
        database: this.database,
        eventStore: this.eventStore,
        logger: this.logger,
        instanceId,
        which: this.config.governance.weeklyReportWeek,
        run: async (week) => {
          const r = await this.weeklyReport(week, { type: 'system', id: 'governance-scheduler' }, 'schedule');
          return { bundleId: r.bundle.id, status: r.report.status };
        },
      },
      cron,
      this.config.governance.schedulerTickMs,
    );
    this.scheduler.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([this.scheduler?.stop(), this.sloScheduler?.stop()]);
  }

  /** The signing and archiving an SLO statement issue needs (the API's, the schedule's). */
  sloIssueDeps(): IssueDeps {
    return { database: this.database, eventStore: this.eventStore, archive: this.archive, key: this.secrets.sealKey, version: buildInfo().version };
  }

  /** Issue every tenant's statement of a closed month as the scheduler. */
  closeSloMonth(month: string, onTenant?: (o: TenantCloseOutcome) => void): Promise<CloseSummary> {
    return closeMonth(this.sloIssueDeps(), month, systemCommandContext({ actor: SLO_SCHEDULER_ACTOR, correlationId: `slo-close-${month}` }), 'schedule', onTenant);
  }

  weeklyReport(week: IsoWeek, actor: Actor, trigger: 'schedule' | 'cli' | 'api', position?: string) {
    return runWeeklyReport(
      { database: this.database, eventStore: this.eventStore, archive: this.archive, key: this.secrets.sealKey, version: buildInfo().version },
      { week, rotationPolicyDays: this.config.governance.keyRotationPolicyDays, actor, trigger, ...(position ? { position } : {}) },
    );
  }
}
