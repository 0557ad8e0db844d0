import { AppError } from '../../platform/errors/app-error';
import { canonicalJson } from '../../platform/event-store/canonical-json';
import type { Decider, DomainEvent, EventContext } from '../shared/decider';

/** Tenants: pure types, decisions and evolution. No I/O, no clock: time arrives in the event context. */

export const TIERS = ['starter', 'growth', 'enterprise'] as const;
export type Tier = (typeof TIERS)[number];
export type TenantStatus = 'active' | 'suspended';
export type Metadata = Readonly<Record<string, unknown>>;

// ---- events (stable names: never rename a type that has been stored) ----
export type TenantCreated = DomainEvent<'TenantCreated', { tenant_id: string; display_name: string; tier: Tier; metadata: Metadata }>;
export type TenantUpdated = DomainEvent<'TenantUpdated', { tenant_id: string; display_name?: string; metadata?: Metadata }>;
export type TenantSuspended = DomainEvent<'TenantSuspended', { tenant_id: string; reason: string | null }>;
export type TenantReactivated = DomainEvent<'TenantReactivated', { tenant_id: string; reason: string | null }>;
export type TenantTierChanged = DomainEvent<'TenantTierChanged', { tenant_id: string; from: Tier; to: Tier }>;
export type TenantEvent = TenantCreated | TenantUpdated | TenantSuspended | TenantReactivated | TenantTierChanged;
export const TENANT_EVENT_TYPES: readonly TenantEvent['type'][] = ['TenantCreated', 'TenantUpdated', 'TenantSuspended', 'TenantReactivated', 'TenantTierChanged'];

// ---- commands ----
export type CreateTenant = { type: 'CreateTenant'; tenant_id: string; display_name: string; tier: Tier; metadata: Metadata };
export type UpdateTenant = { type: 'UpdateTenant'; tenant_id: string; display_name?: string; metadata?: Metadata };
export type SuspendTenant = { type: 'SuspendTenant'; tenant_id: string; reason: string | null };
export type ReactivateTenant = { type: 'ReactivateTenant'; tenant_id: string; reason: string | null };
export type ChangeTenantTier = { type: 'ChangeTenantTier'; tenant_id: string; tier: Tier };
export type TenantCommand = CreateTenant | UpdateTenant | SuspendTenant | ReactivateTenant | ChangeTenantTier;

// ---- state ----
export interface Tenant {
  readonly tenant_id: string;
  readonly display_name: string;
  readonly tier: Tier;
  readonly metadata: Metadata;
  readonly status: TenantStatus;
  readonly created_at: string;
  readonly updated_at: string;
  readonly suspended_at: string | null;
  readonly suspension_reason: string | null;
  readonly created_by: string;
}
export type TenantState = { readonly exists: false } | ({ readonly exists: true } & Tenant);
export const NO_TENANT: TenantState = { exists: false };

function existing(state: TenantState, tenantId: string): Tenant {
  if (!state.exists) throw new AppError('tenant_not_found', `tenant ${tenantId} does not exist`, { tenant_id: tenantId });
  return state;
}

// Key order is not meaning: jsonb does not keep it, so compare canonical forms.
const sameJson = (a: unknown, b: unknown): boolean => canonicalJson(a) === canonicalJson(b);

export function decide(command: TenantCommand, state: TenantState): TenantEvent[] {
  switch (command.type) {
    case 'CreateTenant': {
      if (state.exists) throw new AppError('tenant_already_exists', `tenant ${command.tenant_id} already exists`, { tenant_id: command.tenant_id });
      return [
        {
          type: 'TenantCreated',
          data: { tenant_id: command.tenant_id, display_name: command.display_name, tier: command.tier, metadata: command.metadata },
        },
      ];
    }
    case 'UpdateTenant': {
      const t = existing(state, command.tenant_id);
      const data: TenantUpdated['data'] = { tenant_id: t.tenant_id };
      let changed = false;
      if (command.display_name !== undefined && command.display_name !== t.display_name) {
        data.display_name = command.display_name;
        changed = true;
      }
      if (command.metadata !== undefined && !sameJson(command.metadata, t.metadata)) {
        data.metadata = command.metadata;
        changed = true;
      }
      // Nothing to change: no event (the response still shows the current tenant).
      return changed ? [{ type: 'TenantUpdated', data }] : [];
    }
    case 'SuspendTenant': {
      const t = existing(state, command.tenant_id);
      if (t.status === 'suspended') throw new AppError('tenant_already_suspended', `tenant ${t.tenant_id} is already suspended`, { tenant_id: t.tenant_id });
      return [{ type: 'TenantSuspended', data: { tenant_id: t.tenant_id, reason: command.reason } }];
    }
    case 'ReactivateTenant': {
      const t = existing(state, command.tenant_id);
      if (t.status !== 'suspended') throw new AppError('tenant_not_suspended', `tenant ${t.tenant_id} is not suspended`, { tenant_id: t.tenant_id });
      return [{ type: 'TenantReactivated', data: { tenant_id: t.tenant_id, reason: command.reason } }];
    }
    case 'ChangeTenantTier': {
      // A suspended tenant may change tier too (e.g. a downgrade while an invoice is disputed).
      const t = existing(state, command.tenant_id);
      if (t.tier === command.tier) return [];
      return [{ type: 'TenantTierChanged', data: { tenant_id: t.tenant_id, from: t.tier, to: command.tier } }];
    }
  }
}

export function evolve(state: TenantState, event: TenantEvent, ctx: EventContext): TenantState {
  switch (event.type) {
    case 'TenantCreated':
      return {
        exists: true,
        tenant_id: event.data.tenant_id,
        display_name: event.data.display_name,
        tier: event.data.tier,
        metadata: event.data.metadata,
        status: 'active',
        created_at: ctx.occurredAt,
        updated_at: ctx.occurredAt,
        suspended_at: null,
        suspension_reason: null,
        created_by: ctx.actorId,
      };
    case 'TenantUpdated': {
      if (!state.exists) return state;
      return {
        ...state,
        ...(event.data.display_name !== undefined ? { display_name: event.data.display_name } : {}),
        ...(event.data.metadata !== undefined ? { metadata: event.data.metadata } : {}),
        updated_at: ctx.occurredAt,
      };
    }
    case 'TenantSuspended':
      if (!state.exists) return state;
      return { ...state, status: 'suspended', suspended_at: ctx.occurredAt, suspension_reason: event.data.reason, updated_at: ctx.occurredAt };
    case 'TenantReactivated':
      if (!state.exists) return state;
      return { ...state, status: 'active', suspended_at: null, suspension_reason: null, updated_at: ctx.occurredAt };
    case 'TenantTierChanged':
      if (!state.exists) return state;
      return { ...state, tier: event.data.to, updated_at: ctx.occurredAt };
  }
}

export const tenantDecider: Decider<TenantCommand, TenantEvent, TenantState> = { initialState: NO_TENANT, decide, evolve };
