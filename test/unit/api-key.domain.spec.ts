import type { EventContext } from '../../src/control-plane/shared/decider';
import { CreateApiKeyBody, UpdateApiKeyBody } from '../../src/control-plane/api-keys/api-key.schemas';
import {
  apiKeyDecider,
  type ApiKeyCreated,
  type ApiKeyEvent,
  type ApiKeyRevoked,
  type ApiKeyRotated,
  type ApiKeyState,
  type CreateApiKey,
  effectiveEnd,
  evolve,
  GRACE_DEFAULT_SECONDS,
  keyUnusableReason,
  type ProjectSnapshot,
  type RotateApiKey,
  successorTerms,
} from '../../src/control-plane/api-keys/api-key.domain';
import type { TenantSnapshot } from '../../src/control-plane/projects/project.domain';
import { apiKeysProjection } from '../../projections/api-keys.projection';
import { deciderSpec, foldEvents, TEST_CONTEXT } from './support/decider-spec';
import { metadataFor, recorded } from './support/recorded-events';

const given = deciderSpec(apiKeyDecider);

const KEY_ID = 'kabcdefghijklmnopq23';
const SUCCESSOR_ID = 'kzyxwvutsrqponmlk765';
const NOW = '2026-01-01T00:00:00.000Z';
const EXPIRES = '2026-06-01T00:00:00.000Z';

const activeTenant: TenantSnapshot = { tenant_id: 'acme', exists: true, status: 'active' };
const activeProject: ProjectSnapshot = { project_id: 'web', exists: true, tenant_id: 'acme', status: 'active' };

const create: CreateApiKey = {
  type: 'CreateApiKey',
  key: { key_id: KEY_ID, secret_hash: 'ab'.repeat(32), display: `aio_live_${KEY_ID}_…9f2a` },
  tenant: activeTenant,
  project: null,
  agent_id: null,
  team_id: null,
  label: 'ci runner',
  scopes: ['memory:read', 'memory:write'],
  expires_at: EXPIRES,
  allowed_cidrs: ['10.0.0.0/8'],
  allowed_client_identities: [],
  metadata: { team: 'ml', limits: { rps: 5 } },
  rotated_from: null,
  now: NOW,
};

const created: ApiKeyCreated = {
  type: 'ApiKeyCreated',
  data: {
    key_id: KEY_ID,
    tenant_id: 'acme',
    project_id: null,
    agent_id: null,
    team_id: null,
    label: 'ci runner',
    scopes: ['memory:read', 'memory:write'],
    expires_at: EXPIRES,
    allowed_cidrs: ['10.0.0.0/8'],
    allowed_client_identities: [],
    metadata: { team: 'ml', limits: { rps: 5 } },
    secret_hash: 'ab'.repeat(32),
    display: `aio_live_${KEY_ID}_…9f2a`,
    rotated_from: null,
  },
};
const createdNoExpiry: ApiKeyCreated = { type: 'ApiKeyCreated', data: { ...created.data, expires_at: null } };

const rotated = (grace_until: string): ApiKeyRotated => ({ type: 'ApiKeyRotated', data: { key_id: KEY_ID, tenant_id: 'acme', successor_key_id: SUCCESSOR_ID, grace_until } });
const revoked: ApiKeyRevoked = { type: 'ApiKeyRevoked', data: { key_id: KEY_ID, tenant_id: 'acme', reason: 'leaked', cascade_from: null } };

const rotate = (now: string, grace_seconds = 3600): RotateApiKey => ({ type: 'RotateApiKey', key_id: KEY_ID, successor_key_id: SUCCESSOR_ID, grace_seconds, now });

const at = (occurredAt: string, actorId = 'op_test'): EventContext => ({ occurredAt, actorId });

function keyOf(state: ApiKeyState): Extract<ApiKeyState, { exists: true }> {
  if (!state.exists) throw new Error('expected the key to exist');
  return state;
}

/** ISO instant `ms` milliseconds after `iso`. */
const plus = (iso: string, ms: number): string => new Date(Date.parse(iso) + ms).toISOString();

