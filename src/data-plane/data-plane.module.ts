import { Module } from '@nestjs/common';
import { ControlPlaneModule } from '../control-plane/control-plane.module';
import { QuotasModule } from '../control-plane/quotas/quotas.module';
import { QuotaEnforcer } from './quotas/quota-enforcer';
import { QuotaGuard } from './quotas/quota.guard';
import { QuotaUsageController } from './quotas/quota-usage.controller';
import { DashboardController } from './telemetry/dashboard.controller';
import { TelemetryRecorder } from './telemetry/telemetry-recorder';
import { VectorSupport } from './vector-support';
import { APP_CONFIG, type AppConfig } from '../platform/config/config';
import { EMBEDDING_PROVIDER, EMBEDDING_PROVIDER_OVERRIDE, type EmbeddingProvider } from './embeddings/embedding-provider';
import { createEmbeddingProvider } from './embeddings/provider.factory';
import { DeadLettersController } from './outbox/dead-letters.controller';
import { OutboxWorker } from './outbox/outbox-worker';
import { MemoryController } from './memory.controller';
import { MemoryRepository } from './memory.repository';
import { MemoryService } from './memory.service';

/** The data plane: the hosted memory API, authenticated by API key (guard and verifier come from the control plane). */
@Module({
  imports: [ControlPlaneModule, QuotasModule],
  controllers: [MemoryController, DeadLettersController, QuotaUsageController, DashboardController],
  providers: [
    MemoryRepository,
    MemoryService,
    OutboxWorker,
    QuotaEnforcer,
    QuotaGuard,
    TelemetryRecorder,
    VectorSupport,
    {
      provide: EMBEDDING_PROVIDER,
      useFactory: (config: AppConfig, override?: EmbeddingProvider) => override ?? createEmbeddingProvider(config),
      inject: [APP_CONFIG, { token: EMBEDDING_PROVIDER_OVERRIDE, optional: true }],
    },
  ],
  exports: [OutboxWorker, EMBEDDING_PROVIDER, TelemetryRecorder],
})
export class DataPlaneModule {}
