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
/**
 * A perf tenant's data was removed (rows per table in `removed`) and the tenant closed for good
 * (suspended, never reactivated). A repeated teardown that still finds rows (a late telemetry
 * flush) records another one; one that finds nothing records nothing.
 */
export type PerfTenantTornDown = DomainEvent<'PerfTenantTornDown', { tenant_id: string; reason: string | null; removed: RemovedRows }>;
export type TenantEvent = TenantCreated | TenantUpdated | TenantSuspended | TenantReactivated | TenantTierChanged | PerfTenantTornDown;
export const TENANT_EVENT_TYPES: readonly TenantEvent['type'][] = ['TenantCreated', 'TenantUpdated', 'TenantSuspended', 'TenantReactivated', 'TenantTierChanged', 'PerfTenantTornDown'];

// ---- perf tenants (operating rule: perf and stress runs use their own tenant, never a customer's) ----
/** A tenant is "created for perf" when its id starts with this prefix AND TenantCreated carried PERF_MARKER. */
export const PERF_TENANT_PREFIX = 'perf-';
/** The metadata marker a perf tenant is created with; fixed at creation. */
export const PERF_MARKER = { purpose: 'perf' } as const;
/** Metadata key set by PerfTenantTornDown (reserved: clients may not set it). */
export const TORN_DOWN_KEY = 'perf_torn_down_at';
/** Rows removed by a teardown, per table. */
export type RemovedRows = Readonly<Record<string, number>>;

/** Was this tenant created for perf runs? (id prefix and the creation-time marker; pure.) */
export function isPerfTenant(t: { readonly tenant_id: string; readonly metadata: Metadata }): boolean {
  return t.tenant_id.startsWith(PERF_TENANT_PREFIX) && t.metadata.purpose === PERF_MARKER.purpose;
}

/** Has this tenant been torn down (closed for good)? */
export function isTornDown(t: { readonly status: TenantStatus; readonly metadata: Metadata }): boolean {
  return t.status === 'suspended' && typeof t.metadata[TORN_DOWN_KEY] === 'string';
}

/** Why this state may not be torn down as a perf tenant, or null when it may. */
export function perfTeardownRefusal(state: TenantState, tenantId: string): AppError | null {
  if (!state.exists) return new AppError('tenant_not_found', `tenant ${tenantId} does not exist`, { tenant_id: tenantId });
  if (!isPerfTenant(state)) {
    return new AppError(
      'tenant_not_perf',
      `tenant ${tenantId} was not created for perf runs (its id must start with "${PERF_TENANT_PREFIX}" and it must have been created with metadata {"purpose":"perf"}); only such tenants can be torn down`,
      { tenant_id: tenantId },
    );
  }
  return null;
}

// ---- commands ----
export type CreateTenant = { type: 'CreateTenant'; tenant_id: string; display_name: string; tier: Tier; metadata: Metadata };
export type UpdateTenant = { type: 'UpdateTenant'; tenant_id: string; display_name?: string; metadata?: Metadata };
export type SuspendTenant = { type: 'SuspendTenant'; tenant_id: string; reason: string | null };
export type ReactivateTenant = { type: 'ReactivateTenant'; tenant_id: string; reason: string | null };
export type ChangeTenantTier = { type: 'ChangeTenantTier'; tenant_id: string; tier: Tier };
/** `removed` is what the handler deleted in the same transaction as the append (counted, not decided). */
export type TearDownPerfTenant = { type: 'TearDownPerfTenant'; tenant_id: string; reason: string | null; removed: RemovedRows };
export type TenantCommand = CreateTenant | UpdateTenant | SuspendTenant | ReactivateTenant | ChangeTenantTier | TearDownPerfTenant;

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

/** A tenant that may still change: not torn down. */
function open(state: TenantState, tenantId: string): Tenant {
  const t = existing(state, tenantId);
  if (isTornDown(t)) throw new AppError('tenant_torn_down', `tenant ${tenantId} was torn down after a perf run and cannot change any more`, { tenant_id: tenantId });
  return t;
}