describe('api key decider', () => {
  describe('CreateApiKey', () => {
    it('creates a key under an active tenant, with every field carried into the event', () => {
      given([]).when(create).then([created]);
    });

    it('de-duplicates and sorts the scopes', () => {
      given([])
        .when({ ...create, scopes: ['memory:write', 'memory:read', 'memory:write', 'memory:read'] })
        .then([{ type: 'ApiKeyCreated', data: { ...created.data, scopes: ['memory:read', 'memory:write'] } }]);
      given([])
        .when({ ...create, scopes: ['memory:write', 'memory:write'] })
        .then([{ type: 'ApiKeyCreated', data: { ...created.data, scopes: ['memory:write'] } }]);
    });

    it('does not reorder the scopes array of the command in place', () => {
      const scopes: CreateApiKey['scopes'] = ['memory:write', 'memory:read'];
      apiKeyDecider.decide({ ...create, scopes }, apiKeyDecider.initialState);
      expect(scopes).toStrictEqual(['memory:write', 'memory:read']);
    });

    it('binds the key to an active project of the same tenant', () => {
      given([])
        .when({ ...create, project: activeProject })
        .then([{ type: 'ApiKeyCreated', data: { ...created.data, project_id: 'web' } }]);
    });

    it('carries rotated_from and a null expiry through', () => {
      given([])
        .when({ ...create, expires_at: null, rotated_from: SUCCESSOR_ID })
        .then([{ type: 'ApiKeyCreated', data: { ...created.data, expires_at: null, rotated_from: SUCCESSOR_ID } }]);
    });

    it('rejects a missing tenant with tenant_not_found', () => {
      const err = given([])
        .when({ ...create, tenant: { tenant_id: 'ghost', exists: false, status: null } })
        .thenThrows('tenant_not_found');
      expect(err.details).toMatchObject({ tenant_id: 'ghost' });
    });

    it('rejects a suspended tenant with tenant_suspended', () => {
      const err = given([])
        .when({ ...create, tenant: { tenant_id: 'acme', exists: true, status: 'suspended' } })
        .thenThrows('tenant_suspended');
      expect(err.details).toMatchObject({ tenant_id: 'acme' });
    });

    it('checks the tenant before the project', () => {
      given([])
        .when({ ...create, tenant: { tenant_id: 'acme', exists: true, status: 'suspended' }, project: { ...activeProject, status: 'archived' } })
        .thenThrows('tenant_suspended');
    });

    it('rejects a missing project with project_not_found', () => {
      const err = given([])
        .when({ ...create, project: { project_id: 'nope', exists: false, tenant_id: null, status: null } })
        .thenThrows('project_not_found');
      expect(err.details).toMatchObject({ project_id: 'nope' });
    });

    it('rejects a project of another tenant with project_not_in_tenant', () => {
      const err = given([])
        .when({ ...create, project: { ...activeProject, tenant_id: 'globex' } })
        .thenThrows('project_not_in_tenant');
      expect(err.details).toMatchObject({ project_id: 'web' });
    });

    it('reports project_not_in_tenant (not project_archived) for an archived project of another tenant', () => {
      given([])
        .when({ ...create, project: { ...activeProject, tenant_id: 'globex', status: 'archived' } })
        .thenThrows('project_not_in_tenant');
    });

    it('rejects an archived project with project_archived', () => {
      const err = given([])
        .when({ ...create, project: { ...activeProject, status: 'archived' } })
        .thenThrows('project_archived');
      expect(err.details).toMatchObject({ project_id: 'web' });
    });

    it('rejects an expiry in the past with validation_failed naming body.expires_at', () => {
      const err = given([])
        .when({ ...create, expires_at: '2025-12-31T23:59:59.999Z' })
        .thenThrows('validation_failed');
      expect(err.details.errors).toStrictEqual([{ field: 'body.expires_at', message: 'must be in the future' }]);
    });

    it('rejects an expiry equal to now, and accepts one a millisecond later', () => {
      given([]).when({ ...create, expires_at: NOW }).thenThrows('validation_failed');
      given([])
        .when({ ...create, expires_at: plus(NOW, 1) })
        .then([{ type: 'ApiKeyCreated', data: { ...created.data, expires_at: '2026-01-01T00:00:00.001Z' } }]);
    });

    it('rejects creating a key id that already exists with concurrency_conflict', () => {
      given([created]).when(create).thenThrows('concurrency_conflict');
    });
  });

  describe('allowed client identities', () => {
    const FP = 'AB:'.repeat(31) + 'AB';
    it('stores them normalised (sha256 lowercase without colons, dns lowercase), de-duplicated and sorted', () => {
      given([])
        .when({ ...create, allowed_client_identities: ['uri:spiffe://acme/booker', `sha256:${FP}`, 'dns:Booker.Agents.Example', 'dns:booker.agents.example', 'cn:Booker Bot'] })
        .then([{ type: 'ApiKeyCreated', data: { ...created.data, allowed_client_identities: ['cn:Booker Bot', 'dns:booker.agents.example', `sha256:${'ab'.repeat(32)}`, 'uri:spiffe://acme/booker'] } }]);
    });

    it('refuses an entry of no known kind with validation_failed naming it', () => {
      const err = given([]).when({ ...create, allowed_client_identities: ['cn:ok', 'email:bot@example.com'] }).thenThrows('validation_failed');
      expect(err.details).toMatchObject({ errors: [{ field: 'body.allowed_client_identities.1' }] });
      given([]).when({ ...create, allowed_client_identities: ['sha256:abc'] }).thenThrows('validation_failed');
    });

    it('reads an ApiKeyCreated written before identities existed as no restriction', () => {
      const { allowed_client_identities: _a, ...old } = created.data;
      expect(keyOf(given([{ type: 'ApiKeyCreated', data: old }]).state).allowed_client_identities).toStrictEqual([]);
    });

    it('changes them with UpdateApiKey, and only when they differ', () => {
      const restricted: ApiKeyCreated = { type: 'ApiKeyCreated', data: { ...created.data, allowed_client_identities: ['cn:a'] } };
      given([restricted])
        .when({ type: 'UpdateApiKey', key_id: KEY_ID, allowed_client_identities: ['dns:B.example', 'cn:a'] })
        .then([{ type: 'ApiKeyUpdated', data: { key_id: KEY_ID, tenant_id: 'acme', allowed_client_identities: ['cn:a', 'dns:b.example'] } }]);
      given([restricted]).when({ type: 'UpdateApiKey', key_id: KEY_ID, allowed_client_identities: ['cn:a', 'cn:a'] }).then([]);
      expect(keyOf(given([restricted, { type: 'ApiKeyUpdated', data: { key_id: KEY_ID, tenant_id: 'acme', allowed_client_identities: [] } }]).state).allowed_client_identities).toStrictEqual([]);
    });

    it('passes them to a rotation successor', () => {
      const restricted: ApiKeyCreated = { type: 'ApiKeyCreated', data: { ...created.data, allowed_client_identities: ['cn:a'] } };
      expect(successorTerms(keyOf(given([restricted]).state)).allowed_client_identities).toStrictEqual(['cn:a']);
    });
  });

  describe('UpdateApiKey', () => {
    it('emits only the label when only it changes', () => {
      given([created])
        .when({ type: 'UpdateApiKey', key_id: KEY_ID, label: 'deploy bot' })
        .then([{ type: 'ApiKeyUpdated', data: { key_id: KEY_ID, tenant_id: 'acme', label: 'deploy bot' } }]);
    });

    it('emits only the metadata when only it changes', () => {
      given([created])
        .when({ type: 'UpdateApiKey', key_id: KEY_ID, label: 'ci runner', metadata: { team: 'infra' } })
        .then([{ type: 'ApiKeyUpdated', data: { key_id: KEY_ID, tenant_id: 'acme', metadata: { team: 'infra' } } }]);
    });

    it('emits both when both change', () => {
      given([created])
        .when({ type: 'UpdateApiKey', key_id: KEY_ID, label: 'x', metadata: {} })
        .then([{ type: 'ApiKeyUpdated', data: { key_id: KEY_ID, tenant_id: 'acme', label: 'x', metadata: {} } }]);
    });

    it('emits nothing when label and metadata are unchanged, or absent', () => {
      given([created]).when({ type: 'UpdateApiKey', key_id: KEY_ID, label: 'ci runner', metadata: { team: 'ml', limits: { rps: 5 } } }).then([]);
      given([created]).when({ type: 'UpdateApiKey', key_id: KEY_ID }).then([]);
    });

    it('does not count a different key order in the metadata (nested too) as a change', () => {
      given([created])
        .when({ type: 'UpdateApiKey', key_id: KEY_ID, metadata: { limits: { rps: 5 }, team: 'ml' } })
        .then([]);
    });

    it('detects a nested metadata change', () => {
      given([created])
        .when({ type: 'UpdateApiKey', key_id: KEY_ID, metadata: { team: 'ml', limits: { rps: 6 } } })
        .then([{ type: 'ApiKeyUpdated', data: { key_id: KEY_ID, tenant_id: 'acme', metadata: { team: 'ml', limits: { rps: 6 } } } }]);
    });

    it('rejects updating a revoked key with api_key_revoked', () => {
      const err = given([created, revoked]).when({ type: 'UpdateApiKey', key_id: KEY_ID, label: 'again' }).thenThrows('api_key_revoked');
      expect(err.details).toMatchObject({ key_id: KEY_ID });
    });

    it('rejects updating an unknown key with api_key_not_found', () => {
      const err = given([]).when({ type: 'UpdateApiKey', key_id: KEY_ID, label: 'x' }).thenThrows('api_key_not_found');
      expect(err.details).toMatchObject({ key_id: KEY_ID });
    });
  });

  describe('RotateApiKey', () => {
    const rotateAt = '2026-01-10T00:00:00.000Z';

    it('sets grace_until = now + grace_seconds', () => {
      given([created])
        .when(rotate(rotateAt, 3600))
        .then([rotated('2026-01-10T01:00:00.000Z')]);
    });

    it('uses the whole default grace period when the key never expires', () => {
      given([createdNoExpiry])
        .when(rotate(rotateAt, GRACE_DEFAULT_SECONDS))
        .then([rotated('2026-01-11T00:00:00.000Z')]);
    });

    it('caps grace_until at the key’s own expires_at', () => {
      const expiresSoon: ApiKeyCreated = { type: 'ApiKeyCreated', data: { ...created.data, expires_at: '2026-01-10T00:30:00.000Z' } };
      given([expiresSoon])
        .when(rotate(rotateAt, 3600))
        .then([rotated('2026-01-10T00:30:00.000Z')]);
    });

    it('does not cap when the expiry is later than the grace end', () => {
      const expiresLater: ApiKeyCreated = { type: 'ApiKeyCreated', data: { ...created.data, expires_at: '2026-01-10T01:00:00.001Z' } };
      given([expiresLater])
        .when(rotate(rotateAt, 3600))
        .then([rotated('2026-01-10T01:00:00.000Z')]);
    });

    it('a zero grace ends the old key at the moment of rotation', () => {
      given([created]).when(rotate(rotateAt, 0)).then([rotated(rotateAt)]);
    });

    it('rejects rotating a revoked key with api_key_revoked', () => {
      const err = given([created, revoked]).when(rotate(rotateAt)).thenThrows('api_key_revoked');
      expect(err.details).toMatchObject({ key_id: KEY_ID });
    });

    it('rejects rotating a revoked key with api_key_revoked even when it has also expired', () => {
      given([created, revoked]).when(rotate(plus(EXPIRES, 1000))).thenThrows('api_key_revoked');
    });

    it('rejects rotating an expired key with api_key_expired (and exactly at expires_at)', () => {
      given([created]).when(rotate(plus(EXPIRES, 1))).thenThrows('api_key_expired');
      given([created]).when(rotate(EXPIRES)).thenThrows('api_key_expired');
    });

    it('still rotates a millisecond before expires_at, with the grace capped there', () => {
      given([created])
        .when(rotate(plus(EXPIRES, -1), 3600))
        .then([rotated(EXPIRES)]);
    });

    it('rejects rotating a key that was already rotated (still in grace) with concurrency_conflict', () => {
      const err = given([created, rotated('2026-01-10T01:00:00.000Z')])
        .when({ ...rotate('2026-01-10T00:10:00.000Z'), successor_key_id: 'kanotherkeyidxxxxxx2' })
        .thenThrows('concurrency_conflict');
      expect(err.details).toMatchObject({ successor_key_id: SUCCESSOR_ID });
    });

    it('rejects rotating a key whose grace has ended with api_key_expired (at and after grace_until)', () => {
      const history = [created, rotated('2026-01-10T01:00:00.000Z')];
      given(history).when(rotate('2026-01-10T01:00:00.000Z')).thenThrows('api_key_expired');
      given(history).when(rotate('2026-01-12T00:00:00.000Z')).thenThrows('api_key_expired');
    });

    it('rejects rotating an unknown key with api_key_not_found', () => {
      given([]).when(rotate(rotateAt)).thenThrows('api_key_not_found');
    });
  });

  describe('RevokeApiKey', () => {
    it('revokes an active key once, carrying the reason and cascade origin', () => {
      given([created])
        .when({ type: 'RevokeApiKey', key_id: KEY_ID, reason: 'leaked', cascade_from: null })
        .then([revoked]);
      given([created])
        .when({ type: 'RevokeApiKey', key_id: KEY_ID, reason: null, cascade_from: SUCCESSOR_ID })
        .then([{ type: 'ApiKeyRevoked', data: { key_id: KEY_ID, tenant_id: 'acme', reason: null, cascade_from: SUCCESSOR_ID } }]);
    });

    it('revokes a key that was rotated and is still in grace', () => {
      given([created, rotated('2026-01-10T01:00:00.000Z')])
        .when({ type: 'RevokeApiKey', key_id: KEY_ID, reason: 'leaked', cascade_from: null })
        .then([revoked]);
    });

    it('rejects revoking twice with api_key_revoked', () => {
      const err = given([created, revoked]).when({ type: 'RevokeApiKey', key_id: KEY_ID, reason: 'again', cascade_from: null }).thenThrows('api_key_revoked');
      expect(err.details).toMatchObject({ key_id: KEY_ID });
    });

    it('rejects revoking an unknown key with api_key_not_found', () => {
      const err = given([]).when({ type: 'RevokeApiKey', key_id: KEY_ID, reason: null, cascade_from: null }).thenThrows('api_key_not_found');
      expect(err.details).toMatchObject({ key_id: KEY_ID });
    });
  });
});

