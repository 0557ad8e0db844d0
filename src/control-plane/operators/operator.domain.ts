import { AppError } from '../../platform/errors/app-error';
import type { Decider, DomainEvent, EventContext } from '../shared/decider';

/**
 * Operators: the people and automations allowed to call the admin API. Each has its own credential
 * (stored only as an HMAC with the server pepper) and a role. Names are labels, not personal data.
 * A token rotation keeps the previous token valid for a grace period, like API keys.
 */
export const OPERATOR_ROLES = ['owner', 'operator', 'auditor'] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];
export type OperatorStatus = 'active' | 'disabled';

export type OperatorCreated = DomainEvent<
  'OperatorCreated',
  { operator_id: string; display_name: string; role: OperatorRole; token_hash: string; token_hint: string; bootstrap: boolean }
>;
export type OperatorUpdated = DomainEvent<'OperatorUpdated', { operator_id: string; display_name: string }>;
export type OperatorRoleChanged = DomainEvent<'OperatorRoleChanged', { operator_id: string; from: OperatorRole; to: OperatorRole }>;
export type OperatorTokenRotated = DomainEvent<
  'OperatorTokenRotated',
  { operator_id: string; token_hash: string; token_hint: string; previous_token_valid_until: string | null }
>;
export type OperatorDisabled = DomainEvent<'OperatorDisabled', { operator_id: string; reason: string | null }>;
export type OperatorEvent = OperatorCreated | OperatorUpdated | OperatorRoleChanged | OperatorTokenRotated | OperatorDisabled;
export const OPERATOR_EVENT_TYPES: readonly OperatorEvent['type'][] = [
  'OperatorCreated',
  'OperatorUpdated',
  'OperatorRoleChanged',
  'OperatorTokenRotated',
  'OperatorDisabled',
];

export type CreateOperator = {
  type: 'CreateOperator';
  operator_id: string;
  display_name: string;
  role: OperatorRole;
  token_hash: string;
  token_hint: string;
  bootstrap: boolean;
};
/**
 * `active_owner_ids`: the operators that are active owners, folded from their streams (never from
 * a read model) after the owner roster's revision was read; see ownerRosterRecord.
 */
export type UpdateOperator = { type: 'UpdateOperator'; operator_id: string; display_name?: string; role?: OperatorRole; active_owner_ids: readonly string[] };
export type RotateOperatorToken = { type: 'RotateOperatorToken'; operator_id: string; token_hash: string; token_hint: string; grace_seconds: number; now: string };
export type DisableOperator = { type: 'DisableOperator'; operator_id: string; reason: string | null; active_owner_ids: readonly string[] };
export type OperatorCommand = CreateOperator | UpdateOperator | RotateOperatorToken | DisableOperator;

export interface Operator {
  readonly operator_id: string;
  readonly display_name: string;
  readonly role: OperatorRole;
  readonly status: OperatorStatus;
  readonly token_hash: string;
  readonly token_hint: string;
  /** After a rotation, the previous token is accepted until this instant. */
  readonly previous_token_hash: string | null;
  readonly previous_token_valid_until: string | null;
  readonly bootstrap: boolean;
  readonly disabled_at: string | null;
  readonly created_at: string;
  readonly updated_at: string;
  readonly created_by: string;
}
export type OperatorState = { readonly exists: false } | ({ readonly exists: true } & Operator);

function existing(state: OperatorState, id: string): Operator {
  if (!state.exists) throw new AppError('operator_not_found', `operator ${id} does not exist`, { operator_id: id });
  if (state.status === 'disabled') throw new AppError('operator_disabled', `operator ${id} is disabled`, { operator_id: id });
  return state;
}

/** The active owners that remain if this operator stops being one. */
const otherOwners = (op: Operator, activeOwnerIds: readonly string[]): string[] => activeOwnerIds.filter((id) => id !== op.operator_id);

function keepAnOwner(op: Operator, activeOwnerIds: readonly string[]): void {
  if (op.role === 'owner' && otherOwners(op, activeOwnerIds).length === 0) {
    throw new AppError('last_owner', 'this is the last active owner: create or promote another owner first', { operator_id: op.operator_id });
  }
}

