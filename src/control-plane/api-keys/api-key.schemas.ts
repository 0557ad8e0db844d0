import { z } from 'zod';
import { isCidr } from '../../platform/http/cidr';
import { metadataSchema, reasonSchema } from '../../platform/http/validation';
import { PROJECT_ID_PATTERN, TENANT_ID_PATTERN, TENANT_ID_RULE } from '../shared/ids';
import { BINDING_ID_PATTERN, BINDING_ID_RULE, GRACE_MAX_SECONDS, SCOPES } from './api-key.domain';
import { cursorParam } from '../../platform/http/cursor';
import { CLIENT_IDENTITY_RULE, MAX_CLIENT_IDENTITIES, normaliseClientIdentity } from './client-identities';

/** Request schemas of the API-key endpoints (strict: an unknown field is a 400). */

const cidr = z.string().refine(isCidr, { message: 'must be a CIDR such as 10.0.0.0/8 or 2001:db8::/32' });
/** Client-certificate identities (client-identities.ts): each `cn:`, `dns:`, `uri:` or `sha256:`, normalised by the domain. */
const clientIdentity = z.string().refine((e) => normaliseClientIdentity(e) !== null, { message: `must be ${CLIENT_IDENTITY_RULE}` });
const clientIdentities = z.array(clientIdentity).max(MAX_CLIENT_IDENTITIES);
const label = z.string().trim().min(1).max(200);
const keyId = z.string().regex(/^k[a-z2-7]{19}$/, 'must be an API key id (k + 19 base32 characters)');
/** C0, DEL and C1 control characters. */
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * An agent or team id a key is bound to: trimmed, then 1-128 characters with no control character,
 * matching BINDING_ID_PATTERN. One message per problem (the first one found).
 */
export const bindingIdSchema = z
  .string()
  .trim()
  .min(1, { error: 'must not be empty', abort: true })
  .max(128, { error: 'must be at most 128 characters', abort: true })
  .refine((s) => !CONTROL_CHARACTER.test(s), { error: 'must not contain control characters', abort: true })
  .regex(BINDING_ID_PATTERN, `must be ${BINDING_ID_RULE}`);

export const CreateApiKeyBody = z.strictObject({
  tenant_id: z.string().regex(TENANT_ID_PATTERN, `must be ${TENANT_ID_RULE}`),
  project_id: z.string().regex(PROJECT_ID_PATTERN, `must be ${TENANT_ID_RULE}`).optional(),
  /** null or absent: the key is not bound to an agent (or team). */
  agent_id: bindingIdSchema.nullish(),
  team_id: bindingIdSchema.nullish(),
  label: label.optional(),
  scopes: z.array(z.enum(SCOPES)).min(1).max(SCOPES.length).optional(),
  expires_at: z.iso.datetime({ offset: true }).optional(),
  allowed_cidrs: z.array(cidr).max(50).optional(),
  /** The key works only over mutual TLS with a verified client certificate matching one of these. */
  allowed_client_identities: clientIdentities.optional(),
  metadata: metadataSchema.optional(),
});
/** Label, metadata and allowed client identities only: agent_id, team_id and every other field are refused (fixed at creation). */
export const UpdateApiKeyBody = z
  .strictObject({ label: label.optional(), metadata: metadataSchema.optional(), allowed_client_identities: clientIdentities.optional() })
  .refine((b) => b.label !== undefined || b.metadata !== undefined || b.allowed_client_identities !== undefined, { message: 'give label, metadata and/or allowed_client_identities' });
export const RotateApiKeyBody = z.strictObject({
  grace_seconds: z.number().int().min(0).max(GRACE_MAX_SECONDS).optional(),
  label: label.optional(),
});
export const RevokeApiKeyBody = z.strictObject({ reason: reasonSchema.optional() });
export const ListApiKeysQueryParams = z.strictObject({
  tenant_id: z.string().regex(TENANT_ID_PATTERN).optional(),
  project_id: z.string().regex(PROJECT_ID_PATTERN).optional(),
  status: z.enum(['active', 'revoked']).optional(),
  limit: z.coerce.number().int().min(1).max(200).optional(),
  cursor: cursorParam.optional(),
});
export const ApiKeyParams = z.strictObject({ key_id: keyId });
