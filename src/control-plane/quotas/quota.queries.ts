import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { EffectiveQuotaService } from './effective-quota.service';
import type { EffectiveQuota } from './tiers';

export class GetEffectiveQuotaQuery extends Query<EffectiveQuota | undefined> {
  constructor(readonly tenantId: string) {
    super();
  }
}

@QueryHandler(GetEffectiveQuotaQuery)
export class GetEffectiveQuotaHandler implements IQueryHandler<GetEffectiveQuotaQuery, EffectiveQuota | undefined> {
  constructor(private readonly quotas: EffectiveQuotaService) {}
  execute(q: GetEffectiveQuotaQuery): Promise<EffectiveQuota | undefined> {
    return this.quotas.get(q.tenantId);
  }
}