export function decide(command: OperatorCommand, state: OperatorState): OperatorEvent[] {
  switch (command.type) {
    case 'CreateOperator': {
      if (state.exists) throw new AppError('operator_already_exists', `operator ${command.operator_id} already exists`, { operator_id: command.operator_id });
      const { type: _type, ...data } = command;
      return [{ type: 'OperatorCreated', data }];
    }
    case 'UpdateOperator': {
      const op = existing(state, command.operator_id);
      const events: OperatorEvent[] = [];
      if (command.display_name !== undefined && command.display_name !== op.display_name) {
        events.push({ type: 'OperatorUpdated', data: { operator_id: op.operator_id, display_name: command.display_name } });
      }
      if (command.role !== undefined && command.role !== op.role) {
        if (command.role !== 'owner') keepAnOwner(op, command.active_owner_ids);
        events.push({ type: 'OperatorRoleChanged', data: { operator_id: op.operator_id, from: op.role, to: command.role } });
      }
      return events;
    }
    case 'RotateOperatorToken': {
      const op = existing(state, command.operator_id);
      const until = command.grace_seconds > 0 ? new Date(Date.parse(command.now) + command.grace_seconds * 1000).toISOString() : null;
      return [{ type: 'OperatorTokenRotated', data: { operator_id: op.operator_id, token_hash: command.token_hash, token_hint: command.token_hint, previous_token_valid_until: until } }];
    }
    case 'DisableOperator': {
      const op = existing(state, command.operator_id);
      keepAnOwner(op, command.active_owner_ids);
      return [{ type: 'OperatorDisabled', data: { operator_id: op.operator_id, reason: command.reason } }];
    }
  }
}

export function evolve(state: OperatorState, event: OperatorEvent, ctx: EventContext): OperatorState {
  switch (event.type) {
    case 'OperatorCreated':
      return {
        exists: true,
        operator_id: event.data.operator_id,
        display_name: event.data.display_name,
        role: event.data.role,
        status: 'active',
        token_hash: event.data.token_hash,
        token_hint: event.data.token_hint,
        previous_token_hash: null,
        previous_token_valid_until: null,
        bootstrap: event.data.bootstrap,
        disabled_at: null,
        created_at: ctx.occurredAt,
        updated_at: ctx.occurredAt,
        created_by: ctx.actorId,
      };
    case 'OperatorUpdated':
      return state.exists ? { ...state, display_name: event.data.display_name, updated_at: ctx.occurredAt } : state;
    case 'OperatorRoleChanged':
      return state.exists ? { ...state, role: event.data.to, updated_at: ctx.occurredAt } : state;
    case 'OperatorTokenRotated':
      return state.exists
        ? {
            ...state,
            previous_token_hash: event.data.previous_token_valid_until ? state.token_hash : null,
            previous_token_valid_until: event.data.previous_token_valid_until,
            token_hash: event.data.token_hash,
            token_hint: event.data.token_hint,
            updated_at: ctx.occurredAt,
          }
        : state;
    case 'OperatorDisabled':
      return state.exists ? { ...state, status: 'disabled', disabled_at: ctx.occurredAt, updated_at: ctx.occurredAt } : state;
  }
}

/**
 * The owner roster: the consistency boundary of the last-active-owner rule. Every command that
 * takes an owner seat away (disabling or demoting an active owner) records OwnerSeatReleased on
 * one platform stream, with that stream's expected revision, in the transaction of its own
 * events: two such commands can never both be decided on the same set of owners.
 */
export type OwnerSeatReleased = DomainEvent<
  'OwnerSeatReleased',
  { operator_id: string; change: 'disabled' | 'demoted'; remaining_owner_ids: string[] }
>;
export type OwnerRosterEvent = OwnerSeatReleased;
export const OWNER_ROSTER_EVENT_TYPES: readonly OwnerRosterEvent['type'][] = ['OwnerSeatReleased'];

/** Pure: what a decided operator command records on the owner roster (nothing unless an active owner's seat goes). */
export function ownerRosterRecord(command: OperatorCommand, state: OperatorState, events: readonly OperatorEvent[]): OwnerRosterEvent[] {
  if (!state.exists || state.status !== 'active' || state.role !== 'owner') return [];
  if (command.type !== 'UpdateOperator' && command.type !== 'DisableOperator') return [];
  const disabled = events.some((e) => e.type === 'OperatorDisabled');
  const demoted = events.some((e) => e.type === 'OperatorRoleChanged' && e.data.to !== 'owner');
  if (!disabled && !demoted) return [];
  const remaining = otherOwners(state, command.active_owner_ids).sort();
  return [{ type: 'OwnerSeatReleased', data: { operator_id: state.operator_id, change: disabled ? 'disabled' : 'demoted', remaining_owner_ids: remaining } }];
}

/** Pure: the active owners among folded operator states. */
export function activeOwnerIds(states: readonly OperatorState[]): string[] {
  return states.flatMap((s) => (s.exists && s.status === 'active' && s.role === 'owner' ? [s.operator_id] : [])).sort();
}

export const operatorDecider: Decider<OperatorCommand, OperatorEvent, OperatorState> = {
  initialState: { exists: false },
  decide,
  evolve,
};

export type AdminAccess = 'read' | 'write' | 'owner';

/** May this role perform a request of this kind? Auditors read; operators also write; owners also manage operators. */
export function roleAllows(role: OperatorRole, access: AdminAccess): boolean {
  switch (access) {
    case 'read':
      return true;
    case 'write':
      return role === 'owner' || role === 'operator';
    case 'owner':
      return role === 'owner';
  }
}
