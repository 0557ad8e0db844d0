import { Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { ControlPlaneModule } from '../control-plane.module';
import { AdminRateLimitInterceptor } from './admin-rate-limit.interceptor';
import { EffectiveQuotaService } from './effective-quota.service';
import { QuotaCommandHandler } from './quota.commands';
import { GetEffectiveQuotaHandler } from './quota.queries';
import { QuotasController } from './quotas.controller';
import { QuotasRepository } from './quotas.repository';
import { RateLimitBucketsRepository } from './rate-limit-buckets.repository';

/**
 * Quotas and tiers: the override endpoints, and EffectiveQuotaService, the one way the data plane
 * learns a tenant's limits (import QuotasModule and inject it).
 */
@Module({
  // The command and query buses are global (CqrsModule.forRoot in ControlPlaneModule); the admin guard comes from there too.
  imports: [ControlPlaneModule],
  controllers: [QuotasController],
  providers: [
    QuotaCommandHandler,
    GetEffectiveQuotaHandler,
    QuotasRepository,
    EffectiveQuotaService,
    RateLimitBucketsRepository,
    // Runs after the guards: the admin guard has named the operator by then.
    { provide: APP_INTERCEPTOR, useClass: AdminRateLimitInterceptor },
  ],
  exports: [EffectiveQuotaService, RateLimitBucketsRepository],
})
export class QuotasModule {}
