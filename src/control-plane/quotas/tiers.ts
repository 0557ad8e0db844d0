import type { FieldError } from '../../platform/errors/app-error';
import { type Tier, TIERS } from '../tenants/tenant.domain';

/**
 * The tiers and their quota defaults: the one place this data lives. Everything else (the
 * effective-quota service, the override validation, docs/packaging-matrix.md via
 * `npm run docs:packaging-matrix`) is derived from it. Values are whole numbers.
 */

export { TIERS, type Tier };

/**
 * Every quota field, in display order. Rates are per second and per tenant; bursts are token-bucket
 * sizes. Every field is enforced: write/recall by QuotaEnforcer, admin by AdminRateLimitInterceptor,
 * monthly_operations and max_stored_nodes on the memory API, telemetry_retention_days by the
 * telemetry pruner. (`report_retention_days` was sold but could not mean anything per tenant: the
 * governance weekly reports are deployment-wide evidence. It was dropped; stored overrides that
 * name it are ignored on read, see effectiveQuota.)
 */
export const QUOTA_FIELDS = [
  'write_rps',
  'write_burst',
  'recall_rps',
  'recall_burst',
  'admin_rps',
  'admin_burst',
  'monthly_operations',
  'max_stored_nodes',
  'telemetry_retention_days',
] as const;
export type QuotaField = (typeof QUOTA_FIELDS)[number];

/** A complete set of quota values. */
export type QuotaProfile = { readonly [K in QuotaField]: number };
/** Some quota values (a tenant's overrides): absent = not overridden. */
export type QuotaOverrides = Partial<QuotaProfile>;

export interface QuotaFieldSpec {
  /** Human label (packaging matrix, docs). */
  readonly label: string;
  /** Unit of the value. */
  readonly unit: string;
  /** Smallest allowed value (inclusive), for tier data and overrides alike. */
  readonly min: number;
  /** Largest allowed value (inclusive). Keeps absurd overrides (typos, `1e15`) out. */
  readonly max: number;
}

export const QUOTA_FIELD_SPECS: { readonly [K in QuotaField]: QuotaFieldSpec } = {
  write_rps: { label: 'Write rate (memory writes)', unit: 'requests/s', min: 1, max: 10_000 },
  write_burst: { label: 'Write burst', unit: 'requests', min: 1, max: 20_000 },
  recall_rps: { label: 'Recall rate (memory reads and searches)', unit: 'requests/s', min: 1, max: 20_000 },
  recall_burst: { label: 'Recall burst', unit: 'requests', min: 1, max: 40_000 },
  admin_rps: { label: 'Admin rate (admin calls about a tenant, per operator)', unit: 'requests/s', min: 1, max: 1_000 },
  admin_burst: { label: 'Admin burst (per operator)', unit: 'requests', min: 1, max: 2_000 },
  monthly_operations: { label: 'Operations per month', unit: 'operations', min: 1, max: 10_000_000_000 },
  max_stored_nodes: { label: 'Stored memory nodes', unit: 'nodes', min: 1, max: 1_000_000_000 },
  telemetry_retention_days: { label: 'Telemetry retention', unit: 'days', min: 1, max: 3_650 },
};

/** Display names of the tiers. */
export const TIER_LABELS: { readonly [T in Tier]: string } = {
  starter: 'Starter',
  growth: 'Growth',
  enterprise: 'Enterprise',
};

/** The defaults of each tier. Every tier defines every field; larger tiers never give less. */
export const TIER_QUOTAS: { readonly [T in Tier]: QuotaProfile } = {
  starter: {
    write_rps: 10,
    write_burst: 20,
    recall_rps: 30,
    recall_burst: 60,
    admin_rps: 5,
    admin_burst: 10,
    monthly_operations: 1_000_000,
    max_stored_nodes: 100_000,
    telemetry_retention_days: 7,
  },
  growth: {
    write_rps: 50,
    write_burst: 100,
    recall_rps: 150,
    recall_burst: 300,
    admin_rps: 10,
    admin_burst: 20,
    monthly_operations: 20_000_000,
    max_stored_nodes: 2_000_000,
    telemetry_retention_days: 30,
  },
  enterprise: {
    write_rps: 250,
    write_burst: 500,
    recall_rps: 750,
    recall_burst: 1_500,
    admin_rps: 25,
    admin_burst: 50,
    monthly_operations: 250_000_000,
    max_stored_nodes: 50_000_000,
    telemetry_retention_days: 90,
  },
};

/**
 * The SLO targets of each tier: packaging data like the quotas (alerting's slo.ts applies a
 * tenant's overrides and validates them; the dashboards measure against them).
 * - availability_target: the share of authenticated memory requests that must not fail with a
 *   5xx (a 429 is the tenant's own quota at work and is not counted against availability).
 * - latency_threshold_ms / latency_target: the share of requests that must complete within the
 *   threshold (one of the telemetry histogram bounds, so it is exact).
 */
export const SLO_FIELDS = ['availability_target', 'latency_threshold_ms', 'latency_target'] as const;
export type SloField = (typeof SLO_FIELDS)[number];
export type SloTargets = { readonly [K in SloField]: number };
export type SloOverrides = Partial<SloTargets>;

