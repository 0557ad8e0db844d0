import { AppError } from '../../platform/errors/app-error';
import type { Decider, DomainEvent, EventContext } from '../shared/decider';
import { canonicalOverrides, overrideProblems, type QuotaOverrides, sameOverrides } from './tiers';

/**
 * A tenant's quota overrides: pure types, decisions and evolution (stream `quota-<tenant_id>`).
 * The tier defaults live in tiers.ts; this aggregate only records which fields a tenant has
 * overridden and to what. No I/O, no clock: time and actor arrive in the event context.
 */

// ---- events (stable names: never rename a type that has been stored) ----
/** The full new override set (fields absent = not overridden); never empty. */
export type TenantQuotaOverridesSet = DomainEvent<'TenantQuotaOverridesSet', { tenant_id: string; overrides: QuotaOverrides }>;
export type TenantQuotaOverridesCleared = DomainEvent<'TenantQuotaOverridesCleared', { tenant_id: string }>;
export type QuotaEvent = TenantQuotaOverridesSet | TenantQuotaOverridesCleared;
export const QUOTA_EVENT_TYPES: readonly QuotaEvent['type'][] = ['TenantQuotaOverridesSet', 'TenantQuotaOverridesCleared'];

// ---- commands ----
/**
 * `tenant_exists` is what the command side knows of the tenant (read from its stream) when the
 * command is decided: overrides for a tenant that does not exist are refused.
 */
export type SetTenantQuotaOverrides = { type: 'SetTenantQuotaOverrides'; tenant_id: string; tenant_exists: boolean; overrides: QuotaOverrides };
export type ClearTenantQuotaOverrides = { type: 'ClearTenantQuotaOverrides'; tenant_id: string; tenant_exists: boolean };
export type QuotaCommand = SetTenantQuotaOverrides | ClearTenantQuotaOverrides;

// ---- state ----
export interface TenantQuota {
  readonly tenant_id: string;
  /** The overridden fields only; `{}` after a clear. */
  readonly overrides: QuotaOverrides;
  readonly updated_at: string;
  readonly updated_by: string;
}
export type QuotaState = { readonly exists: false } | ({ readonly exists: true } & TenantQuota);
export const NO_QUOTA: QuotaState = { exists: false };

export const overridesOf = (state: QuotaState): QuotaOverrides => (state.exists ? state.overrides : {});

function requireTenant(command: QuotaCommand): void {
  if (!command.tenant_exists) throw new AppError('tenant_not_found', `tenant ${command.tenant_id} does not exist`, { tenant_id: command.tenant_id });
}

export function decide(command: QuotaCommand, state: QuotaState): QuotaEvent[] {
  switch (command.type) {
    case 'SetTenantQuotaOverrides': {
      requireTenant(command);
      // The same bounds the API checks; a command that slipped past the edge still writes nothing.
      const errors = overrideProblems(command.overrides, 'overrides');
      if (errors.length > 0) {
        throw new AppError('validation_failed', `${errors.length} invalid field(s): ${errors.map((e) => e.field).join(', ')}`, { errors });
      }
      const next = canonicalOverrides(command.overrides);
      const current = overridesOf(state);
      if (sameOverrides(next, current)) return [];
      // Replacing the set with an empty one is a clear: TenantQuotaOverridesSet always carries a field.
      if (Object.keys(next).length === 0) return [{ type: 'TenantQuotaOverridesCleared', data: { tenant_id: command.tenant_id } }];
      return [{ type: 'TenantQuotaOverridesSet', data: { tenant_id: command.tenant_id, overrides: next } }];
    }
    case 'ClearTenantQuotaOverrides': {
      requireTenant(command);
      if (Object.keys(overridesOf(state)).length === 0) return [];
      return [{ type: 'TenantQuotaOverridesCleared', data: { tenant_id: command.tenant_id } }];
    }
  }
}

export function evolve(_state: QuotaState, event: QuotaEvent, ctx: EventContext): QuotaState {
  switch (event.type) {
    case 'TenantQuotaOverridesSet':
      return { exists: true, tenant_id: event.data.tenant_id, overrides: canonicalOverrides(event.data.overrides), updated_at: ctx.occurredAt, updated_by: ctx.actorId };
    case 'TenantQuotaOverridesCleared':
      return { exists: true, tenant_id: event.data.tenant_id, overrides: {}, updated_at: ctx.occurredAt, updated_by: ctx.actorId };
  }
}

export const quotaDecider: Decider<QuotaCommand, QuotaEvent, QuotaState> = { initialState: NO_QUOTA, decide, evolve };
