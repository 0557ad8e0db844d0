import { Injectable } from '@nestjs/common';
import { QuotasRepository } from './quotas.repository';
import { type EffectiveQuota, effectiveQuota, isQuotaField, isTier, type QuotaField, type QuotaOverrides } from './tiers';

/** The stored override set as overrides: known fields with numeric values only (a field the code dropped is ignored). */
export function readOverrides(stored: unknown): QuotaOverrides {
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) return {};
  const out: { [K in QuotaField]?: number } = {};
  for (const [name, value] of Object.entries(stored)) {
    if (isQuotaField(name) && typeof value === 'number' && Number.isFinite(value)) out[name] = value;
  }
  return out;
}

/**
 * A tenant's effective quota: its tier's defaults (tiers.ts) with its overrides applied, read from
 * the tenants and quotas read models. This is the one service the data plane uses to learn a
 * tenant's limits (exported by QuotasModule).
 */
@Injectable()
export class EffectiveQuotaService {
  constructor(private readonly repo: QuotasRepository) {}

  /** Undefined when the tenant does not exist. */
  async get(tenantId: string): Promise<EffectiveQuota | undefined> {
    const stored = await this.repo.find(tenantId);
    if (!stored) return undefined;
    // Tiers only enter through validated commands: an unknown one means tiers.ts lost a tier that is in use.
    if (!isTier(stored.tier)) throw new Error(`tenant ${tenantId} has tier "${stored.tier}", which src/control-plane/quotas/tiers.ts does not define`);
    return effectiveQuota(stored.tenant_id, stored.tier, readOverrides(stored.overrides), stored.revision);
  }
}
