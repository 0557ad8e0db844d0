import { createHash } from 'node:crypto';
import { canonicalJson, sha256Hex } from '../../../platform/event-store/canonical-json';

/**
 * Identifiers of the memory kernel, exactly as the open core derives them (contract §1.5, §1.9),
 * so that ids, edge ids and commit hashes a client saw against the open core are the same here.
 */

/** `sha(x)` of the contract: lowercase-hex SHA-256 of the canonical JSON of x. */
export const shaOf = (value: unknown): string => sha256Hex(canonicalJson(value));

/** `stable_uuid(name)`: SHA-256 of "aionis-memory-graph:" + name, first 16 bytes, version 5 and RFC 4122 variant. */
export function stableUuid(name: string): string {
  const h = createHash('sha256').update(`aionis-memory-graph:${name}`, 'utf8').digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

/**
 * Where memory lives: the tenant (from the API key, never from the body), the key's project ('' for
 * tenant-wide keys) and the scope (a free string). Stored as three separate columns on every row.
 */
export interface Namespace {
  readonly tenantId: string;
  readonly projectKey: string;
  readonly scope: string;
}

/** The open core's default tenant: its scope key is the scope itself. */
export const DEFAULT_TENANT = 'default';

/**
 * The contract's scope key, used only inside ids and hashes (never as a storage key): the scope for
 * the default tenant, `tenant:<t>::scope:<s>` for any other. A project-bound key adds its project
 * (`tenant:<t>::project:<p>::scope:<s>`), a hosted extension, so one client id in two projects names
 * two nodes. A tenant-wide key of tenant `t` therefore derives the ids the open core derives for `t`.
 */
export function scopeKey(n: Namespace): string {
  if (n.projectKey !== '') return `tenant:${n.tenantId}::project:${n.projectKey}::scope:${n.scope}`;
  return n.tenantId === DEFAULT_TENANT ? n.scope : `tenant:${n.tenantId}::scope:${n.scope}`;
}

export const nodeIdFromClientId = (key: string, clientId: string): string => stableUuid(`${key}:node:${clientId}`);
/** Neither id nor client_id: the id is a hash of the node exactly as it passed validation. */
export const nodeIdFromContent = (key: string, validatedNode: unknown): string => stableUuid(`${key}:node:${shaOf(validatedNode)}`);
/** `X` is the request's normalised input text when sent, else its input_sha256, else `noinput`. */
export const edgeIdOf = (key: string, x: string, type: string, srcRef: string, dstRef: string): string => stableUuid(`${key}:edge:${x}:${type}:${srcRef}:${dstRef}`);

export const UUID_PATTERN = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
