import { resourceOf } from '../../projections/audit.projection';
import { tenantPlacementsProjection } from '../../projections/tenant-placements.projection';
import { shardsProjection } from '../../projections/shards.projection';
import { type ChangeTenantPlacement, placementDecider, type PlacementCommand, type PlacementEvent, placementOf, placementRosterRecord, type PlacementState } from '../../src/control-plane/shards/placement.domain';
import { type RegisterShard, type RetireShard, shardDecider, type ShardCommand, type ShardEvent, shardRosterRecord, type ShardState } from '../../src/control-plane/shards/shard.domain';
import { deciderSpec, foldEvents, type Given } from './support/decider-spec';
import { recorded } from './support/recorded-events';

const shards: (events: readonly ShardEvent[]) => Given<ShardCommand, ShardEvent, ShardState> = deciderSpec(shardDecider);
const placements: (events: readonly PlacementEvent[]) => Given<PlacementCommand, PlacementEvent, PlacementState> = deciderSpec(placementDecider);

const register = (over: Partial<RegisterShard> = {}): RegisterShard => ({ type: 'RegisterShard', shard_id: 'dedicated-1', url_ref: 'dedicated-1', capacity_note: '500 GB', shards_supported: true, ref_configured: true, ref_used_by: [], ...over });
const registered: ShardEvent = { type: 'ShardRegistered', data: { shard_id: 'dedicated-1', url_ref: 'dedicated-1', capacity_note: '500 GB' } };
const draining: ShardEvent = { type: 'ShardDrainStarted', data: { shard_id: 'dedicated-1', reason: null } };
const retired: ShardEvent = { type: 'ShardRetired', data: { shard_id: 'dedicated-1', reason: null } };
const retire = (placed_tenant_ids: string[] = []): RetireShard => ({ type: 'RetireShard', shard_id: 'dedicated-1', reason: null, placed_tenant_ids });

describe('shards: register', () => {
  it('registers a shard whose reference is configured', () => shards([]).when(register()).then([registered]));
  it('refuses on the embedded database (only the shared shard there)', () => {
    shards([]).when(register({ shards_supported: false })).thenThrows('shards_not_supported');
  });
  it('refuses a reference SHARD_URLS does not name, and says which', () => {
    const err = shards([]).when(register({ url_ref: 'nowhere', ref_configured: false })).thenThrows('shard_ref_not_configured');
    expect(err.message).toContain('nowhere');
  });
  it('refuses a reference another shard (not retired) already uses: one database, one shard', () => {
    const err = shards([]).when(register({ shard_id: 'dedicated-2', ref_used_by: ['dedicated-1'] })).thenThrows('shard_ref_in_use');
    expect(err.details).toMatchObject({ url_ref: 'dedicated-1', shard_ids: ['dedicated-1'] });
  });
  it('refuses a second registration of the same id', () => {
    shards([registered]).when(register()).thenThrows('shard_already_exists');
  });
  it('refuses the id "shared" (the primary database)', () => {
    shards([]).when(register({ shard_id: 'shared' })).thenThrows('shared_shard_immutable');
  });
  it('a registered shard is active, with its reference and note', () => {
    expect(shards([registered]).state).toMatchObject({ exists: true, shard_id: 'dedicated-1', url_ref: 'dedicated-1', capacity_note: '500 GB', state: 'active' });
  });
});

describe('shards: drain and retire', () => {
  it('drains an active shard; draining again is no event', () => {
    shards([registered]).when({ type: 'DrainShard', shard_id: 'dedicated-1', reason: null }).then([draining]);
    shards([registered, draining]).when({ type: 'DrainShard', shard_id: 'dedicated-1', reason: null }).then([]);
  });
  it('refuses to drain a retired or unknown shard, or the shared one', () => {
    shards([registered, retired]).when({ type: 'DrainShard', shard_id: 'dedicated-1', reason: null }).thenThrows('shard_not_active');
    shards([]).when({ type: 'DrainShard', shard_id: 'dedicated-1', reason: null }).thenThrows('shard_not_found');
    shards([]).when({ type: 'DrainShard', shard_id: 'shared', reason: null }).thenThrows('shared_shard_immutable');
  });
  it('retires a shard that holds no tenant (active or draining); retiring again is no event', () => {
    shards([registered]).when(retire()).then([retired]);
    shards([registered, draining]).when(retire()).then([retired]);
    shards([registered, retired]).when(retire()).then([]);
  });
  it('refuses to retire while any tenant is placed on it, naming them', () => {
    const err = shards([registered, draining]).when(retire(['globex', 'acme'])).thenThrows('shard_in_use');
    expect(err.details).toMatchObject({ tenant_ids: ['acme', 'globex'] });
  });
  it('registrations, drains and retirements are recorded on the roster; a command that decided nothing is not', () => {
    expect(shardRosterRecord(retire(), shards([registered]).state, [draining, retired]).map((e) => e.data.change)).toEqual(['draining', 'retired']);
    expect(shardRosterRecord(register(), shards([]).state, [registered]).map((e) => e.data)).toEqual([{ shard_id: 'dedicated-1', change: 'registered', tenant_id: null }]);
    expect(shardRosterRecord(retire(), shards([registered, retired]).state, [])).toEqual([]);
  });
});

