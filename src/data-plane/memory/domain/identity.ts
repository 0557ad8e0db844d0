import { AppError } from '../../../platform/errors/app-error';
import type { Namespace } from './ids';

/**
 * The caller of the memory API (contract §1.4): the tenant, agent and team of its API key. The
 * tenant comes from the key only; a request may repeat it but never name another one. Identity
 * injection checks and fills the caller-supplied identity fields by route kind. Pure.
 */
export interface Principal {
  readonly tenantId: string;
  /** The key's project ('' for tenant-wide keys): a hosted namespace level below the tenant. */
  readonly projectKey: string;
  readonly keyId: string;
  /** The key's display form (prefix and last characters), for audit views. */
  readonly keyDisplay: string;
  readonly agentId: string | null;
  readonly teamId: string | null;
}

export const nsOf = (p: Principal, scope: string): Namespace => ({ tenantId: p.tenantId, projectKey: p.projectKey, scope });

type Raw = Record<string, unknown>;
const isObject = (v: unknown): v is Raw => v !== null && typeof v === 'object' && !Array.isArray(v);
/** Compared trimmed, and only when both sides are non-empty strings. */
const given = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v.trim() : null);

function mismatch(field: string, provided: string, expected: string): AppError {
  return new AppError('identity_mismatch', `${field} "${provided}" contradicts the API key's identity ("${expected}")`, { field, provided, expected });
}

function expect(field: string, value: unknown, expected: string | null): void {
  const v = given(value);
  if (v !== null && expected !== null && v !== expected) throw mismatch(field, v, expected);
}

/** The explicit tenant (body or query `tenant_id`, else the X-Tenant-Id header) must be the key's. */
export function checkTenant(p: Principal, raw: unknown, headerTenant: string | undefined): void {
  const explicit = isObject(raw) && raw.tenant_id !== undefined ? raw.tenant_id : headerTenant;
  const field = isObject(raw) && raw.tenant_id !== undefined ? 'tenant_id' : 'x-tenant-id';
  expect(field, explicit, p.tenantId);
}

/** The request object (a non-object body is left for validation to refuse), with tenant_id set to the key's. */
function base(raw: unknown, p: Principal): unknown {
  if (!isObject(raw)) return raw;
  return raw.tenant_id === undefined ? raw : { ...raw, tenant_id: p.tenantId };
}

/** Readers (recall, recall_text, find, session events, packs export): consumer ids must be the key's, and default to them. */
export function injectReader(raw: unknown, p: Principal): unknown {
  const r = base(raw, p);
  if (!isObject(r)) return r;
  expect('consumer_agent_id', r.consumer_agent_id, p.agentId);
  expect('consumer_team_id', r.consumer_team_id, p.teamId);
  return {
    ...r,
    ...(r.consumer_agent_id === undefined && p.agentId !== null ? { consumer_agent_id: p.agentId } : {}),
    ...(r.consumer_team_id === undefined && p.teamId !== null ? { consumer_team_id: p.teamId } : {}),
  };
}

/**
 * Writers (write, sessions, events, packs import): producer and owners must be the key's agent and
 * team. Fill: producer <- agent; with neither owner given, owner_agent_id <- agent, or
 * owner_team_id <- team when the key has no agent. Top-level fields only (per-node ones are the
 * caller's, as in the open core).
 */
export function injectWriter(raw: unknown, p: Principal): unknown {
  const r = base(raw, p);
  if (!isObject(r)) return r;
  expect('producer_agent_id', r.producer_agent_id, p.agentId);
  expect('owner_agent_id', r.owner_agent_id, p.agentId);
  expect('owner_team_id', r.owner_team_id, p.teamId);
  const fill: Raw = {};
  if (r.producer_agent_id === undefined && p.agentId !== null) fill.producer_agent_id = p.agentId;
  if (r.owner_agent_id === undefined && r.owner_team_id === undefined) {
    if (p.agentId !== null) fill.owner_agent_id = p.agentId;
    else if (p.teamId !== null) fill.owner_team_id = p.teamId;
  }
  return { ...r, ...fill };
}

/** Tenant-only routes (rehydrate, activate, rules/state, feedback): nothing beyond the tenant. */
export const injectTenantOnly = (raw: unknown, p: Principal): unknown => base(raw, p);

/**
 * Longest scope and client id accepted (UTF-8 bytes): both are part of a btree index entry with the
 * tenant and project, which PostgreSQL limits to about 2.7 KB (listed hosted limits; the open
 * core answered 500 beyond it).
 */
export const MAX_SCOPE_BYTES = 512;
export const MAX_CLIENT_ID_BYTES = 1800;

/** The scope of a request: trimmed, not empty (400 invalid_scope), defaulting to `default`. */
export function scopeOf(scope: string | undefined): string {
  if (scope === undefined) return 'default';
  const s = scope.trim();
  if (s === '') throw new AppError('invalid_scope', 'scope must not be empty after trimming');
  if (Buffer.byteLength(s, 'utf8') > MAX_SCOPE_BYTES) throw new AppError('invalid_scope', `scope must be at most ${MAX_SCOPE_BYTES} bytes of UTF-8`, { max_bytes: MAX_SCOPE_BYTES });
  return s;
}

/**
 * What a tolerant reader dropped: the paths of keys in the request that the validated value does
 * not have (array indices as `*`), de-duplicated, in order of appearance.
 */
export function ignoredFields(raw: unknown, parsed: unknown): string[] {
  const out = new Set<string>();
  const walk = (a: unknown, b: unknown, path: string): void => {
    if (isObject(a) && isObject(b)) {
      for (const k of Object.keys(a)) {
        if (!(k in b)) out.add(`${path}${k}`);
        else walk(a[k], b[k], `${path}${k}.`);
      }
    } else if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
      a.forEach((x, i) => walk(x, b[i], `${path}*.`));
    }
  };
  walk(raw, parsed, '');
  return [...out];
}
