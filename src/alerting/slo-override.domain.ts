import { AppError } from '../platform/errors/app-error';
import type { Decider, DomainEvent, EventContext } from '../control-plane/shared/decider';
import { canonicalSloOverrides, SLO_FIELDS, sloOverrideProblems, type SloOverrides } from './slo';

/**
 * A tenant's SLO overrides (stream `slo-<tenant_id>`): the tier targets live in slo.ts; this
 * aggregate records which targets a tenant has overridden and to what. Pure.
 */
export type TenantSloOverridesSet = DomainEvent<'TenantSloOverridesSet', { tenant_id: string; overrides: SloOverrides }>;
export type TenantSloOverridesCleared = DomainEvent<'TenantSloOverridesCleared', { tenant_id: string }>;
export type SloEvent = TenantSloOverridesSet | TenantSloOverridesCleared;
export const SLO_EVENT_TYPES: readonly SloEvent['type'][] = ['TenantSloOverridesSet', 'TenantSloOverridesCleared'];

export type SetTenantSloOverrides = { type: 'SetTenantSloOverrides'; tenant_id: string; tenant_exists: boolean; overrides: SloOverrides };
export type ClearTenantSloOverrides = { type: 'ClearTenantSloOverrides'; tenant_id: string; tenant_exists: boolean };
export type SloCommand = SetTenantSloOverrides | ClearTenantSloOverrides;

export interface TenantSlo {
  readonly tenant_id: string;
  readonly overrides: SloOverrides;
  readonly updated_at: string;
  readonly updated_by: string;
}
export type SloState = { readonly exists: false } | ({ readonly exists: true } & TenantSlo);
export const NO_SLO: SloState = { exists: false };
export const sloOverridesOf = (s: SloState): SloOverrides => (s.exists ? s.overrides : {});

const same = (a: SloOverrides, b: SloOverrides): boolean => SLO_FIELDS.every((f) => a[f] === b[f]);

export function decide(command: SloCommand, state: SloState): SloEvent[] {
  if (!command.tenant_exists) throw new AppError('tenant_not_found', `tenant ${command.tenant_id} does not exist`, { tenant_id: command.tenant_id });
  switch (command.type) {
    case 'SetTenantSloOverrides': {
      const errors = sloOverrideProblems(command.overrides, 'overrides');
      if (errors.length > 0) throw new AppError('validation_failed', `${errors.length} invalid field(s): ${errors.map((e) => e.field).join(', ')}`, { errors });
      const next = canonicalSloOverrides(command.overrides);
      if (same(next, sloOverridesOf(state))) return [];
      if (Object.keys(next).length === 0) return [{ type: 'TenantSloOverridesCleared', data: { tenant_id: command.tenant_id } }];
      return [{ type: 'TenantSloOverridesSet', data: { tenant_id: command.tenant_id, overrides: next } }];
    }
    case 'ClearTenantSloOverrides':
      if (Object.keys(sloOverridesOf(state)).length === 0) return [];
      return [{ type: 'TenantSloOverridesCleared', data: { tenant_id: command.tenant_id } }];
  }
}

export function evolve(_state: SloState, event: SloEvent, ctx: EventContext): SloState {
  switch (event.type) {
    case 'TenantSloOverridesSet':
      return { exists: true, tenant_id: event.data.tenant_id, overrides: canonicalSloOverrides(event.data.overrides), updated_at: ctx.occurredAt, updated_by: ctx.actorId };
    case 'TenantSloOverridesCleared':
      return { exists: true, tenant_id: event.data.tenant_id, overrides: {}, updated_at: ctx.occurredAt, updated_by: ctx.actorId };
  }
}

export const sloDecider: Decider<SloCommand, SloEvent, SloState> = { initialState: NO_SLO, decide, evolve };
export const sloStreamId = (tenantId: string): string => `slo-${tenantId}`;
