import { AppError } from '../../platform/errors/app-error';
import type { Decider, DomainEvent, EventContext } from '../shared/decider';

/**
 * Operators: the people and automations allowed to call the admin API. Each has its own credential
 * (stored only as an HMAC with the server pepper) and a role. Names are labels, not personal data.
 */
export const OPERATOR_ROLES = ['owner', 'operator', 'auditor'] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];
export type OperatorStatus = 'active' | 'disabled';

export type OperatorCreated = DomainEvent<
  'OperatorCreated',
  { operator_id: string; display_name: string; role: OperatorRole; token_hash: string; token_hint: string; bootstrap: boolean }
>;
export type OperatorEvent = OperatorCreated;
export const OPERATOR_EVENT_TYPES: readonly OperatorEvent['type'][] = ['OperatorCreated'];

export type CreateOperator = {
  type: 'CreateOperator';
  operator_id: string;
  display_name: string;
  role: OperatorRole;
  token_hash: string;
  token_hint: string;
  bootstrap: boolean;
};
export type OperatorCommand = CreateOperator;

export interface Operator {
  readonly operator_id: string;
  readonly display_name: string;
  readonly role: OperatorRole;
  readonly status: OperatorStatus;
  readonly token_hash: string;
  readonly token_hint: string;
  readonly created_at: string;
  readonly updated_at: string;
  readonly created_by: string;
}
export type OperatorState = { readonly exists: false } | ({ readonly exists: true } & Operator);

export function decide(command: OperatorCommand, state: OperatorState): OperatorEvent[] {
  switch (command.type) {
    case 'CreateOperator': {
      if (state.exists) throw new AppError('concurrency_conflict', `operator ${command.operator_id} already exists`, { operator_id: command.operator_id });
      const { type: _type, ...data } = command;
      return [{ type: 'OperatorCreated', data }];
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
        created_at: ctx.occurredAt,
        updated_at: ctx.occurredAt,
        created_by: ctx.actorId,
      };
  }
  return state;
}

export const operatorDecider: Decider<OperatorCommand, OperatorEvent, OperatorState> = {
  initialState: { exists: false },
  decide,
  evolve,
};

/** May this role perform a request of this kind? Auditors read; operators and owners also write. */
export function roleAllows(role: OperatorRole, access: 'read' | 'write'): boolean {
  return access === 'read' || role === 'owner' || role === 'operator';
}