describe('api key bindings (agent_id, team_id)', () => {
  const AGENT = 'agent:support-bot/eu@acme.example';
  const TEAM = 'team.support_1';
  const boundCreated: ApiKeyCreated = { type: 'ApiKeyCreated', data: { ...created.data, agent_id: AGENT, team_id: TEAM } };

  describe('CreateApiKey', () => {
    it('given no key, when created with an agent and a team, then the event carries both', () => {
      given([])
        .when({ ...create, agent_id: AGENT, team_id: TEAM })
        .then([boundCreated]);
    });

    it('given no key, when created with only one of them, then the other is null', () => {
      given([])
        .when({ ...create, agent_id: AGENT })
        .then([{ type: 'ApiKeyCreated', data: { ...created.data, agent_id: AGENT, team_id: null } }]);
      given([])
        .when({ ...create, team_id: TEAM })
        .then([{ type: 'ApiKeyCreated', data: { ...created.data, agent_id: null, team_id: TEAM } }]);
    });

    it('given no key, when created without either, then the event carries both as null', () => {
      given([]).when(create).then([created]);
      expect(created.data).toMatchObject({ agent_id: null, team_id: null });
    });

    it('given no key, when a binding breaks the id rule, then validation_failed names the field (the decider does not rely on the HTTP schema)', () => {
      for (const [field, value] of [
        ['agent_id', ''],
        ['agent_id', ' agent'],
        ['agent_id', 'a'.repeat(129)],
        ['team_id', 'team\u0000x'],
        ['team_id', '-team'],
      ] as const) {
        const err = given([])
          .when({ ...create, [field]: value })
          .thenThrows('validation_failed');
        expect(err.details.errors).toStrictEqual([{ field: `body.${field}`, message: expect.stringMatching(/^must be 1-128 characters/) as unknown }]);
      }
      given([])
        .when({ ...create, agent_id: 'a'.repeat(128), team_id: 'T' })
        .then([{ type: 'ApiKeyCreated', data: { ...created.data, agent_id: 'a'.repeat(128), team_id: 'T' } }]);
    });
  });

  describe('rotation', () => {
    it('given a bound key, when its successor is created from successorTerms, then the successor carries the same agent and team', () => {
      const old = keyOf(given([boundCreated]).state);
      const terms = successorTerms(old, 'ci runner (2026-01)');
      expect(terms).toStrictEqual({
        tenant_id: 'acme',
        project_id: null,
        agent_id: AGENT,
        team_id: TEAM,
        label: 'ci runner (2026-01)',
        scopes: ['memory:read', 'memory:write'],
        expires_at: EXPIRES,
        allowed_cidrs: ['10.0.0.0/8'],
        allowed_client_identities: [],
        metadata: { team: 'ml', limits: { rps: 5 } },
        rotated_from: KEY_ID,
      });
      const { tenant_id: _t, project_id: _p, ...rest } = terms;
      given([])
        .when({ type: 'CreateApiKey', key: { key_id: SUCCESSOR_ID, secret_hash: 'cd'.repeat(32), display: `aio_live_${SUCCESSOR_ID}_…0b1c` }, tenant: activeTenant, project: null, now: NOW, ...rest })
        .then([
          {
            type: 'ApiKeyCreated',
            data: {
              ...boundCreated.data,
              key_id: SUCCESSOR_ID,
              label: 'ci runner (2026-01)',
              secret_hash: 'cd'.repeat(32),
              display: `aio_live_${SUCCESSOR_ID}_…0b1c`,
              rotated_from: KEY_ID,
            },
          },
        ]);
    });

    it('given an unbound key, the successor is unbound too, and keeps the label unless one is given', () => {
      const terms = successorTerms(keyOf(given([created]).state));
      expect(terms).toMatchObject({ agent_id: null, team_id: null, label: 'ci runner', rotated_from: KEY_ID });
    });

    it('given a bound key, when rotated, then the old key keeps its binding', () => {
      const s = keyOf(foldEvents(apiKeyDecider, [boundCreated, rotated('2026-01-10T01:00:00.000Z')]));
      expect(s).toMatchObject({ agent_id: AGENT, team_id: TEAM, successor_key_id: SUCCESSOR_ID });
    });
  });

  describe('immutability', () => {
    it('given a bound key, when label and metadata are updated, then the binding is unchanged', () => {
      given([boundCreated])
        .when({ type: 'UpdateApiKey', key_id: KEY_ID, label: 'renamed', metadata: {} })
        .then([{ type: 'ApiKeyUpdated', data: { key_id: KEY_ID, tenant_id: 'acme', label: 'renamed', metadata: {} } }]);
      const s = keyOf(foldEvents(apiKeyDecider, [boundCreated, { type: 'ApiKeyUpdated', data: { key_id: KEY_ID, tenant_id: 'acme', label: 'renamed' } }, revoked]));
      expect(s).toMatchObject({ agent_id: AGENT, team_id: TEAM, label: 'renamed', status: 'revoked' });
    });

    it('the update body refuses agent_id and team_id', () => {
      for (const body of [{ agent_id: 'other' }, { team_id: 'other' }, { label: 'x', agent_id: null }]) {
        const r = UpdateApiKeyBody.safeParse(body);
        expect(r.success).toBe(false);
        expect(r.error?.issues[0]).toMatchObject({ code: 'unrecognized_keys' });
      }
    });
  });

  describe('folding events written before bindings existed', () => {
    const { agent_id: _a, team_id: _t, ...legacyData } = created.data;
    const legacy = { type: 'ApiKeyCreated', data: legacyData } as ApiKeyCreated;

    it('given an ApiKeyCreated without agent_id and team_id, then the key folds with both null', () => {
      expect(legacyData).not.toHaveProperty('agent_id');
      const s = keyOf(foldEvents(apiKeyDecider, [legacy, rotated('2026-01-10T01:00:00.000Z')]));
      expect(s).toMatchObject({ agent_id: null, team_id: null, successor_key_id: SUCCESSOR_ID });
      expect(successorTerms(s)).toMatchObject({ agent_id: null, team_id: null });
    });

    it('the rm_api_keys read model folds it to a row with null agent_id and team_id', () => {
      const e = recorded({ streamId: `apikey-${KEY_ID}`, streamPosition: 1, globalPosition: 7, tenantId: 'acme', type: 'ApiKeyCreated', data: legacyData, metadata: metadataFor(NOW, 'op_old') });
      const row = apiKeysProjection.evolve(null, e);
      expect(row).toMatchObject({ key_id: KEY_ID, agent_id: null, team_id: null, revision: 1, created_by: 'op_old' });
      expect(Object.keys(apiKeysProjection.columns)).toEqual(expect.arrayContaining(['agent_id', 'team_id']));
      expect(Object.keys(row ?? {}).sort()).toStrictEqual(Object.keys(apiKeysProjection.columns).sort());
    });
  });
});

