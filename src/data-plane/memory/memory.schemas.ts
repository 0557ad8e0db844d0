import { z } from 'zod';
import { EDGE_TYPES, MEMORY_LANES, MEMORY_TIERS, NODE_TYPES } from './domain/model';
import { cursorParam } from '../../platform/http/cursor';

/**
 * Request schemas of the memory API, field for field the open core's contract
 * (../shared/reference/aionis-memory-contract.md §2). Objects are NOT strict: unknown keys are
 * dropped, as the open core drops them, and the route reports them (x-aionis-ignored-fields).
 * No defaults or transforms here: a node's content-derived id hashes the node exactly as it
 * passed validation, so the parsed value must be the sent value minus unknown keys.
 */

export const str1 = z.string().min(1);
export const uuid = z.guid();
export const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters');
export const unit = z.number().min(0).max(1);
const int = (min: number, max: number) => z.number().int().min(min).max(max);
const jsonObject = z.record(z.string(), z.unknown());

/** The largest magnitude a stored 32-bit real can hold. */
const FLOAT32_MAX = 3.4028234663852886e38;
export const vectorOf = (dim: number) =>
  z
    .array(z.number().min(-FLOAT32_MAX, 'must fit a 32-bit float').max(FLOAT32_MAX, 'must fit a 32-bit float'))
    .length(dim, `must have exactly ${dim} numbers (EMBEDDING_DIM)`);

/** tenant_id and scope: optional on every route (the tenant comes from the API key). */
const where = { tenant_id: str1.optional(), scope: str1.optional() };
const owners = {
  memory_lane: z.enum(MEMORY_LANES).optional(),
  producer_agent_id: str1.optional(),
  owner_agent_id: str1.optional(),
  owner_team_id: str1.optional(),
};
const inputs = { input_text: str1.optional(), input_sha256: hex64.optional() };

const Endpoint = z.object({ id: uuid.optional(), client_id: str1.optional() }).refine((e) => e.id !== undefined || e.client_id !== undefined, { message: 'give id or client_id' });

export const writeNodeSchema = (dim: number) =>
  z.object({
    id: uuid.optional(),
    client_id: str1.optional(),
    scope: str1.optional(),
    type: z.enum(NODE_TYPES),
    tier: z.enum(MEMORY_TIERS).optional(),
    ...owners,
    title: str1.optional(),
    text_summary: str1.optional(),
    slots: jsonObject.optional(),
    raw_ref: str1.optional(),
    evidence_ref: str1.optional(),
    embedding: vectorOf(dim).optional(),
    embedding_model: str1.optional(),
    salience: unit.optional(),
    importance: unit.optional(),
    confidence: unit.optional(),
  });

export const WriteEdge = z.object({
  id: uuid.optional(),
  scope: str1.optional(),
  type: z.enum(EDGE_TYPES),
  src: Endpoint,
  dst: Endpoint,
  weight: unit.optional(),
  confidence: unit.optional(),
  decay_rate: unit.optional(),
});

export const writeBody = (dim: number) =>
  z.object({
    ...where,
    actor: str1.optional(),
    parent_commit_id: uuid.optional(),
    ...inputs,
    model_version: str1.optional(),
    prompt_version: str1.optional(),
    auto_embed: z.boolean().optional(),
    force_reembed: z.boolean().optional(),
    ...owners,
    trigger_topic_cluster: z.boolean().optional(),
    topic_cluster_async: z.boolean().optional(),
    nodes: z.array(writeNodeSchema(dim)).optional(),
    edges: z.array(WriteEdge).optional(),
  });

const nullableKnob = <T extends z.ZodType>(t: T) => t.nullable().optional();

/** The recall request without its query (shared by /recall and /recall_text). */
const recallCommon = {
  ...where,
  recall_strategy: z.enum(['local', 'balanced', 'global']).optional(),
  consumer_agent_id: str1.optional(),
  consumer_team_id: str1.optional(),
  limit: nullableKnob(int(1, 200)),
  neighborhood_hops: nullableKnob(int(1, 2)),
  max_nodes: nullableKnob(int(1, 200)),
  max_edges: nullableKnob(int(1, 100)),
  ranked_limit: nullableKnob(int(1, 500)),
  min_edge_weight: nullableKnob(unit),
  min_edge_confidence: nullableKnob(unit),
  context_token_budget: int(1, 256_000).optional(),
  context_char_budget: int(1, 1_000_000).optional(),
  context_compaction_profile: z.enum(['balanced', 'aggressive']).optional(),
  include_meta: z.boolean().optional(),
  include_slots: z.boolean().optional(),
  include_slots_preview: z.boolean().optional(),
  slots_preview_keys: int(1, 50).optional(),
  return_debug: z.boolean().optional(),
  include_embeddings: z.boolean().optional(),
  rules_context: z.unknown().optional(),
  rules_include_shadow: z.boolean().optional(),
  rules_limit: int(1, 200).optional(),
};
export const recallBody = (dim: number) => z.object({ ...recallCommon, query_embedding: vectorOf(dim) });
export const RecallTextBody = z.object({ ...recallCommon, query_text: str1 });

