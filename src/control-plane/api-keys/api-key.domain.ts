import { AppError } from '../../platform/errors/app-error';
import { canonicalJson } from '../../platform/event-store/canonical-json';
import type { Decider, DomainEvent, EventContext } from '../shared/decider';
import { requireActiveTenant, type TenantSnapshot } from '../projects/project.domain';
import type { Metadata } from '../tenants/tenant.domain';
import { CLIENT_IDENTITY_RULE, normaliseClientIdentity } from './client-identities';

/**
 * API keys: the credential agents use on the memory API. The secret itself never enters an event:
 * only its HMAC digest (`secret_hash`, stripped from every audit view) and a display form.
 * Expiry and grace are instants in the key's state; the verifier compares them with the clock,
 * so a key stops at the exact moment without any event being written.
 */
export const SCOPES = ['memory:read', 'memory:write'] as const;
export type Scope = (typeof SCOPES)[number];
export const GRACE_DEFAULT_SECONDS = 86_400;
export const GRACE_MAX_SECONDS = 604_800;

/**
 * The agent and team a key may be bound to (the memory API's principal is `{tenant_id, agent_id,
 * team_id}`): 1 to 128 characters, a letter or digit first, then letters, digits and `. _ : @ / -`.
 * Fixed when the key is created; a rotation's successor inherits them; nothing changes them.
 */
export const BINDING_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$/;
export const BINDING_ID_RULE = '1-128 characters: a letter or digit, then letters, digits, ".", "_", ":", "@", "/" or "-"';

export interface ProjectSnapshot {
  readonly project_id: string;
  readonly exists: boolean;
  readonly tenant_id: string | null;
  readonly status: 'active' | 'archived' | null;
}

export interface NewKeyMaterial {
  readonly key_id: string;
  readonly secret_hash: string;
  /** Prefix and last 4 characters, e.g. `aio_live_kx3…_…9f2a`. */
  readonly display: string;
}

export type ApiKeyCreated = DomainEvent<
  'ApiKeyCreated',
  {
    key_id: string;
    tenant_id: string;
    project_id: string | null;
    /** Absent in events written before keys could be bound: read as null (the change is additive, schema version 1). */
    agent_id?: string | null;
    team_id?: string | null;
    label: string;
    scopes: Scope[];
    expires_at: string | null;
    allowed_cidrs: string[];
    /** Absent in events written before keys could be restricted to client certificates: read as [] (additive, schema version 1). */
    allowed_client_identities?: string[];
    metadata: Metadata;
    secret_hash: string;
    display: string;
    rotated_from: string | null;
  }
>;
export type ApiKeyUpdated = DomainEvent<'ApiKeyUpdated', { key_id: string; tenant_id: string; label?: string; metadata?: Metadata; allowed_client_identities?: string[] }>;
export type ApiKeyRotated = DomainEvent<'ApiKeyRotated', { key_id: string; tenant_id: string; successor_key_id: string; grace_until: string }>;
export type ApiKeyRevoked = DomainEvent<'ApiKeyRevoked', { key_id: string; tenant_id: string; reason: string | null; cascade_from: string | null }>;
export type ApiKeyEvent = ApiKeyCreated | ApiKeyUpdated | ApiKeyRotated | ApiKeyRevoked;
export const API_KEY_EVENT_TYPES: readonly ApiKeyEvent['type'][] = ['ApiKeyCreated', 'ApiKeyUpdated', 'ApiKeyRotated', 'ApiKeyRevoked'];

