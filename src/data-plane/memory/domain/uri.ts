import { NODE_TYPES, type NodeType } from './model';

/** Object URIs (contract §1.5): `aionis://<tenant>/<scope>/<type>/<id>`, each segment percent-encoded. */
export function formatUri(tenantId: string, scope: string, type: string, id: string): string {
  return `aionis://${[tenantId, scope, type, id].map(encodeURIComponent).join('/')}`;
}

export interface ParsedUri {
  readonly tenant_id: string;
  readonly scope: string;
  readonly type: NodeType;
  readonly id: string;
}

export type UriProblem = { readonly message: string; readonly details?: Record<string, string> };

const URI_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/** Parse and check a URI; a problem names what is wrong (400 invalid_aionis_uri). */
export function parseUri(uri: string): ParsedUri | UriProblem {
  if (!uri.startsWith('aionis://')) return { message: 'a URI starts with aionis://' };
  const parts = uri.slice('aionis://'.length).split('/');
  if (parts.length !== 4) return { message: 'a URI has exactly four segments: tenant/scope/type/id' };
  let decoded: string[];
  try {
    decoded = parts.map((p) => decodeURIComponent(p));
  } catch {
    return { message: 'a URI segment is not valid percent-encoding' };
  }
  if (decoded.some((p) => p.length === 0)) return { message: 'every URI segment must be non-empty' };
  const [tenant_id, scope, type, id] = decoded as [string, string, string, string];
  if (!(NODE_TYPES as readonly string[]).includes(type)) return { message: `unknown node type "${type}"`, details: { type } };
  if (!URI_ID.test(id)) return { message: 'the id segment is not a UUID', details: { id } };
  return { tenant_id, scope, type: type as NodeType, id: id.toLowerCase() };
}

export const isUriProblem = (p: ParsedUri | UriProblem): p is UriProblem => 'message' in p;
