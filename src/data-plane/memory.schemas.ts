import { z } from 'zod';
import { EDGE_TYPES, MEMORY_TIERS, NODE_TYPES, SCOPE_PATTERN } from './memory.domain';

/** Request shapes of the memory API (strict: unknown fields are errors). */
export const EMBEDDING_DIMENSIONS = 256;

function depth(v: unknown, d = 0): number {
  if (d > 16) return d;
  if (Array.isArray(v)) return Math.max(d, ...v.map((x) => depth(x, d + 1)));
  if (v !== null && typeof v === 'object') return Math.max(d, ...Object.values(v).map((x) => depth(x, d + 1)));
  return d;
}

const unit = z.number().finite().min(0).max(1);
const scope = z.string().regex(SCOPE_PATTERN, 'must be 1-64 of A-Z a-z 0-9 . _ - (starting with a letter or digit)');
const uuid = z.uuid();
const clientId = z.string().min(1).max(200);
const slots = z
  .record(z.string().min(1).max(128), z.json())
  .refine((s) => Object.keys(s).length <= 100, { message: 'at most 100 slots' })
  .refine((s) => JSON.stringify(s).length <= 16_384, { message: 'at most 16 KiB when serialised' })
  .refine((s) => depth(s) <= 8, { message: 'nested at most 8 levels deep' });

export const NodeSchema = z
  .strictObject({
    id: uuid.optional(),
    client_id: clientId.optional(),
    type: z.enum(NODE_TYPES),
    title: z.string().max(1000).optional(),
    text_summary: z.string().max(20_000).optional(),
    slots: slots.optional(),
    tier: z.enum(MEMORY_TIERS).optional(),
    salience: unit.optional(),
    importance: unit.optional(),
    confidence: unit.optional(),
    embedding: z.array(z.number().finite()).length(EMBEDDING_DIMENSIONS, `must have exactly ${EMBEDDING_DIMENSIONS} dimensions`).optional(),
  })
  .refine((n) => !(n.id && n.client_id), { message: 'give id or client_id, not both' });

const Ref = z.union([z.strictObject({ id: uuid }), z.strictObject({ client_id: clientId })]);
export const EdgeSchema = z.strictObject({ type: z.enum(EDGE_TYPES), src: Ref, dst: Ref, weight: unit.optional() });

export const WriteBody = z
  .strictObject({
    tenant_id: z.string().optional(),
    scope: scope.optional(),
    input_text: z.string().min(1).max(200_000).optional(),
    input_sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256').optional(),
    nodes: z.array(NodeSchema).max(500).optional(),
    edges: z.array(EdgeSchema).max(1000).optional(),
  })
  .refine((b) => (b.input_text === undefined) !== (b.input_sha256 === undefined), { message: 'give exactly one of input_text and input_sha256' })
  .refine((b) => (b.nodes?.length ?? 0) + (b.edges?.length ?? 0) > 0, { message: 'give at least one node or edge' });

export const FindBody = z
  .strictObject({
    tenant_id: z.string().optional(),
    scope: scope.optional(),
    ids: z.array(uuid).min(1).max(200).optional(),
    client_ids: z.array(clientId).min(1).max(200).optional(),
    type: z.enum(NODE_TYPES).optional(),
    text: z.string().min(1).max(200).optional(),
    limit: z.number().int().min(1).max(200).optional(),
    cursor: z.string().max(512).optional(),
  });

export const CommitsQuery = z.strictObject({
  scope: scope.optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  cursor: z.string().max(512).optional(),
});

export const VerifyBody = z.strictObject({ tenant_id: z.string().optional(), scope: scope.optional() });

const recallCommon = {
  tenant_id: z.string().optional(),
  scope: scope.optional(),
  limit: z.number().int().min(1).max(50).optional(),
  neighborhood_hops: z.union([z.literal(1), z.literal(2)]).optional(),
  max_nodes: z.number().int().min(1).max(200).optional(),
  max_edges: z.number().int().min(0).max(100).optional(),
  min_similarity: z.number().finite().min(-1).max(1).optional(),
};
export const RecallBody = z.strictObject({
  ...recallCommon,
  query_embedding: z.array(z.number().finite()).length(EMBEDDING_DIMENSIONS, `must have exactly ${EMBEDDING_DIMENSIONS} dimensions`),
});
export const RecallTextBody = z.strictObject({ ...recallCommon, query_text: z.string().trim().min(1).max(10_000) });