export type CreateApiKey = {
  type: 'CreateApiKey';
  key: NewKeyMaterial;
  tenant: TenantSnapshot;
  project: ProjectSnapshot | null;
  /** The agent and/or team the key speaks for (null = not bound); see BINDING_ID_PATTERN. */
  agent_id: string | null;
  team_id: string | null;
  label: string;
  scopes: Scope[];
  expires_at: string | null;
  allowed_cidrs: string[];
  allowed_client_identities: string[];
  metadata: Metadata;
  /** Set when this key is the successor of a rotation. */
  rotated_from: string | null;
  now: string;
};
export type UpdateApiKey = { type: 'UpdateApiKey'; key_id: string; label?: string; metadata?: Metadata; allowed_client_identities?: string[] };
export type RotateApiKey = { type: 'RotateApiKey'; key_id: string; successor_key_id: string; grace_seconds: number; now: string };
export type RevokeApiKey = { type: 'RevokeApiKey'; key_id: string; reason: string | null; cascade_from: string | null };
export type ApiKeyCommand = CreateApiKey | UpdateApiKey | RotateApiKey | RevokeApiKey;

export interface ApiKey {
  readonly key_id: string;
  readonly tenant_id: string;
  readonly project_id: string | null;
  /** Who the key speaks for on the memory API besides its tenant: fixed at creation. */
  readonly agent_id: string | null;
  readonly team_id: string | null;
  readonly label: string;
  readonly scopes: readonly Scope[];
  readonly expires_at: string | null;
  readonly allowed_cidrs: readonly string[];
  /** Client-certificate identities the key may be used with (client-identities.ts); empty: any connection. */
  readonly allowed_client_identities: readonly string[];
  readonly metadata: Metadata;
  readonly secret_hash: string;
  readonly display: string;
  readonly status: 'active' | 'revoked';
  readonly rotated_from: string | null;
  readonly successor_key_id: string | null;
  readonly rotated_at: string | null;
  /** After a rotation the key works until this instant. */
  readonly grace_until: string | null;
  readonly revoked_at: string | null;
  readonly revocation_reason: string | null;
  readonly created_at: string;
  readonly updated_at: string;
  readonly created_by: string;
}
export type ApiKeyState = { readonly exists: false } | ({ readonly exists: true } & ApiKey);

/** Until when a key works at all, given its own expiry and any rotation grace (null = no limit). */
export function effectiveEnd(k: Pick<ApiKey, 'expires_at' | 'grace_until'>): string | null {
  if (k.expires_at && k.grace_until) return k.expires_at < k.grace_until ? k.expires_at : k.grace_until;
  return k.expires_at ?? k.grace_until;
}

/** Why a key may not be used at `now` (null = usable, as far as the key itself goes). */
export function keyUnusableReason(k: Pick<ApiKey, 'status' | 'expires_at' | 'grace_until'>, now: string): 'revoked' | 'expired' | 'grace_ended' | null {
  if (k.status === 'revoked') return 'revoked';
  if (k.expires_at !== null && k.expires_at <= now) return 'expired';
  if (k.grace_until !== null && k.grace_until <= now) return 'grace_ended';
  return null;
}

/** What a new key is created with, apart from its secret: a create request's fields, or a predecessor's. */
export interface KeyTerms {
  readonly tenant_id: string;
  readonly project_id: string | null;
  readonly agent_id: string | null;
  readonly team_id: string | null;
  readonly label: string;
  readonly scopes: Scope[];
  readonly expires_at: string | null;
  readonly allowed_cidrs: string[];
  readonly allowed_client_identities: string[];
  readonly metadata: Metadata;
  readonly rotated_from: string | null;
}

/**
 * The terms of a rotation's successor: the same tenant, project, agent, team, scopes, expiry,
 * allowed CIDRs, allowed client identities and metadata as the key it replaces (a rotation never changes who a key speaks
 * for, nor extends its lifetime); only the label may be given anew.
 */
export function successorTerms(old: ApiKey, label?: string): KeyTerms {
  return {
    tenant_id: old.tenant_id,
    project_id: old.project_id,
    agent_id: old.agent_id,
    team_id: old.team_id,
    label: label ?? old.label,
    scopes: [...old.scopes],
    expires_at: old.expires_at,
    allowed_cidrs: [...old.allowed_cidrs],
    allowed_client_identities: [...old.allowed_client_identities],
    metadata: old.metadata,
    rotated_from: old.key_id,
  };
}

