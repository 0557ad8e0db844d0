import { alertsProjection } from '../../projections/alerts.projection';
import { type AlertCommand, alertDecider, type AlertEvent, type AlertStreamState, alertStreamId, type FireAlert } from '../../src/alerting/alert.domain';
import { alertRouteDecider, type AlertRouteCommand, type AlertRouteEvent, type AlertRouteState } from '../../src/alerting/alert-route.domain';
import { type SloCommand, sloDecider, type SloEvent, type SloState } from '../../src/alerting/slo-override.domain';
import { deciderSpec, type Given } from './support/decider-spec';
import { metadataFor, recorded } from './support/recorded-events';

const alerts: (events: readonly AlertEvent[]) => Given<AlertCommand, AlertEvent, AlertStreamState> = deciderSpec(alertDecider);
const routes: (events: readonly AlertRouteEvent[]) => Given<AlertRouteCommand, AlertRouteEvent, AlertRouteState> = deciderSpec(alertRouteDecider);
const slos: (events: readonly SloEvent[]) => Given<SloCommand, SloEvent, SloState> = deciderSpec(sloDecider);

const fire = (alert_id: string): FireAlert => ({
  type: 'FireAlert',
  alert_id,
  rule: 'slo-availability-fast-burn',
  tenant_id: 'acme',
  severity: 'page',
  numbers: { burn_rate_long: 15 },
  runbook_url: 'runbooks/alerts.md#slo-availability-fast-burn',
  console_url: `http://x/console/alerts/${alert_id}`,
});
const fired = (alert_id: string): AlertEvent => {
  const { type: _t, ...data } = fire(alert_id);
  return { type: 'AlertFired', data };
};
const resolved = (alert_id: string): AlertEvent => ({ type: 'AlertResolved', data: { alert_id, rule: 'slo-availability-fast-burn', tenant_id: 'acme', numbers: {} } });
const resolve = (alert_id: string): AlertCommand => ({ type: 'ResolveAlert', alert_id, rule: 'slo-availability-fast-burn', tenant_id: 'acme', numbers: {} });

describe('alert stream (one open alert per rule and tenant)', () => {
  it('fires when nothing is open', () => alerts([]).when(fire('a1')).then([fired('a1')]));
  it('does not fire a second alert while one is open', () => alerts([fired('a1')]).when(fire('a2')).then([]));
  it('resolves the open alert', () => alerts([fired('a1')]).when(resolve('a1')).then([resolved('a1')]));
  it('does not resolve an alert that is no longer open (resolved meanwhile) or another one', () => {
    alerts([fired('a1'), resolved('a1')]).when(resolve('a1')).then([]);
    alerts([fired('a1')]).when(resolve('a9')).then([]);
  });
  it('fires a new alert after a resolution', () => alerts([fired('a1'), resolved('a1')]).when(fire('a2')).then([fired('a2')]));
  it('streams are per rule and tenant; platform alerts use *', () => {
    expect(alertStreamId('dead-letters', null)).toBe('alert-dead-letters.*');
    expect(alertStreamId('slo-latency-slow-burn', 'acme')).toBe('alert-slo-latency-slow-burn.acme');
  });
});

describe('alerts projection', () => {
  it('a firing becomes a firing row; its resolution resolves it', () => {
    const f = recorded({ streamId: 'alert-x.acme', streamPosition: 1, globalPosition: 1, type: 'AlertFired', data: fired('a1').data, metadata: metadataFor('2026-12-05T10:00:00.000Z') });
    const row = alertsProjection.evolve(null, f)!;
    expect(row).toMatchObject({ alert_id: 'a1', state: 'firing', tenant_id: 'acme', fired_at: '2026-12-05T10:00:00.000Z', resolved_at: null });
    const r = recorded({ streamId: 'alert-x.acme', streamPosition: 2, globalPosition: 2, type: 'AlertResolved', data: resolved('a1').data, metadata: metadataFor('2026-12-05T10:30:00.000Z') });
    expect(alertsProjection.evolve(row, r)).toMatchObject({ state: 'resolved', resolved_at: '2026-12-05T10:30:00.000Z', resolved_numbers: {} });
    expect(() => alertsProjection.evolve(null, r)).toThrow(/never fired/);
  });
});

describe('alert routes', () => {
  const create: AlertRouteCommand = { type: 'CreateAlertRoute', route_id: 'oncall', kind: 'webhook', url: 'https://x/hook', severities: ['page'], tenant_ids: [], include_platform: true };
  const created: AlertRouteEvent = { type: 'AlertRouteCreated', data: { route_id: 'oncall', kind: 'webhook', url: 'https://x/hook', severities: ['page'], tenant_ids: [], include_platform: true } };
  it('creates once', () => {
    routes([]).when(create).then([created]);
    routes([created]).when(create).thenThrows('alert_route_already_exists');
  });
  it('updates with the full settings; no event when nothing changes', () => {
    routes([created]).when({ type: 'UpdateAlertRoute', route_id: 'oncall', changes: { tenant_ids: ['b', 'a'] } }).then([{ type: 'AlertRouteUpdated', data: { route_id: 'oncall', kind: 'webhook', url: 'https://x/hook', severities: ['page'], tenant_ids: ['a', 'b'], include_platform: true } }]);
    routes([created]).when({ type: 'UpdateAlertRoute', route_id: 'oncall', changes: { severities: ['page'] } }).then([]);
  });
  it('disables and enables idempotently; unknown routes are refused', () => {
    routes([created]).when({ type: 'DisableAlertRoute', route_id: 'oncall' }).then([{ type: 'AlertRouteDisabled', data: { route_id: 'oncall' } }]);
    routes([created, { type: 'AlertRouteDisabled', data: { route_id: 'oncall' } }]).when({ type: 'DisableAlertRoute', route_id: 'oncall' }).then([]);
    routes([]).when({ type: 'DisableAlertRoute', route_id: 'oncall' }).thenThrows('alert_route_not_found');
  });
});

describe('SLO overrides', () => {
  it('sets, refuses bad values and unknown tenants, clears', () => {
    slos([]).when({ type: 'SetTenantSloOverrides', tenant_id: 'acme', tenant_exists: true, overrides: { availability_target: 0.999 } }).then([{ type: 'TenantSloOverridesSet', data: { tenant_id: 'acme', overrides: { availability_target: 0.999 } } }]);
    slos([]).when({ type: 'SetTenantSloOverrides', tenant_id: 'acme', tenant_exists: true, overrides: { latency_threshold_ms: 300 } }).thenThrows('validation_failed');
    slos([]).when({ type: 'SetTenantSloOverrides', tenant_id: 'acme', tenant_exists: false, overrides: {} }).thenThrows('tenant_not_found');
    const set: SloEvent = { type: 'TenantSloOverridesSet', data: { tenant_id: 'acme', overrides: { availability_target: 0.999 } } };
    slos([set]).when({ type: 'ClearTenantSloOverrides', tenant_id: 'acme', tenant_exists: true }).then([{ type: 'TenantSloOverridesCleared', data: { tenant_id: 'acme' } }]);
    slos([]).when({ type: 'ClearTenantSloOverrides', tenant_id: 'acme', tenant_exists: true }).then([]);
  });
});
