import type { FieldError } from '../platform/errors/app-error';
import { TELEMETRY_BOUNDS_MS } from '../data-plane/telemetry/telemetry';
import { TIERS } from '../control-plane/tenants/tenant.domain';

import { effectiveSlo, type EffectiveSlo, SLO_FIELDS, type SloField, type SloOverrides, type SloTargets, TIER_SLOS } from '../control-plane/quotas/tiers';

/**
 * Service level objectives: the tiers' targets are packaging data next to the quotas
 * (control-plane/quotas/tiers.ts, TIER_SLOS, where each field is defined). A tenant's overrides
 * are events on `slo-<tenant_id>` (slo-override.domain.ts); the effective SLO is the tier's
 * targets with the overrides applied.
 */
export { effectiveSlo, type EffectiveSlo, SLO_FIELDS, type SloField, type SloOverrides, type SloTargets, TIER_SLOS };

export { TIERS };

/** Why a value is not allowed for a field, or null when it is. */
export function sloValueProblem(field: SloField, value: unknown): string | null {
  if (typeof value !== 'number' || !Number.isFinite(value)) return 'must be a number';
  if (field === 'latency_threshold_ms') {
    return (TELEMETRY_BOUNDS_MS as readonly number[]).includes(value) ? null : `must be one of ${TELEMETRY_BOUNDS_MS.join(', ')}`;
  }
  if (field === 'availability_target') return value >= 0.9 && value <= 0.99999 ? null : 'must be between 0.9 and 0.99999';
  return value >= 0.5 && value <= 0.99999 ? null : 'must be between 0.5 and 0.99999';
}

export function sloOverrideProblems(overrides: unknown, prefix: string): FieldError[] {
  if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) return [{ field: prefix, message: 'must be an object' }];
  const errors: FieldError[] = [];
  for (const [name, value] of Object.entries(overrides)) {
    if (!(SLO_FIELDS as readonly string[]).includes(name)) errors.push({ field: `${prefix}.${name}`, message: 'unknown field' });
    else {
      const p = sloValueProblem(name as SloField, value);
      if (p) errors.push({ field: `${prefix}.${name}`, message: p });
    }
  }
  return errors;
}

/** The overrides in SLO_FIELDS order, undefined members dropped. */
export function canonicalSloOverrides(o: SloOverrides): SloOverrides {
  const out: { [K in SloField]?: number } = {};
  for (const f of SLO_FIELDS) if (o[f] !== undefined) out[f] = o[f];
  return out;
}