function requireBindingId(field: 'agent_id' | 'team_id', value: string | null): void {
  if (value !== null && !BINDING_ID_PATTERN.test(value)) {
    throw new AppError('validation_failed', `${field} must be ${BINDING_ID_RULE}`, { errors: [{ field: `body.${field}`, message: `must be ${BINDING_ID_RULE}` }] });
  }
}

/** The stored form of a key's allowed client identities: each normalised, deduplicated, sorted; a bad entry is a validation error. */
function clientIdentities(entries: readonly string[]): string[] {
  const out = new Set<string>();
  entries.forEach((e, i) => {
    const n = normaliseClientIdentity(e);
    if (n === null) {
      throw new AppError('validation_failed', `allowed_client_identities[${i}] must be ${CLIENT_IDENTITY_RULE}`, {
        errors: [{ field: `body.allowed_client_identities.${i}`, message: `must be ${CLIENT_IDENTITY_RULE}` }],
      });
    }
    out.add(n);
  });
  return [...out].sort();
}

function existing(state: ApiKeyState, keyId: string): ApiKey {
  if (!state.exists) throw new AppError('api_key_not_found', `API key ${keyId} does not exist`, { key_id: keyId });
  return state;
}

export function decide(command: ApiKeyCommand, state: ApiKeyState): ApiKeyEvent[] {
  switch (command.type) {
    case 'CreateApiKey': {
      if (state.exists) throw new AppError('concurrency_conflict', `API key ${command.key.key_id} already exists`);
      requireActiveTenant(command.tenant);
      const p = command.project;
      if (p) {
        if (!p.exists) throw new AppError('project_not_found', `project ${p.project_id} does not exist`, { project_id: p.project_id });
        if (p.tenant_id !== command.tenant.tenant_id) {
          throw new AppError('project_not_in_tenant', `project ${p.project_id} does not belong to tenant ${command.tenant.tenant_id}`, { project_id: p.project_id });
        }
        if (p.status !== 'active') throw new AppError('project_archived', `project ${p.project_id} is archived: no key can be bound to it`, { project_id: p.project_id });
      }
      if (command.expires_at !== null && command.expires_at <= command.now) {
        throw new AppError('validation_failed', 'expires_at must be in the future', { errors: [{ field: 'body.expires_at', message: 'must be in the future' }] });
      }
      requireBindingId('agent_id', command.agent_id);
      requireBindingId('team_id', command.team_id);
      return [
        {
          type: 'ApiKeyCreated',
          data: {
            key_id: command.key.key_id,
            tenant_id: command.tenant.tenant_id,
            project_id: p ? p.project_id : null,
            agent_id: command.agent_id,
            team_id: command.team_id,
            label: command.label,
            scopes: [...new Set(command.scopes)].sort(),
            expires_at: command.expires_at,
            allowed_cidrs: command.allowed_cidrs,
            allowed_client_identities: clientIdentities(command.allowed_client_identities),
            metadata: command.metadata,
            secret_hash: command.key.secret_hash,
            display: command.key.display,
            rotated_from: command.rotated_from,
          },
        },
      ];
    }
    case 'UpdateApiKey': {
      const k = existing(state, command.key_id);
      if (k.status === 'revoked') throw new AppError('api_key_revoked', `API key ${k.key_id} is revoked`, { key_id: k.key_id });
      const data: ApiKeyUpdated['data'] = { key_id: k.key_id, tenant_id: k.tenant_id };
      let changed = false;
      if (command.label !== undefined && command.label !== k.label) {
        data.label = command.label;
        changed = true;
      }
      if (command.metadata !== undefined && canonicalJson(command.metadata) !== canonicalJson(k.metadata)) {
        data.metadata = command.metadata;
        changed = true;
      }
      if (command.allowed_client_identities !== undefined) {
        const ids = clientIdentities(command.allowed_client_identities);
        if (canonicalJson(ids) !== canonicalJson(k.allowed_client_identities)) {
          data.allowed_client_identities = ids;
          changed = true;
        }
      }
      return changed ? [{ type: 'ApiKeyUpdated', data }] : [];
    }
    case 'RotateApiKey': {
      const k = existing(state, command.key_id);
      const why = keyUnusableReason(k, command.now);
      if (why === 'revoked') throw new AppError('api_key_revoked', `API key ${k.key_id} is revoked and cannot be rotated`, { key_id: k.key_id });
      if (why !== null) throw new AppError('api_key_expired', `API key ${k.key_id} has expired and cannot be rotated`, { key_id: k.key_id });
      if (k.successor_key_id !== null) {
        throw new AppError('concurrency_conflict', `API key ${k.key_id} was already rotated to ${k.successor_key_id}; rotate that key instead`, {
          successor_key_id: k.successor_key_id,
        });
      }
      const graceEnd = new Date(Date.parse(command.now) + command.grace_seconds * 1000).toISOString();
      // Never past the key's own expiry.
      const grace_until = k.expires_at !== null && k.expires_at < graceEnd ? k.expires_at : graceEnd;
      return [{ type: 'ApiKeyRotated', data: { key_id: k.key_id, tenant_id: k.tenant_id, successor_key_id: command.successor_key_id, grace_until } }];
    }
    case 'RevokeApiKey': {
      const k = existing(state, command.key_id);
      if (k.status === 'revoked') throw new AppError('api_key_revoked', `API key ${k.key_id} is already revoked`, { key_id: k.key_id });
      return [{ type: 'ApiKeyRevoked', data: { key_id: k.key_id, tenant_id: k.tenant_id, reason: command.reason, cascade_from: command.cascade_from } }];
    }
  }
}