export const FindBody = z.object({
  ...where,
  uri: str1.optional(),
  id: uuid.optional(),
  client_id: str1.optional(),
  type: z.enum(NODE_TYPES).optional(),
  title_contains: str1.optional(),
  text_contains: str1.optional(),
  memory_lane: z.enum(MEMORY_LANES).optional(),
  slots_contains: jsonObject.optional(),
  consumer_agent_id: str1.optional(),
  consumer_team_id: str1.optional(),
  include_meta: z.boolean().optional(),
  include_slots: z.boolean().optional(),
  include_slots_preview: z.boolean().optional(),
  slots_preview_keys: int(1, 50).optional(),
  limit: int(1, 200).optional(),
  offset: int(0, 200_000).optional(),
});

const sessionId = z.string().min(1).max(128);
export const SessionBody = z.object({
  ...where,
  session_id: sessionId,
  title: z.string().min(1).max(512).optional(),
  text_summary: z.string().min(1).max(4000).optional(),
  input_text: str1.optional(),
  metadata: jsonObject.optional(),
  auto_embed: z.boolean().optional(),
  ...owners,
  actor: str1.optional(),
});

export const EventBody = z
  .object({
    ...where,
    session_id: sessionId,
    event_id: z.string().min(1).max(128).optional(),
    title: z.string().min(1).max(512).optional(),
    text_summary: z.string().min(1).max(4000).optional(),
    input_text: str1.optional(),
    metadata: jsonObject.optional(),
    auto_embed: z.boolean().optional(),
    ...owners,
    edge_weight: unit.optional(),
    edge_confidence: unit.optional(),
    actor: str1.optional(),
  })
  .refine((b) => b.text_summary !== undefined || b.title !== undefined || b.input_text !== undefined, { message: 'one of text_summary, title or input_text is required' });

/** GET query values arrive as strings: numbers as decimals, booleans as true/false (1/0; empty = false; the contract's fix). */
const queryInt = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(int(min, max));
const queryBool = z.enum(['true', 'false', '1', '0', ''], { message: 'must be true or false' }).transform((v) => v === 'true' || v === '1');
/** The session id in the path: trimmed, 1-128 characters. */
export const SessionParams = z.object({ session_id: z.string().trim().min(1, 'must be 1 to 128 characters').max(128, 'must be 1 to 128 characters') });
export const SessionEventsQuery = z.object({
  ...where,
  consumer_agent_id: str1.optional(),
  consumer_team_id: str1.optional(),
  include_meta: queryBool.optional(),
  include_slots: queryBool.optional(),
  include_slots_preview: queryBool.optional(),
  slots_preview_keys: queryInt(1, 50).optional(),
  limit: queryInt(1, 200).optional(),
  offset: queryInt(0, 200_000).optional(),
});

export const PackExportBody = z.object({
  ...where,
  include_nodes: z.boolean().optional(),
  include_edges: z.boolean().optional(),
  include_commits: z.boolean().optional(),
  include_meta: z.boolean().optional(),
  max_rows: int(1, 50_000).optional(),
});

