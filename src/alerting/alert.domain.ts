import type { Decider, DomainEvent, EventContext } from '../control-plane/shared/decider';
import type { Severity } from './burn-rate';

/**
 * One alert rule for one subject (a tenant, or the platform): stream `alert-<rule>.<tenant_id|*>`.
 * The stream is the deduplication: at most one open alert per rule and subject, whatever number of
 * evaluators run (the second append fails its expected revision and decides again: nothing to do).
 * Pure: no I/O, no clock.
 */

export type AlertNumbers = Readonly<Record<string, number | string | null>>;

// ---- events (stable names) ----
export type AlertFired = DomainEvent<
  'AlertFired',
  { alert_id: string; rule: string; tenant_id: string | null; severity: Severity; numbers: AlertNumbers; runbook_url: string; console_url: string }
>;
export type AlertResolved = DomainEvent<'AlertResolved', { alert_id: string; rule: string; tenant_id: string | null; numbers: AlertNumbers }>;
export type AlertEvent = AlertFired | AlertResolved;
export const ALERT_EVENT_TYPES: readonly AlertEvent['type'][] = ['AlertFired', 'AlertResolved'];

// ---- commands ----
export type FireAlert = { type: 'FireAlert' } & AlertFired['data'];
export type ResolveAlert = { type: 'ResolveAlert'; alert_id: string; rule: string; tenant_id: string | null; numbers: AlertNumbers };
export type AlertCommand = FireAlert | ResolveAlert;

// ---- state ----
export interface AlertStreamState {
  readonly open: ({ readonly fired_at: string } & AlertFired['data']) | null;
  readonly last_resolved_at: string | null;
}
export const NO_ALERT: AlertStreamState = { open: null, last_resolved_at: null };

export function decide(command: AlertCommand, state: AlertStreamState): AlertEvent[] {
  switch (command.type) {
    case 'FireAlert': {
      if (state.open) return []; // already firing: one open alert per rule and subject
      const { type: _type, ...data } = command;
      return [{ type: 'AlertFired', data }];
    }
    case 'ResolveAlert':
      if (!state.open || state.open.alert_id !== command.alert_id) return []; // resolved meanwhile
      return [{ type: 'AlertResolved', data: { alert_id: command.alert_id, rule: command.rule, tenant_id: command.tenant_id, numbers: command.numbers } }];
  }
}

export function evolve(state: AlertStreamState, event: AlertEvent, ctx: EventContext): AlertStreamState {
  switch (event.type) {
    case 'AlertFired':
      return { open: { ...event.data, fired_at: ctx.occurredAt }, last_resolved_at: state.last_resolved_at };
    case 'AlertResolved':
      return { open: null, last_resolved_at: ctx.occurredAt };
  }
}

export const alertDecider: Decider<AlertCommand, AlertEvent, AlertStreamState> = { initialState: NO_ALERT, decide, evolve };

/** `*` stands for the platform: no tenant id contains it. */
export const alertStreamId = (rule: string, tenantId: string | null): string => `alert-${rule}.${tenantId ?? '*'}`;