describe('CreateApiKeyBody (agent_id, team_id)', () => {
  const parse = (extra: Record<string, unknown>) => CreateApiKeyBody.safeParse({ tenant_id: 'acme', ...extra });
  const messages = (extra: Record<string, unknown>) => {
    const r = parse(extra);
    expect(r.success).toBe(false);
    return r.error?.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  };

  it('accepts and trims agent and team ids; absent or null means unbound', () => {
    expect(parse({ agent_id: '  agent:support-bot/eu@acme.example \n', team_id: 'team.support_1' }).data).toMatchObject({ agent_id: 'agent:support-bot/eu@acme.example', team_id: 'team.support_1' });
    expect(parse({}).data).not.toHaveProperty('agent_id');
    expect(parse({ agent_id: null, team_id: null }).data).toMatchObject({ agent_id: null, team_id: null });
    expect(parse({ agent_id: 'a'.repeat(128) }).success).toBe(true);
    expect(parse({ agent_id: ` ${'a'.repeat(128)} ` }).data?.agent_id).toBe('a'.repeat(128));
  });

  it('refuses an id that is empty after trimming', () => {
    expect(messages({ agent_id: '' })).toStrictEqual([{ path: 'agent_id', message: 'must not be empty' }]);
    expect(messages({ team_id: ' \t ' })).toStrictEqual([{ path: 'team_id', message: 'must not be empty' }]);
  });

  it('refuses an id longer than 128 characters', () => {
    expect(messages({ agent_id: 'a'.repeat(129) })).toStrictEqual([{ path: 'agent_id', message: 'must be at most 128 characters' }]);
  });

  it('refuses a control character anywhere inside', () => {
    for (const c of ['\u0000', '\u0007', '\t', '\n', '\u001b', '\u007f', '\u0085']) {
      expect(messages({ agent_id: `agent${c}x` })).toStrictEqual([{ path: 'agent_id', message: 'must not contain control characters' }]);
    }
  });

  it('refuses other characters, a non-alphanumeric first character and non-strings', () => {
    for (const v of ['agent one', '-agent', '.agent', 'agënt', 'a#b']) {
      expect(messages({ team_id: v })).toStrictEqual([{ path: 'team_id', message: expect.stringMatching(/^must be 1-128 characters/) as unknown }]);
    }
    expect(parse({ agent_id: 42 }).success).toBe(false);
    expect(parse({ agent_id: ['a'] }).success).toBe(false);
  });
});

