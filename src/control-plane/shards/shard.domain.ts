import { AppError } from '../../platform/errors/app-error';
import type { Decider, DomainEvent, EventContext } from '../shared/decider';

/**
 * Shards: pure types, decisions and evolution (stream `shard-<shard_id>`). A shard is a PostgreSQL
 * database holding the data-plane tables of the tenants placed on it (docs/adr/0006). Its connection
 * URL is never here: `url_ref` names an entry of SHARD_URLS, resolved from configuration.
 * The primary database is the implicit shard `shared`: never registered, never drained or retired.
 * No I/O, no clock: whether the reference is configured, whether shards are supported and which
 * tenants are placed on the shard are facts the handler reads before deciding.
 */

export const SHARED_SHARD_ID = 'shared';
/** Shard ids (and SHARD_URLS reference names): lowercase letters, digits, `-` and `_`, 2 to 63 characters, starting with a letter. */
export const SHARD_ID_PATTERN = /^[a-z][a-z0-9_-]{1,62}$/;
export const SHARD_ID_RULE = 'a lowercase letter, then lowercase letters, digits, "-" or "_", 2 to 63 characters in all';
export const SHARD_STATES = ['active', 'draining', 'retired'] as const;
export type ShardStatus = (typeof SHARD_STATES)[number];

// ---- events (stable names: never rename a type that has been stored) ----
export type ShardRegistered = DomainEvent<'ShardRegistered', { shard_id: string; url_ref: string; capacity_note: string }>;
/** No new placements on the shard from now on; tenants already placed stay until moved. */
export type ShardDrainStarted = DomainEvent<'ShardDrainStarted', { shard_id: string; reason: string | null }>;
export type ShardRetired = DomainEvent<'ShardRetired', { shard_id: string; reason: string | null }>;
export type ShardEvent = ShardRegistered | ShardDrainStarted | ShardRetired;
export const SHARD_EVENT_TYPES: readonly ShardEvent['type'][] = ['ShardRegistered', 'ShardDrainStarted', 'ShardRetired'];

// ---- commands ----
export type RegisterShard = {
  type: 'RegisterShard';
  shard_id: string;
  url_ref: string;
  capacity_note: string;
  /** False on the embedded database (PGlite): only the shared shard exists there. */
  shards_supported: boolean;
  /** Whether SHARD_URLS names `url_ref` (checked at boot for syntax, here for presence). */
  ref_configured: boolean;
  /** Shards not retired that already use `url_ref` (read from the shard streams): one database, one shard. */
  ref_used_by: readonly string[];
};
export type DrainShard = { type: 'DrainShard'; shard_id: string; reason: string | null };
/** `placed_tenant_ids`: the tenants whose placement (their placement streams) is this shard when decided. */
export type RetireShard = { type: 'RetireShard'; shard_id: string; reason: string | null; placed_tenant_ids: readonly string[] };
export type ShardCommand = RegisterShard | DrainShard | RetireShard;

// ---- state ----
export interface Shard {
  readonly shard_id: string;
  readonly url_ref: string;
  readonly capacity_note: string;
  readonly state: ShardStatus;
  readonly registered_at: string;
  readonly updated_at: string;
  readonly updated_by: string;
}
export type ShardState = { readonly exists: false } | ({ readonly exists: true } & Shard);
export const NO_SHARD: ShardState = { exists: false };

function refuseShared(shardId: string): void {
  if (shardId === SHARED_SHARD_ID) {
    throw new AppError('shared_shard_immutable', 'the shared shard is the primary database: it cannot be registered, drained or retired', { shard_id: SHARED_SHARD_ID });
  }
}

function requireExisting(command: ShardCommand, state: ShardState): Shard {
  refuseShared(command.shard_id);
  if (!state.exists) throw new AppError('shard_not_found', `shard ${command.shard_id} does not exist`, { shard_id: command.shard_id });
  return state;
}

