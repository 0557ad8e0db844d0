import { type MiddlewareConsumer, Module, type NestModule, RequestMethod } from '@nestjs/common';
import { ControlPlaneModule } from '../control-plane/control-plane.module';
import { QuotasModule } from '../control-plane/quotas/quotas.module';
import { APP_CONFIG, type AppConfig } from '../platform/config/config';
import { EMBEDDING_PROVIDER, EMBEDDING_PROVIDER_OVERRIDE, type EmbeddingProvider } from './embeddings/embedding-provider';
import { createEmbeddingProvider } from './embeddings/provider.factory';
import { ContractGateway } from './memory/contract-gateway';
import { DecisionsController } from './memory/decisions.controller';
import { MemoryCommands } from './memory/memory.commands';
import { MemoryController } from './memory/memory.controller';
import { MemoryQueries } from './memory/memory.queries';
import { MemoryRepository } from './memory/memory.repository';
import { MemorySettingsRepository } from './memory/memory-settings.repository';
import { PolicyRepository } from './memory/policy.repository';
import { PolicyService } from './memory/policy.service';
import { NoProviderMiddleware } from './memory/no-provider.middleware';
import { QueryEmbedder } from './memory/query-embedder';
import { RecallService } from './memory/recall.service';
import { TenantDataRepository } from './memory/tenant-data.repository';
import { WriteHandler } from './memory/write.handler';
import { DeadLettersController } from './outbox/dead-letters.controller';
import { OutboxMetrics } from './outbox/outbox-metrics';
import { OutboxHandlers } from './outbox/outbox-handlers';
import { OutboxRepository } from './outbox/outbox.repository';
import { OutboxWorker } from './outbox/outbox-worker';
import { QuotaEnforcer } from './quotas/quota-enforcer';
import { QuotaUsageController } from './quotas/quota-usage.controller';
import { UsageRepository } from './quotas/usage.repository';
import { DashboardController } from './telemetry/dashboard.controller';
import { TelemetryRecorder } from './telemetry/telemetry-recorder';
import { TelemetryRepository } from './telemetry/telemetry.repository';
import { VectorSupport } from './vector-support';

/** The data plane: the hosted memory API (the open core's contract), authenticated by API key (guard and verifier come from the control plane). */
@Module({
  imports: [ControlPlaneModule, QuotasModule],
  controllers: [MemoryController, DecisionsController, DeadLettersController, QuotaUsageController, DashboardController],
  providers: [
    MemoryRepository,
    MemorySettingsRepository,
    PolicyRepository,
    PolicyService,
    OutboxRepository,
    OutboxHandlers,
    UsageRepository,
    TelemetryRepository,
    TenantDataRepository,
    WriteHandler,
    MemoryCommands,
    MemoryQueries,
    RecallService,
    QueryEmbedder,
    ContractGateway,
    OutboxWorker,
    OutboxMetrics,
    QuotaEnforcer,
    TelemetryRecorder,
    VectorSupport,
    {
      provide: EMBEDDING_PROVIDER,
      useFactory: (config: AppConfig, override?: EmbeddingProvider) => override ?? createEmbeddingProvider(config),
      inject: [APP_CONFIG, { token: EMBEDDING_PROVIDER_OVERRIDE, optional: true }],
    },
  ],
  exports: [OutboxWorker, OutboxHandlers, OutboxRepository, TelemetryRepository, EMBEDDING_PROVIDER, TelemetryRecorder, TenantDataRepository, QuotaEnforcer],
})
export class DataPlaneModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    // recall_text without a provider answers before authentication, as the open core does (contract §3.7).
    consumer.apply(NoProviderMiddleware).forRoutes({ path: 'v1/memory/recall_text', method: RequestMethod.POST });
  }
}
