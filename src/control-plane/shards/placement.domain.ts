import { AppError } from '../../platform/errors/app-error';
import type { Decider, DomainEvent, EventContext } from '../shared/decider';
import { SHARED_SHARD_ID, type ShardRosterChanged, type ShardState } from './shard.domain';

/**
 * A tenant's placement: which shard serves its data plane, and the generation of that placement
 * (stream `placement-<tenant_id>`, docs/adr/0006). A tenant without events is on `shared` at
 * generation 1. Every change raises the generation by one; the shard's fence row (tenant_fences)
 * holds the generation it serves, so a writer with a stale placement is refused there.
 * Only the migration saga changes a placement (it moves the data first): no API changes one alone.
 */

export interface PlacementRef {
  readonly shard_id: string;
  readonly generation: number;
}
export const INITIAL_PLACEMENT: PlacementRef = { shard_id: SHARED_SHARD_ID, generation: 1 };

// ---- events ----
export type TenantPlacementChanged = DomainEvent<'TenantPlacementChanged', { tenant_id: string; shard_id: string; generation: number; previous: PlacementRef; reason: string }>;
export type PlacementEvent = TenantPlacementChanged;
export const PLACEMENT_EVENT_TYPES: readonly PlacementEvent['type'][] = ['TenantPlacementChanged'];

// ---- commands ----
/**
 * `tenant_exists` and `target` are read from the tenant's and the target shard's streams when the
 * command is decided (`target` is null for the shared shard, which is always available).
 * `expected_generation`, when given, must be the current one: the saga's guard against a
 * placement that changed under it.
 */
export type ChangeTenantPlacement = {
  type: 'ChangeTenantPlacement';
  tenant_id: string;
  tenant_exists: boolean;
  shard_id: string;
  target: ShardState | null;
  expected_generation: number | null;
  reason: string;
};
export type PlacementCommand = ChangeTenantPlacement;

// ---- state ----
export interface TenantPlacement extends PlacementRef {
  readonly tenant_id: string;
  readonly previous: PlacementRef;
  readonly reason: string;
  readonly updated_at: string;
  readonly updated_by: string;
}
/** `exists: false` = never moved: on the shared shard at generation 1. */
export type PlacementState = { readonly exists: false } | ({ readonly exists: true } & TenantPlacement);
export const NO_PLACEMENT: PlacementState = { exists: false };

export const placementOf = (state: PlacementState): PlacementRef => (state.exists ? { shard_id: state.shard_id, generation: state.generation } : INITIAL_PLACEMENT);

export function decide(command: PlacementCommand, state: PlacementState): PlacementEvent[] {
  if (!command.tenant_exists) throw new AppError('tenant_not_found', `tenant ${command.tenant_id} does not exist`, { tenant_id: command.tenant_id });
  const current = placementOf(state);
  if (command.expected_generation !== null && command.expected_generation !== current.generation) {
    throw new AppError('concurrency_conflict', `the placement of ${command.tenant_id} is at generation ${current.generation}, not ${command.expected_generation}`, {
      tenant_id: command.tenant_id,
      current_generation: current.generation,
    });
  }
  if (command.shard_id !== SHARED_SHARD_ID) {
    const target = command.target;
    if (!target?.exists) throw new AppError('shard_not_found', `shard ${command.shard_id} does not exist`, { shard_id: command.shard_id });
    if (target.state !== 'active') {
      throw new AppError('shard_not_active', `shard ${command.shard_id} is ${target.state}: it takes no new placements`, { shard_id: command.shard_id, state: target.state });
    }
  }
  if (command.shard_id === current.shard_id) return [];
  return [{ type: 'TenantPlacementChanged', data: { tenant_id: command.tenant_id, shard_id: command.shard_id, generation: current.generation + 1, previous: current, reason: command.reason } }];
}

export function evolve(state: PlacementState, event: PlacementEvent, ctx: EventContext): PlacementState {
  const previous = placementOf(state);
  // Generations only ever rise: an event that does not raise it does not apply.
  if (event.data.generation <= previous.generation) return state;
  return {
    exists: true,
    tenant_id: event.data.tenant_id,
    shard_id: event.data.shard_id,
    generation: event.data.generation,
    previous: event.data.previous,
    reason: event.data.reason,
    updated_at: ctx.occurredAt,
    updated_by: ctx.actorId,
  };
}

export const placementDecider: Decider<PlacementCommand, PlacementEvent, PlacementState> = { initialState: NO_PLACEMENT, decide, evolve };

/** Pure: a placement change is recorded on the shard roster (the boundary shared with drain and retire). */
export function placementRosterRecord(_command: PlacementCommand, _state: PlacementState, events: readonly PlacementEvent[]): ShardRosterChanged[] {
  return events.map((e) => ({ type: 'ShardRosterChanged', data: { shard_id: e.data.shard_id, change: 'tenant_placed', tenant_id: e.data.tenant_id } }));
}
