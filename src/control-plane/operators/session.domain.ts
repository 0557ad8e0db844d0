import { AppError } from '../../platform/errors/app-error';
import type { Decider, DomainEvent } from '../shared/decider';
import type { OperatorRole } from './operator.domain';

/**
 * Console sessions: an operator token exchanged for a server-side session (docs/console.md).
 * Each session is its own stream (`session-<key>`, the key derived from a digest of the session
 * id, never the id itself); signing in and out are events with the operator as actor, so both
 * appear in the audit trail. Validity per request (idle and absolute expiry) is checked against
 * the operator_sessions table, which the sign-in and sign-out commands maintain.
 */
export type OperatorSignedIn = DomainEvent<
  'OperatorSignedIn',
  { session_key: string; operator_id: string; role: OperatorRole; idle_timeout_seconds: number; expires_at: string }
>;
export type OperatorSignedOut = DomainEvent<'OperatorSignedOut', { session_key: string; operator_id: string }>;
export type SessionEvent = OperatorSignedIn | OperatorSignedOut;
export const SESSION_EVENT_TYPES: readonly SessionEvent['type'][] = ['OperatorSignedIn', 'OperatorSignedOut'];

export type SignIn = { type: 'SignIn'; session_key: string; operator_id: string; role: OperatorRole; idle_timeout_seconds: number; expires_at: string };
export type SignOut = { type: 'SignOut'; session_key: string; operator_id: string };
export type SessionCommand = SignIn | SignOut;

export type SessionState =
  | { readonly status: 'none' }
  | { readonly status: 'open' | 'closed'; readonly session_key: string; readonly operator_id: string; readonly expires_at: string };

export function decide(command: SessionCommand, state: SessionState): SessionEvent[] {
  switch (command.type) {
    case 'SignIn': {
      if (state.status !== 'none') throw new AppError('concurrency_conflict', 'this session already exists');
      const { type: _t, ...data } = command;
      return [{ type: 'OperatorSignedIn', data }];
    }
    case 'SignOut':
      // Signing out twice (or out of a session of someone else) records nothing.
      if (state.status !== 'open' || state.operator_id !== command.operator_id) return [];
      return [{ type: 'OperatorSignedOut', data: { session_key: state.session_key, operator_id: state.operator_id } }];
  }
}

export function evolve(state: SessionState, event: SessionEvent): SessionState {
  switch (event.type) {
    case 'OperatorSignedIn':
      return { status: 'open', session_key: event.data.session_key, operator_id: event.data.operator_id, expires_at: event.data.expires_at };
    case 'OperatorSignedOut':
      return state.status === 'none' ? state : { ...state, status: 'closed' };
  }
}

export const sessionDecider: Decider<SessionCommand, SessionEvent, SessionState> = { initialState: { status: 'none' }, decide, evolve };