describe('api key evolve', () => {
  it('starts with no key', () => {
    expect(apiKeyDecider.initialState).toStrictEqual({ exists: false });
  });

  it('builds an active key from ApiKeyCreated and the event context', () => {
    expect(given([created]).state).toStrictEqual({
      exists: true,
      key_id: KEY_ID,
      tenant_id: 'acme',
      project_id: null,
      agent_id: null,
      team_id: null,
      label: 'ci runner',
      scopes: ['memory:read', 'memory:write'],
      expires_at: EXPIRES,
      allowed_cidrs: ['10.0.0.0/8'],
      allowed_client_identities: [],
      metadata: { team: 'ml', limits: { rps: 5 } },
      secret_hash: 'ab'.repeat(32),
      display: `aio_live_${KEY_ID}_…9f2a`,
      status: 'active',
      rotated_from: null,
      successor_key_id: null,
      rotated_at: null,
      grace_until: null,
      revoked_at: null,
      revocation_reason: null,
      created_at: TEST_CONTEXT.occurredAt,
      updated_at: TEST_CONTEXT.occurredAt,
      created_by: TEST_CONTEXT.actorId,
    });
  });

  it('an update changes only the given fields and moves updated_at', () => {
    const s0 = evolve(apiKeyDecider.initialState, created, at('2026-01-01T00:00:00.000Z', 'op_creator'));
    const s1 = keyOf(evolve(s0, { type: 'ApiKeyUpdated', data: { key_id: KEY_ID, tenant_id: 'acme', label: 'renamed' } }, at('2026-01-02T00:00:00.000Z', 'op_editor')));
    expect(s1).toMatchObject({ label: 'renamed', metadata: { team: 'ml', limits: { rps: 5 } }, created_at: '2026-01-01T00:00:00.000Z', updated_at: '2026-01-02T00:00:00.000Z', created_by: 'op_creator' });
    const s2 = keyOf(evolve(s1, { type: 'ApiKeyUpdated', data: { key_id: KEY_ID, tenant_id: 'acme', metadata: { x: 1 } } }, at('2026-01-03T00:00:00.000Z')));
    expect(s2).toMatchObject({ label: 'renamed', metadata: { x: 1 }, updated_at: '2026-01-03T00:00:00.000Z' });
  });

  it('a rotation sets successor_key_id, rotated_at (from the context) and grace_until, and keeps the key active', () => {
    const s0 = evolve(apiKeyDecider.initialState, created, at('2026-01-01T00:00:00.000Z'));
    const s1 = keyOf(evolve(s0, rotated('2026-01-10T01:00:00.000Z'), at('2026-01-10T00:00:00.123Z', 'op_rotator')));
    expect(s1).toMatchObject({
      status: 'active',
      successor_key_id: SUCCESSOR_ID,
      rotated_at: '2026-01-10T00:00:00.123Z',
      grace_until: '2026-01-10T01:00:00.000Z',
      updated_at: '2026-01-10T00:00:00.123Z',
      created_at: '2026-01-01T00:00:00.000Z',
      revoked_at: null,
      expires_at: EXPIRES,
    });
  });

  it('a revocation sets status, revoked_at (from the context) and revocation_reason', () => {
    const s0 = evolve(apiKeyDecider.initialState, created, at('2026-01-01T00:00:00.000Z'));
    const s1 = keyOf(evolve(s0, revoked, at('2026-02-02T02:02:02.002Z', 'op_sec')));
    expect(s1).toMatchObject({
      status: 'revoked',
      revoked_at: '2026-02-02T02:02:02.002Z',
      revocation_reason: 'leaked',
      updated_at: '2026-02-02T02:02:02.002Z',
      created_at: '2026-01-01T00:00:00.000Z',
      created_by: 'op_test',
    });
    const s2 = keyOf(evolve(s0, { type: 'ApiKeyRevoked', data: { key_id: KEY_ID, tenant_id: 'acme', reason: null, cascade_from: 'kx' } }, at('2026-02-03T00:00:00.000Z')));
    expect(s2.revocation_reason).toBeNull();
  });

  it('a revocation after a rotation keeps the rotation facts', () => {
    const s = keyOf(foldEvents(apiKeyDecider, [created, rotated('2026-01-10T01:00:00.000Z'), revoked]));
    expect(s).toMatchObject({ status: 'revoked', successor_key_id: SUCCESSOR_ID, grace_until: '2026-01-10T01:00:00.000Z', revocation_reason: 'leaked' });
  });

  it('ignores updates, rotations and revocations of a key that does not exist', () => {
    const none: ApiKeyState = { exists: false };
    for (const e of [{ type: 'ApiKeyUpdated', data: { key_id: KEY_ID, tenant_id: 'acme', label: 'x' } }, rotated(NOW), revoked] satisfies ApiKeyEvent[]) {
      expect(evolve(none, e, TEST_CONTEXT)).toStrictEqual(none);
    }
  });

  it('does not mutate the previous state', () => {
    const s0 = evolve(apiKeyDecider.initialState, created, TEST_CONTEXT);
    const snapshot = structuredClone(s0);
    evolve(s0, rotated('2026-01-10T01:00:00.000Z'), at('2026-01-10T00:00:00.000Z'));
    evolve(s0, revoked, at('2026-01-11T00:00:00.000Z'));
    expect(s0).toStrictEqual(snapshot);
  });
});

