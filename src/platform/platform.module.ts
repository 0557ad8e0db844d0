import { type DynamicModule, Global, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from './config/config';
import { SECRETS, type Secrets } from './config/secrets';
import { DATABASE, type Database } from './db/database';
import { MigrationsRepository } from './db/migrations.repository';
import { OpsIncidentsRepository } from './db/ops-incidents.repository';
import { PgStatActivityRepository } from './db/pg-stat-activity.repository';
import { EVENT_STORE } from './event-store/event-store';
import type { PostgresEventStore } from './event-store/postgres-event-store';
import { HealthController } from './health/health.controller';
import { AuthThrottle } from './http/auth-throttle';
import type { AnyProjection } from './projections/projection';
import { ProjectionCheckpointsRepository } from './projections/projection-checkpoints.repository';
import type { RunnerHooks } from './projections/projection-runner';
import { PROJECTION_DEFINITIONS, PROJECTOR_HOOKS, ProjectionsService } from './projections/projections.service';
import { DatabaseMetrics } from './telemetry/database-metrics';
import { METRICS, type Metrics } from './telemetry/metrics';

/** The infrastructure a process is built on; created once at boot (or by a test) and handed to Nest. */
export interface Infrastructure {
  readonly config: AppConfig;
  readonly secrets: Secrets;
  readonly database: Database;
  readonly store: PostgresEventStore;
  readonly metrics: Metrics;
  readonly projections?: readonly AnyProjection[];
  readonly projectorHooks?: RunnerHooks;
  /** Replaces the configured embedding provider (tests, drills). */
  readonly embeddingProvider?: unknown;
}

/** Provided only when Infrastructure.embeddingProvider is set; see the data plane. */
export const EMBEDDING_PROVIDER_OVERRIDE_TOKEN = 'EMBEDDING_PROVIDER_OVERRIDE';

@Global()
@Module({})
export class PlatformModule {
  static forRoot(infra: Infrastructure): DynamicModule {
    return {
      module: PlatformModule,
      controllers: [HealthController],
      providers: [
        { provide: APP_CONFIG, useValue: infra.config },
        { provide: SECRETS, useValue: infra.secrets },
        { provide: DATABASE, useValue: infra.database },
        { provide: EVENT_STORE, useValue: infra.store },
        { provide: METRICS, useValue: infra.metrics },
        ...(infra.projections ? [{ provide: PROJECTION_DEFINITIONS, useValue: infra.projections }] : []),
        ...(infra.projectorHooks ? [{ provide: PROJECTOR_HOOKS, useValue: infra.projectorHooks }] : []),
        ...(infra.embeddingProvider ? [{ provide: EMBEDDING_PROVIDER_OVERRIDE_TOKEN, useValue: infra.embeddingProvider }] : []),
        ProjectionCheckpointsRepository,
        OpsIncidentsRepository,
        MigrationsRepository,
        ProjectionsService,
        AuthThrottle,
        PgStatActivityRepository,
        DatabaseMetrics,
      ],
      exports: [APP_CONFIG, SECRETS, DATABASE, EVENT_STORE, METRICS, ProjectionsService, AuthThrottle, ...(infra.embeddingProvider ? [EMBEDDING_PROVIDER_OVERRIDE_TOKEN] : [])],
    };
  }
}
