import { Module } from '@nestjs/common';
import { ControlPlaneModule } from '../control-plane.module';
import { EffectiveQuotaService } from './effective-quota.service';
import { QuotaCommandHandler } from './quota.commands';
import { GetEffectiveQuotaHandler } from './quota.queries';
import { QuotasController } from './quotas.controller';
import { QuotasRepository } from './quotas.repository';

/**
 * Quotas and tiers: the override endpoints, and EffectiveQuotaService, the one way the data plane
 * learns a tenant's limits (import QuotasModule and inject it).
 */
@Module({
  // The command and query buses are global (CqrsModule.forRoot in ControlPlaneModule); the admin guard comes from there too.
  imports: [ControlPlaneModule],
  controllers: [QuotasController],
  providers: [QuotaCommandHandler, GetEffectiveQuotaHandler, QuotasRepository, EffectiveQuotaService],
  exports: [EffectiveQuotaService],
})
export class QuotasModule {}