describe('keyUnusableReason', () => {
  const base = { status: 'active' as const, expires_at: '2026-06-01T00:00:00.000Z', grace_until: null };

  it('is null for an active key before its expiry, and with no limits at all', () => {
    expect(keyUnusableReason(base, '2026-05-31T23:59:59.999Z')).toBeNull();
    expect(keyUnusableReason({ status: 'active', expires_at: null, grace_until: null }, '2999-01-01T00:00:00.000Z')).toBeNull();
  });

  it('is expired exactly at expires_at and after it', () => {
    expect(keyUnusableReason(base, '2026-06-01T00:00:00.000Z')).toBe('expired');
    expect(keyUnusableReason(base, '2026-06-01T00:00:00.001Z')).toBe('expired');
  });

  it('is grace_ended exactly at grace_until and after it, null a millisecond before', () => {
    const k = { status: 'active' as const, expires_at: null, grace_until: '2026-01-10T01:00:00.000Z' };
    expect(keyUnusableReason(k, '2026-01-10T00:59:59.999Z')).toBeNull();
    expect(keyUnusableReason(k, '2026-01-10T01:00:00.000Z')).toBe('grace_ended');
    expect(keyUnusableReason(k, '2026-02-01T00:00:00.000Z')).toBe('grace_ended');
  });

  it('says revoked before anything else', () => {
    expect(keyUnusableReason({ ...base, status: 'revoked' }, '2026-01-01T00:00:00.000Z')).toBe('revoked');
    expect(keyUnusableReason({ status: 'revoked', expires_at: '2026-01-01T00:00:00.000Z', grace_until: '2026-01-01T00:00:00.000Z' }, '2027-01-01T00:00:00.000Z')).toBe('revoked');
  });

  it('says expired before grace_ended when both have passed', () => {
    expect(keyUnusableReason({ status: 'active', expires_at: '2026-01-02T00:00:00.000Z', grace_until: '2026-01-01T00:00:00.000Z' }, '2026-01-03T00:00:00.000Z')).toBe('expired');
  });

  it('is grace_ended when only the grace has passed', () => {
    expect(keyUnusableReason({ status: 'active', expires_at: '2026-06-01T00:00:00.000Z', grace_until: '2026-01-01T00:00:00.000Z' }, '2026-01-03T00:00:00.000Z')).toBe('grace_ended');
  });
});

describe('effectiveEnd', () => {
  it('is null when the key has neither expiry nor grace', () => {
    expect(effectiveEnd({ expires_at: null, grace_until: null })).toBeNull();
  });

  it('is whichever of the two is set', () => {
    expect(effectiveEnd({ expires_at: '2026-06-01T00:00:00.000Z', grace_until: null })).toBe('2026-06-01T00:00:00.000Z');
    expect(effectiveEnd({ expires_at: null, grace_until: '2026-01-10T01:00:00.000Z' })).toBe('2026-01-10T01:00:00.000Z');
  });

  it('is the earlier of the two when both are set', () => {
    expect(effectiveEnd({ expires_at: '2026-06-01T00:00:00.000Z', grace_until: '2026-01-10T01:00:00.000Z' })).toBe('2026-01-10T01:00:00.000Z');
    expect(effectiveEnd({ expires_at: '2026-01-05T00:00:00.000Z', grace_until: '2026-01-10T01:00:00.000Z' })).toBe('2026-01-05T00:00:00.000Z');
    expect(effectiveEnd({ expires_at: '2026-01-05T00:00:00.000Z', grace_until: '2026-01-05T00:00:00.000Z' })).toBe('2026-01-05T00:00:00.000Z');
  });
});