function refuseReservedMetadata(metadata: Metadata | undefined): void {
  if (metadata !== undefined && TORN_DOWN_KEY in metadata) {
    throw new AppError('validation_failed', `metadata.${TORN_DOWN_KEY} is reserved`, { errors: [{ field: `body.metadata.${TORN_DOWN_KEY}`, message: 'reserved: set only by a perf teardown' }] });
  }
}

// Key order is not meaning: jsonb does not keep it, so compare canonical forms.
const sameJson = (a: unknown, b: unknown): boolean => canonicalJson(a) === canonicalJson(b);

export function decide(command: TenantCommand, state: TenantState): TenantEvent[] {
  switch (command.type) {
    case 'CreateTenant': {
      if (state.exists) throw new AppError('tenant_already_exists', `tenant ${command.tenant_id} already exists`, { tenant_id: command.tenant_id });
      refuseReservedMetadata(command.metadata);
      return [
        {
          type: 'TenantCreated',
          data: { tenant_id: command.tenant_id, display_name: command.display_name, tier: command.tier, metadata: command.metadata },
        },
      ];
    }
    case 'UpdateTenant': {
      const t = open(state, command.tenant_id);
      refuseReservedMetadata(command.metadata);
      // The perf marker is fixed at creation: an update can neither make a tenant a perf tenant
      // (which would let a teardown delete its data) nor remove the marker.
      if (command.metadata !== undefined && isPerfTenant(t) !== isPerfTenant({ tenant_id: t.tenant_id, metadata: command.metadata })) {
        throw new AppError('validation_failed', 'metadata.purpose = "perf" is fixed at creation (perf tenants only)', {
          errors: [{ field: 'body.metadata.purpose', message: 'the perf marker cannot be added or removed after creation' }],
        });
      }
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
      const t = open(state, command.tenant_id);
      if (t.status === 'suspended') throw new AppError('tenant_already_suspended', `tenant ${t.tenant_id} is already suspended`, { tenant_id: t.tenant_id });
      return [{ type: 'TenantSuspended', data: { tenant_id: t.tenant_id, reason: command.reason } }];
    }
    case 'ReactivateTenant': {
      const t = open(state, command.tenant_id);
      if (t.status !== 'suspended') throw new AppError('tenant_not_suspended', `tenant ${t.tenant_id} is not suspended`, { tenant_id: t.tenant_id });
      return [{ type: 'TenantReactivated', data: { tenant_id: t.tenant_id, reason: command.reason } }];
    }
    case 'ChangeTenantTier': {
      // A suspended tenant may change tier too (e.g. a downgrade while an invoice is disputed).
      const t = open(state, command.tenant_id);
      if (t.tier === command.tier) return [];
      return [{ type: 'TenantTierChanged', data: { tenant_id: t.tenant_id, from: t.tier, to: command.tier } }];
    }
    case 'TearDownPerfTenant': {
      const refusal = perfTeardownRefusal(state, command.tenant_id);
      if (refusal) throw refusal;
      const t = existing(state, command.tenant_id);
      // A retry after a completed teardown that found nothing left records nothing.
      const total = Object.values(command.removed).reduce((a, b) => a + b, 0);
      if (isTornDown(t) && total === 0) return [];
      return [{ type: 'PerfTenantTornDown', data: { tenant_id: t.tenant_id, reason: command.reason, removed: command.removed } }];
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
    case 'PerfTenantTornDown': {
      if (!state.exists) return state;
      // The first teardown's time stays: later sweeps only move updated_at.
      const first = isTornDown(state);
      return {
        ...state,
        status: 'suspended',
        suspended_at: first ? state.suspended_at : ctx.occurredAt,
        suspension_reason: first ? state.suspension_reason : `perf teardown${event.data.reason ? `: ${event.data.reason}` : ''}`,
        metadata: first ? state.metadata : { ...state.metadata, [TORN_DOWN_KEY]: ctx.occurredAt },
        updated_at: ctx.occurredAt,
      };
    }
  }
}

export const tenantDecider: Decider<TenantCommand, TenantEvent, TenantState> = { initialState: NO_TENANT, decide, evolve };