export function evolve(state: ApiKeyState, event: ApiKeyEvent, ctx: EventContext): ApiKeyState {
  switch (event.type) {
    case 'ApiKeyCreated': {
      const d = event.data;
      return {
        exists: true,
        key_id: d.key_id,
        tenant_id: d.tenant_id,
        project_id: d.project_id,
        agent_id: d.agent_id ?? null,
        team_id: d.team_id ?? null,
        label: d.label,
        scopes: d.scopes,
        expires_at: d.expires_at,
        allowed_cidrs: d.allowed_cidrs,
        allowed_client_identities: d.allowed_client_identities ?? [],
        metadata: d.metadata,
        secret_hash: d.secret_hash,
        display: d.display,
        status: 'active',
        rotated_from: d.rotated_from,
        successor_key_id: null,
        rotated_at: null,
        grace_until: null,
        revoked_at: null,
        revocation_reason: null,
        created_at: ctx.occurredAt,
        updated_at: ctx.occurredAt,
        created_by: ctx.actorId,
      };
    }
    case 'ApiKeyUpdated':
      if (!state.exists) return state;
      return {
        ...state,
        ...(event.data.label !== undefined ? { label: event.data.label } : {}),
        ...(event.data.metadata !== undefined ? { metadata: event.data.metadata } : {}),
        ...(event.data.allowed_client_identities !== undefined ? { allowed_client_identities: event.data.allowed_client_identities } : {}),
        updated_at: ctx.occurredAt,
      };
    case 'ApiKeyRotated':
      if (!state.exists) return state;
      return { ...state, successor_key_id: event.data.successor_key_id, rotated_at: ctx.occurredAt, grace_until: event.data.grace_until, updated_at: ctx.occurredAt };
    case 'ApiKeyRevoked':
      if (!state.exists) return state;
      return { ...state, status: 'revoked', revoked_at: ctx.occurredAt, revocation_reason: event.data.reason, updated_at: ctx.occurredAt };
  }
}

export const apiKeyDecider: Decider<ApiKeyCommand, ApiKeyEvent, ApiKeyState> = { initialState: { exists: false }, decide, evolve };