export function decide(command: ShardCommand, state: ShardState): ShardEvent[] {
  switch (command.type) {
    case 'RegisterShard': {
      refuseShared(command.shard_id);
      if (!command.shards_supported) {
        throw new AppError('shards_not_supported', 'the embedded database (PGlite) has only the shared shard; dedicated shards need DATABASE_URL (PostgreSQL)', { shard_id: command.shard_id });
      }
      if (state.exists) throw new AppError('shard_already_exists', `shard ${command.shard_id} already exists`, { shard_id: command.shard_id });
      if (!command.ref_configured) {
        throw new AppError('shard_ref_not_configured', `SHARD_URLS has no entry named ${command.url_ref}`, { shard_id: command.shard_id, url_ref: command.url_ref });
      }
      if (command.ref_used_by.length > 0) {
        throw new AppError('shard_ref_in_use', `the database of ${command.url_ref} is already shard ${command.ref_used_by[0]}`, { url_ref: command.url_ref, shard_ids: [...command.ref_used_by] });
      }
      return [{ type: 'ShardRegistered', data: { shard_id: command.shard_id, url_ref: command.url_ref, capacity_note: command.capacity_note } }];
    }
    case 'DrainShard': {
      const shard = requireExisting(command, state);
      if (shard.state === 'retired') throw new AppError('shard_not_active', `shard ${command.shard_id} is retired`, { shard_id: command.shard_id, state: shard.state });
      if (shard.state === 'draining') return [];
      return [{ type: 'ShardDrainStarted', data: { shard_id: command.shard_id, reason: command.reason } }];
    }
    case 'RetireShard': {
      const shard = requireExisting(command, state);
      if (shard.state === 'retired') return [];
      if (command.placed_tenant_ids.length > 0) {
        const tenants = [...command.placed_tenant_ids].sort();
        throw new AppError('shard_in_use', `shard ${command.shard_id} still holds ${tenants.length} tenant(s); move them first`, { shard_id: command.shard_id, tenant_ids: tenants.slice(0, 20) });
      }
      return [{ type: 'ShardRetired', data: { shard_id: command.shard_id, reason: command.reason } }];
    }
  }
}

export function evolve(state: ShardState, event: ShardEvent, ctx: EventContext): ShardState {
  switch (event.type) {
    case 'ShardRegistered':
      return {
        exists: true,
        shard_id: event.data.shard_id,
        url_ref: event.data.url_ref,
        capacity_note: event.data.capacity_note,
        state: 'active',
        registered_at: ctx.occurredAt,
        updated_at: ctx.occurredAt,
        updated_by: ctx.actorId,
      };
    case 'ShardDrainStarted':
      return state.exists ? { ...state, state: 'draining', updated_at: ctx.occurredAt, updated_by: ctx.actorId } : state;
    case 'ShardRetired':
      return state.exists ? { ...state, state: 'retired', updated_at: ctx.occurredAt, updated_by: ctx.actorId } : state;
  }
}

export const shardDecider: Decider<ShardCommand, ShardEvent, ShardState> = { initialState: NO_SHARD, decide, evolve };

/**
 * The shard roster: the consistency boundary between placements and a shard's availability, and
 * of one database per shard. Every registration, placement change, drain and retirement records ShardRosterChanged on one platform
 * stream with that stream's expected revision, in the transaction of its own events, so a tenant
 * can never be placed on a shard that a concurrent command drains or retires (nor a shard retired
 * while a placement onto it commits, nor two shards registered on one reference): the second of
 * two such commands is decided again.
 */
export type ShardRosterChanged = DomainEvent<'ShardRosterChanged', { shard_id: string; change: 'registered' | 'tenant_placed' | 'draining' | 'retired'; tenant_id: string | null }>;
export const SHARD_ROSTER_EVENT_TYPES: readonly ShardRosterChanged['type'][] = ['ShardRosterChanged'];

/** Pure: what a decided shard command records on the roster (every registration, drain and retirement). */
export function shardRosterRecord(_command: ShardCommand, _state: ShardState, events: readonly ShardEvent[]): ShardRosterChanged[] {
  return events.flatMap((e): ShardRosterChanged[] =>
    e.type === 'ShardRegistered'
      ? [{ type: 'ShardRosterChanged', data: { shard_id: e.data.shard_id, change: 'registered', tenant_id: null } }]
      : e.type === 'ShardDrainStarted'
      ? [{ type: 'ShardRosterChanged', data: { shard_id: e.data.shard_id, change: 'draining', tenant_id: null } }]
      : e.type === 'ShardRetired'
        ? [{ type: 'ShardRosterChanged', data: { shard_id: e.data.shard_id, change: 'retired', tenant_id: null } }]
        : [],
  );
}
