import { AppError } from '../platform/errors/app-error';
import type { Decider, DomainEvent, EventContext } from '../control-plane/shared/decider';
import type { Severity } from './burn-rate';

/**
 * Where alerts go (stream `alert-route-<route_id>`): a signed webhook or a Slack-compatible
 * incoming webhook, with filters by severity and tenant. Pure.
 */
export type RouteKind = 'webhook' | 'slack';
export const ROUTE_KINDS: readonly RouteKind[] = ['webhook', 'slack'];

export interface RouteSettings {
  readonly kind: RouteKind;
  readonly url: string;
  /** Severities delivered; empty = every severity. */
  readonly severities: readonly Severity[];
  /** Tenants whose alerts are delivered; empty = every tenant. */
  readonly tenant_ids: readonly string[];
  /** Whether platform alerts (no tenant) are delivered. */
  readonly include_platform: boolean;
}

export type AlertRouteCreated = DomainEvent<'AlertRouteCreated', { route_id: string } & RouteSettings>;
/** The full settings after the update. */
export type AlertRouteUpdated = DomainEvent<'AlertRouteUpdated', { route_id: string } & RouteSettings>;
export type AlertRouteDisabled = DomainEvent<'AlertRouteDisabled', { route_id: string }>;
export type AlertRouteEnabled = DomainEvent<'AlertRouteEnabled', { route_id: string }>;
export type AlertRouteEvent = AlertRouteCreated | AlertRouteUpdated | AlertRouteDisabled | AlertRouteEnabled;
export const ALERT_ROUTE_EVENT_TYPES: readonly AlertRouteEvent['type'][] = ['AlertRouteCreated', 'AlertRouteUpdated', 'AlertRouteDisabled', 'AlertRouteEnabled'];

export type CreateAlertRoute = { type: 'CreateAlertRoute'; route_id: string } & RouteSettings;
export type UpdateAlertRoute = { type: 'UpdateAlertRoute'; route_id: string; changes: Partial<RouteSettings> };
export type DisableAlertRoute = { type: 'DisableAlertRoute'; route_id: string };
export type EnableAlertRoute = { type: 'EnableAlertRoute'; route_id: string };
export type AlertRouteCommand = CreateAlertRoute | UpdateAlertRoute | DisableAlertRoute | EnableAlertRoute;

export type AlertRoute = { readonly route_id: string; readonly enabled: boolean; readonly created_at: string; readonly updated_at: string; readonly updated_by: string } & RouteSettings;
export type AlertRouteState = { readonly exists: false } | ({ readonly exists: true } & AlertRoute);
export const NO_ROUTE: AlertRouteState = { exists: false };

const settingsOf = (r: RouteSettings): RouteSettings => ({
  kind: r.kind,
  url: r.url,
  severities: [...new Set(r.severities)].sort(),
  tenant_ids: [...new Set(r.tenant_ids)].sort(),
  include_platform: r.include_platform,
});
const sameSettings = (a: RouteSettings, b: RouteSettings): boolean => JSON.stringify(settingsOf(a)) === JSON.stringify(settingsOf(b));

export function decide(command: AlertRouteCommand, state: AlertRouteState): AlertRouteEvent[] {
  if (command.type === 'CreateAlertRoute') {
    if (state.exists) throw new AppError('alert_route_already_exists', `alert route ${command.route_id} already exists`, { route_id: command.route_id });
    const { type: _t, route_id, ...settings } = command;
    return [{ type: 'AlertRouteCreated', data: { route_id, ...settingsOf(settings) } }];
  }
  if (!state.exists) throw new AppError('alert_route_not_found', `alert route ${command.route_id} does not exist`, { route_id: command.route_id });
  switch (command.type) {
    case 'UpdateAlertRoute': {
      const next = settingsOf({ ...settingsOf(state), ...command.changes });
      if (sameSettings(next, state)) return [];
      return [{ type: 'AlertRouteUpdated', data: { route_id: command.route_id, ...next } }];
    }
    case 'DisableAlertRoute':
      return state.enabled ? [{ type: 'AlertRouteDisabled', data: { route_id: command.route_id } }] : [];
    case 'EnableAlertRoute':
      return state.enabled ? [] : [{ type: 'AlertRouteEnabled', data: { route_id: command.route_id } }];
  }
}

export function evolve(state: AlertRouteState, event: AlertRouteEvent, ctx: EventContext): AlertRouteState {
  const stamp = { updated_at: ctx.occurredAt, updated_by: ctx.actorId };
  switch (event.type) {
    case 'AlertRouteCreated':
      return { exists: true, ...event.data, ...settingsOf(event.data), enabled: true, created_at: ctx.occurredAt, ...stamp };
    case 'AlertRouteUpdated':
      return state.exists ? { ...state, ...settingsOf(event.data), ...stamp } : state;
    case 'AlertRouteDisabled':
      return state.exists ? { ...state, enabled: false, ...stamp } : state;
    case 'AlertRouteEnabled':
      return state.exists ? { ...state, enabled: true, ...stamp } : state;
  }
}

export const alertRouteDecider: Decider<AlertRouteCommand, AlertRouteEvent, AlertRouteState> = { initialState: NO_ROUTE, decide, evolve };
export const alertRouteStreamId = (routeId: string): string => `alert-route-${routeId}`;

/** Pure: whether a route takes an alert of this severity and subject. */
export function routeMatches(route: Pick<AlertRoute, 'enabled' | 'severities' | 'tenant_ids' | 'include_platform'>, alert: { severity: Severity; tenant_id: string | null }): boolean {
  if (!route.enabled) return false;
  if (route.severities.length > 0 && !route.severities.includes(alert.severity)) return false;
  if (alert.tenant_id === null) return route.include_platform;
  return route.tenant_ids.length === 0 || route.tenant_ids.includes(alert.tenant_id);
}
