import type { Decider, DomainEvent, EventContext } from '../../../src/control-plane/shared/decider';
import { tenantDecider, type TenantCommand, type TenantEvent, type TenantState } from '../../../src/control-plane/tenants/tenant.domain';
import { AppError, type ErrorCode } from '../../../src/platform/errors/app-error';

/**
 * Given/when/then for deciders:
 *
 *   given([...past events]).when(command).then([...expected new events])
 *   given([...past events]).when(command).thenThrows('error_code')
 *
 * The past events are folded with the decider's evolve under one fixed event context, then
 * decide is called on the resulting state.
 */
export const TEST_CONTEXT: EventContext = Object.freeze({ occurredAt: '2026-01-01T00:00:00.000Z', actorId: 'op_test' });

export interface When<Event> {
  /** decide must return exactly these events (strict equality: no extra or undefined members). */
  then(expected: readonly Event[]): void;
  /** decide must throw an AppError with this code; the error is returned for further checks. */
  thenThrows(code: ErrorCode): AppError;
}

export interface Given<Command, Event, State> {
  /** The state the past events fold to. */
  readonly state: State;
  when(command: Command): When<Event>;
}

export function foldEvents<C, E extends DomainEvent, S>(decider: Decider<C, E, S>, events: readonly E[], ctx: EventContext = TEST_CONTEXT): S {
  return events.reduce((state, event) => decider.evolve(state, event, ctx), decider.initialState);
}

export function deciderSpec<C, E extends DomainEvent, S>(decider: Decider<C, E, S>, ctx: EventContext = TEST_CONTEXT) {
  return (events: readonly E[]): Given<C, E, S> => {
    const state = foldEvents(decider, events, ctx);
    return {
      state,
      when: (command) => ({
        then(expected) {
          expect(decider.decide(command, state)).toStrictEqual(expected);
        },
        thenThrows(code) {
          let caught: unknown;
          let decided: readonly E[] | undefined;
          try {
            decided = decider.decide(command, state);
          } catch (err) {
            caught = err;
          }
          if (caught === undefined) throw new Error(`expected decide to throw ${code}, but it returned ${JSON.stringify(decided)}`);
          expect(caught).toBeInstanceOf(AppError);
          expect((caught as AppError).code).toBe(code);
          return caught as AppError;
        },
      }),
    };
  };
}

/** given(...) bound to the tenant decider. */
export const given: (events: readonly TenantEvent[]) => Given<TenantCommand, TenantEvent, TenantState> = deciderSpec(tenantDecider);
