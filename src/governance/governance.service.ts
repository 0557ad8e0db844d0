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

/** Runs governance reports for the API and the schedule (worker role), and owns the scheduler. */
@Injectable()
export class GovernanceService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Governance');
  private scheduler: WeeklyReportScheduler | undefined;

  constructor(
    @Inject(DATABASE) readonly database: Database,
    @Inject(EVENT_STORE) readonly eventStore: PostgresEventStore,
    @Inject(APP_CONFIG) readonly config: AppConfig,
    @Inject(SECRETS) private readonly secrets: Secrets,
    @Inject(EVIDENCE_STORE) readonly archive: EvidenceStore,
  ) {}

  onModuleInit(): void {
    const cron = this.config.governance.weeklyReportCron;
    if (!this.config.roles.has('worker') || cron === 'off') return;
    this.scheduler = new WeeklyReportScheduler(
      {
        database: this.database,
        eventStore: this.eventStore,
        logger: this.logger,
        instanceId: `${hostname()}:${process.pid}`,
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
    await this.scheduler?.stop();
  }

  weeklyReport(week: IsoWeek, actor: Actor, trigger: 'schedule' | 'cli' | 'api', position?: string) {
    return runWeeklyReport(
      { database: this.database, eventStore: this.eventStore, archive: this.archive, key: this.secrets.sealKey, version: buildInfo().version },
      { week, rotationPolicyDays: this.config.governance.keyRotationPolicyDays, actor, trigger, ...(position ? { position } : {}) },
    );
  }
}