/** Pack rows: `null` is read as absent in every optional field (the contract's §8.4 fix, so an unmodified export re-imports). */
const opt = <T extends z.ZodType>(t: T) => t.nullish();
export const PackNode = z.object({
  id: uuid,
  client_id: opt(str1),
  type: z.enum(NODE_TYPES),
  tier: opt(z.enum(MEMORY_TIERS)),
  memory_lane: opt(z.enum(MEMORY_LANES)),
  producer_agent_id: opt(str1),
  owner_agent_id: opt(str1),
  owner_team_id: opt(str1),
  title: opt(z.string()),
  text_summary: opt(z.string()),
  slots: opt(jsonObject),
  raw_ref: opt(z.string()),
  evidence_ref: opt(z.string()),
  salience: opt(unit),
  importance: opt(unit),
  confidence: opt(unit),
});
export const PackEdge = z.object({
  id: uuid,
  type: z.enum(EDGE_TYPES),
  src_id: uuid,
  dst_id: uuid,
  src_client_id: opt(str1),
  dst_client_id: opt(str1),
  weight: opt(unit),
  confidence: opt(unit),
  decay_rate: opt(unit),
});
export const PackCommit = z.object({
  id: uuid,
  parent_id: opt(uuid),
  input_sha256: opt(hex64),
  actor: opt(z.string()),
  model_version: opt(z.string()),
  prompt_version: opt(z.string()),
  created_at: opt(z.string()),
  commit_hash: opt(z.string()),
});
export const Pack = z.object({
  version: z.literal('aionis_pack_v1'),
  tenant_id: str1,
  scope: str1,
  nodes: z.array(PackNode).optional(),
  edges: z.array(PackEdge).optional(),
  commits: z.array(PackCommit).optional(),
});
export const PackImportBody = z.object({
  ...where,
  pack: Pack,
  manifest_sha256: hex64.optional(),
  verify_only: z.boolean().optional(),
  auto_embed: z.boolean().optional(),
  actor: str1.optional(),
});

const idLists = {
  node_ids: z.array(uuid).min(1).max(200).optional(),
  client_ids: z.array(str1).min(1).max(200).optional(),
};
const needIds = (b: { node_ids?: unknown; client_ids?: unknown }) => b.node_ids !== undefined || b.client_ids !== undefined;
const needInput = (b: { input_text?: unknown; input_sha256?: unknown }) => b.input_text !== undefined || b.input_sha256 !== undefined;

export const RehydrateBody = z
  .object({ ...where, ...idLists, target_tier: z.enum(['warm', 'hot']).optional(), reason: str1.optional(), ...inputs, actor: str1.optional() })
  .refine(needIds, { message: 'one of node_ids / client_ids is required' })
  .refine(needInput, { message: 'one of input_text / input_sha256 is required' });

export const ActivateBody = z
  .object({
    ...where,
    ...idLists,
    run_id: str1.optional(),
    outcome: z.enum(['positive', 'negative', 'neutral']).optional(),
    activate: z.boolean().optional(),
    reason: str1.optional(),
    ...inputs,
    actor: str1.optional(),
  })
  .refine(needIds, { message: 'one of node_ids / client_ids is required' })
  .refine(needInput, { message: 'one of input_text / input_sha256 is required' });

export const VerifyBody = z.object({ ...where });
export const CommitsQuery = z.object({ ...where, limit: queryInt(1, 500).optional(), cursor: cursorParam.optional() });

// Memory -> Policy (contract §2.11-§2.15)
const OUTCOMES = ['positive', 'negative', 'neutral'] as const;
const candidateList = z.array(str1).min(1).max(200);

export const RulesEvaluateBody = z.object({ ...where, context: z.unknown().optional(), include_shadow: z.boolean().optional(), limit: int(1, 200).optional() });

export const ToolsSelectBody = z.object({
  ...where,
  context: z.unknown().optional(),
  candidates: candidateList,
  run_id: str1.optional(),
  include_shadow: z.boolean().optional(),
  rules_limit: int(1, 200).optional(),
  strict: z.boolean().optional(),
});

export const ToolsFeedbackBody = z
  .object({
    ...where,
    outcome: z.enum(OUTCOMES),
    context: z.unknown().optional(),
    candidates: candidateList,
    // Trimmed (§6.2 step 1); a blank name would record feedback on no tool at all.
    selected_tool: str1.refine((t) => t.trim() !== '', { message: 'must contain text other than whitespace' }),
    run_id: str1.optional(),
    decision_id: uuid.optional(),
    include_shadow: z.boolean().optional(),
    rules_limit: int(1, 200).optional(),
    target: z.enum(['tool', 'all']).optional(),
    note: str1.optional(),
    ...inputs,
    actor: str1.optional(),
  })
  .refine(needInput, { message: 'one of input_text / input_sha256 is required' });

export const RuleStateBody = z
  .object({ ...where, rule_node_id: uuid, state: z.enum(['draft', 'shadow', 'active', 'disabled']), ...inputs, actor: str1.optional() })
  .refine(needInput, { message: 'one of input_text / input_sha256 is required' });

export const FeedbackBody = z
  .object({ ...where, rule_node_id: uuid, outcome: z.enum(OUTCOMES), run_id: str1.optional(), note: str1.optional(), ...inputs, actor: str1.optional() })
  .refine(needInput, { message: 'one of input_text / input_sha256 is required' });