export const TIER_SLOS: { readonly [T in Tier]: SloTargets } = {
  starter: { availability_target: 0.99, latency_threshold_ms: 1000, latency_target: 0.95 },
  growth: { availability_target: 0.995, latency_threshold_ms: 500, latency_target: 0.99 },
  enterprise: { availability_target: 0.999, latency_threshold_ms: 250, latency_target: 0.99 },
};

export interface EffectiveSlo {
  readonly tenant_id: string;
  readonly tier: Tier;
  readonly targets: SloTargets;
  readonly overridden: SloField[];
  readonly tier_defaults: SloTargets;
  /** Revision of the tenant's SLO stream (ETag); 0 = never overridden. */
  readonly revision: number;
}

/** Pure: a tier's targets with a tenant's overrides applied (unknown fields ignored). */
export function effectiveSlo(tenantId: string, tier: Tier, overrides: SloOverrides, revision: number): EffectiveSlo {
  const defaults = TIER_SLOS[tier];
  const targets = { ...defaults } as { [K in SloField]: number };
  const overridden: SloField[] = [];
  for (const f of SLO_FIELDS) {
    const v = overrides[f];
    if (typeof v === 'number' && Number.isFinite(v)) {
      targets[f] = v;
      overridden.push(f);
    }
  }
  return { tenant_id: tenantId, tier, targets, overridden, tier_defaults: { ...defaults }, revision };
}

export function isQuotaField(name: string): name is QuotaField {
  return (QUOTA_FIELDS as readonly string[]).includes(name);
}

/** Why a value is not allowed for a field, or null when it is. */
export function quotaValueProblem(field: QuotaField, value: unknown): string | null {
  const spec = QUOTA_FIELD_SPECS[field];
  if (typeof value !== 'number' || !Number.isFinite(value)) return 'must be a number';
  if (!Number.isInteger(value)) return 'must be a whole number';
  if (value < spec.min) return `must be at least ${spec.min}`;
  if (value > spec.max) return `must be at most ${spec.max}`;
  return null;
}

/**
 * Every problem with a proposed override set: unknown fields and values outside the bounds.
 * `prefix` names where the set came from (`body`, `overrides`).
 */
export function overrideProblems(overrides: unknown, prefix: string): FieldError[] {
  if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) return [{ field: prefix, message: 'must be an object' }];
  const errors: FieldError[] = [];
  const unknown: string[] = [];
  for (const [name, value] of Object.entries(overrides)) {
    if (!isQuotaField(name)) {
      unknown.push(name);
      continue;
    }
    const problem = quotaValueProblem(name, value);
    if (problem) errors.push({ field: `${prefix}.${name}`, message: problem });
  }
  if (unknown.length > 0) errors.push({ field: prefix, message: `unknown field(s): ${unknown.join(', ')}` });
  return errors;
}

/** The overrides with their fields in canonical (QUOTA_FIELDS) order; undefined members dropped. */
export function canonicalOverrides(overrides: QuotaOverrides): QuotaOverrides {
  const out: { [K in QuotaField]?: number } = {};
  for (const f of QUOTA_FIELDS) {
    const v = overrides[f];
    if (v !== undefined) out[f] = v;
  }
  return out;
}

export function sameOverrides(a: QuotaOverrides, b: QuotaOverrides): boolean {
  return QUOTA_FIELDS.every((f) => a[f] === b[f]);
}

export type QuotaSource = 'tier' | 'override';

/** A tenant's quota as enforced: tier defaults with its overrides applied. */
export interface EffectiveQuota {
  readonly tenant_id: string;
  readonly tier: Tier;
  /** The values in force. */
  readonly values: QuotaProfile;
  /** The fields whose value is an override, in QUOTA_FIELDS order. */
  readonly overridden: QuotaField[];
  /** Where each value comes from. */
  readonly source: { readonly [K in QuotaField]: QuotaSource };
  /** The tier's defaults, for comparison with overridden values. */
  readonly tier_defaults: QuotaProfile;
  /** Revision of the tenant's quota stream (the ETag of the quota resource); 0 = never overridden. */
  readonly revision: number;
}

/** Pure: combine a tier and an override set. Fields the code does not know (any more) are ignored. */
export function effectiveQuota(tenantId: string, tier: Tier, overrides: QuotaOverrides, revision: number): EffectiveQuota {
  const defaults = TIER_QUOTAS[tier];
  const values = { ...defaults } as { [K in QuotaField]: number };
  const source = {} as { [K in QuotaField]: QuotaSource };
  const overridden: QuotaField[] = [];
  for (const f of QUOTA_FIELDS) {
    const v = overrides[f];
    if (typeof v === 'number' && Number.isFinite(v)) {
      values[f] = v;
      source[f] = 'override';
      overridden.push(f);
    } else {
      source[f] = 'tier';
    }
  }
  return { tenant_id: tenantId, tier, values, overridden, source, tier_defaults: { ...defaults }, revision };
}

export function isTier(value: string): value is Tier {
  return (TIERS as readonly string[]).includes(value);
}