const active = foldEvents(shardDecider, [registered]);
const place = (over: Partial<ChangeTenantPlacement> = {}): ChangeTenantPlacement => ({
  type: 'ChangeTenantPlacement',
  tenant_id: 'acme',
  tenant_exists: true,
  shard_id: 'dedicated-1',
  target: active,
  expected_generation: null,
  reason: 'migration m1',
  ...over,
});
const moved = (generation: number, shard_id: string, previous: { shard_id: string; generation: number }): PlacementEvent => ({
  type: 'TenantPlacementChanged',
  data: { tenant_id: 'acme', shard_id, generation, previous, reason: 'migration m1' },
});

describe('placement', () => {
  it('a tenant that never moved is on the shared shard at generation 1', () => {
    expect(placementOf(placements([]).state)).toEqual({ shard_id: 'shared', generation: 1 });
  });
  it('moving raises the generation by one and records the previous placement', () => {
    placements([]).when(place()).then([moved(2, 'dedicated-1', { shard_id: 'shared', generation: 1 })]);
    placements([moved(2, 'dedicated-1', { shard_id: 'shared', generation: 1 })])
      .when(place({ shard_id: 'shared', target: null }))
      .then([moved(3, 'shared', { shard_id: 'dedicated-1', generation: 2 })]);
  });
  it('a move to the current shard is no event', () => placements([moved(2, 'dedicated-1', { shard_id: 'shared', generation: 1 })]).when(place()).then([]));
  it('refuses a draining, retired or unknown shard, and an unknown tenant', () => {
    placements([]).when(place({ target: foldEvents(shardDecider, [registered, draining]) })).thenThrows('shard_not_active');
    placements([]).when(place({ target: foldEvents(shardDecider, [registered, retired]) })).thenThrows('shard_not_active');
    placements([]).when(place({ target: { exists: false } })).thenThrows('shard_not_found');
    placements([]).when(place({ target: null })).thenThrows('shard_not_found');
    placements([]).when(place({ tenant_exists: false })).thenThrows('tenant_not_found');
  });
  it('refuses when the expected generation is not the current one (the saga lost a race)', () => {
    placements([]).when(place({ expected_generation: 1 })).then([moved(2, 'dedicated-1', { shard_id: 'shared', generation: 1 })]);
    const err = placements([moved(2, 'dedicated-1', { shard_id: 'shared', generation: 1 })]).when(place({ shard_id: 'shared', target: null, expected_generation: 1 })).thenThrows('concurrency_conflict');
    expect(err.details).toMatchObject({ current_generation: 2 });
  });
  it('generations only rise: an event that does not raise it leaves the state alone', () => {
    const state = placements([moved(3, 'dedicated-1', { shard_id: 'shared', generation: 2 })]).state;
    expect(placementDecider.evolve(state, moved(2, 'shared', { shard_id: 'dedicated-1', generation: 1 }), { occurredAt: 'x', actorId: 'y' })).toBe(state);
  });
  it('every placement change is recorded on the shard roster', () => {
    expect(placementRosterRecord(place(), placements([]).state, [moved(2, 'dedicated-1', { shard_id: 'shared', generation: 1 })])).toEqual([
      { type: 'ShardRosterChanged', data: { shard_id: 'dedicated-1', change: 'tenant_placed', tenant_id: 'acme' } },
    ]);
  });
});

describe('read models', () => {
  const ev = (streamId: string, streamPosition: number, e: ShardEvent | PlacementEvent) => recorded({ streamId, streamPosition, globalPosition: streamPosition, type: e.type, data: e.data });
  it('rm_shards folds registration and drain with the domain evolve', () => {
    const row = shardsProjection.evolve(shardsProjection.evolve(null, ev('shard-dedicated-1', 1, registered)), ev('shard-dedicated-1', 2, draining));
    expect(row).toMatchObject({ shard_id: 'dedicated-1', state: 'draining', revision: 2 });
  });
  it('rm_tenant_placements refuses an event without a generation of at least 2', () => {
    const bad = recorded({ streamId: 'placement-acme', streamPosition: 1, globalPosition: 1, type: 'TenantPlacementChanged', data: { tenant_id: 'acme', shard_id: 'x', generation: 1 } });
    expect(() => tenantPlacementsProjection.evolve(null, bad)).toThrow(/generation/);
    const row = tenantPlacementsProjection.evolve(null, ev('placement-acme', 1, moved(2, 'dedicated-1', { shard_id: 'shared', generation: 1 })));
    expect(row).toMatchObject({ tenant_id: 'acme', shard_id: 'dedicated-1', generation: 2, previous: { shard_id: 'shared', generation: 1 }, revision: 1 });
  });
});

describe('audit resources of the shard streams', () => {
  it('shard-<id> is a shard, placement-<tenant> a tenant placement, shards-roster the roster', () => {
    expect(resourceOf('shard-dedicated-1')).toEqual({ type: 'shard', id: 'dedicated-1' });
    expect(resourceOf('placement-acme')).toEqual({ type: 'tenant_placement', id: 'acme' });
    expect(resourceOf('shards-roster')).toEqual({ type: 'shard_roster', id: '' });
  });
});
