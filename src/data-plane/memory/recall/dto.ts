import { createHash } from 'node:crypto';
import { float32Shortest } from './float32';
import { isRecord, topicState } from './seeds';
import { type EdgeType, type GraphEdge, type GraphNode, type NodeType, type RankedNode, type SeedCandidate } from './types';

/**
 * Response shapes of `/recall` and `/recall_text` (contract §2.3). Whitelisted: embeddings and
 * edge confidence are never exposed; node and edge reals are printed in float32 shortest form.
 */

export interface SeedDto {
  readonly id: string;
  readonly type: NodeType;
  readonly title: string | null;
  readonly text_summary: string | null;
  readonly tier: GraphNode['tier'];
  readonly salience: number;
  readonly confidence: number;
  readonly similarity: number;
}

export function seedDto(seed: SeedCandidate): SeedDto {
  const { node } = seed;
  return {
    id: node.id,
    type: node.type,
    title: node.title,
    text_summary: node.text_summary,
    tier: node.tier,
    salience: float32Shortest(node.salience),
    confidence: float32Shortest(node.confidence),
    similarity: seed.similarity,
  };
}

export interface NodeDtoOptions {
  readonly includeMeta?: boolean;
  readonly includeSlots?: boolean;
  readonly includeSlotsPreview?: boolean;
  /** `slots_preview_keys`, default 10. */
  readonly slotsPreviewKeys?: number;
}

export const DEFAULT_SLOTS_PREVIEW_KEYS = 10;

export interface NodeMetaDto {
  readonly raw_ref: string | null;
  readonly evidence_ref: string | null;
  readonly embedding_status: GraphNode['embedding_status'];
  readonly embedding_model: string | null;
  readonly memory_lane: GraphNode['memory_lane'];
  readonly producer_agent_id: string | null;
  readonly owner_agent_id: string | null;
  readonly owner_team_id: string | null;
  readonly created_at: string;
  readonly updated_at: string;
  readonly last_activated: string | null;
  readonly salience: number;
  readonly importance: number;
  readonly confidence: number;
  readonly commit_id: string;
}

export interface NodeDto extends Partial<NodeMetaDto> {
  readonly id: string;
  readonly type: NodeType;
  readonly title: string | null;
  readonly text_summary: string | null;
  readonly topic_state?: string;
  readonly member_count?: number | null;
  readonly slots?: unknown;
  readonly slots_preview?: Readonly<Record<string, unknown>> | null;
}

/** NodeDTO: the four basics, topic fields for topics, then slots (full wins over preview), then meta. */
export function nodeDto(node: GraphNode, options: NodeDtoOptions = {}): NodeDto {
  return {
    id: node.id,
    type: node.type,
    title: node.title,
    text_summary: node.text_summary,
    ...(node.type === 'topic' ? { topic_state: topicState(node), member_count: memberCount(node.slots) } : {}),
    ...slotFields(node.slots, options),
    ...(options.includeMeta === true ? nodeMeta(node) : {}),
  };
}

function slotFields(slots: unknown, options: NodeDtoOptions): Pick<NodeDto, 'slots' | 'slots_preview'> {
  if (options.includeSlots === true) return { slots };
  if (options.includeSlotsPreview === true) return { slots_preview: slotsPreview(slots, options.slotsPreviewKeys ?? DEFAULT_SLOTS_PREVIEW_KEYS) };
  return {};
}

/** The first `keys` slot keys in sorted (code-unit) order with their values; null for a non-object. */
export function slotsPreview(slots: unknown, keys: number): Readonly<Record<string, unknown>> | null {
  if (!isRecord(slots)) return null;
  const preview: Record<string, unknown> = {};
  for (const key of Object.keys(slots).sort().slice(0, Math.max(0, keys))) preview[key] = slots[key];
  return preview;
}

/**
 * A topic's `member_count`: an integer, or null when the slot is absent, empty or not an integer.
 * A numeric string is read the way a database integer cast reads it. The original failed the
 * whole recall on a non-integer ("many", 2.5); null keeps one odd topic from sinking the answer.
 */
export function memberCount(slots: unknown): number | null {
  const value = isRecord(slots) ? slots['member_count'] : undefined;
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : null;
  if (typeof value === 'string' && /^\s*[+-]?\d+\s*$/.test(value)) {
    const parsed = Number(value.trim());
    return Number.isSafeInteger(parsed) ? parsed : null;
  }
  return null;
}

export function nodeMeta(node: GraphNode): NodeMetaDto {
  return {
    raw_ref: node.raw_ref,
    evidence_ref: node.evidence_ref,
    embedding_status: node.embedding_status,
    embedding_model: node.embedding_model,
    memory_lane: node.memory_lane,
    producer_agent_id: node.producer_agent_id,
    owner_agent_id: node.owner_agent_id,
    owner_team_id: node.owner_team_id,
    created_at: isoMillis(node.created_at),
    updated_at: isoMillis(node.updated_at),
    last_activated: node.last_activated === null ? null : isoMillis(node.last_activated),
    salience: float32Shortest(node.salience),
    importance: float32Shortest(node.importance),
    confidence: float32Shortest(node.confidence),
    commit_id: node.commit_id,
  };
}

const ISO_MILLIS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const PG_TIMESTAMPTZ = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d+)?([+-]\d{2})(?::?(\d{2}))?$/;

/**
 * A timestamp as ISO-8601 UTC with milliseconds (§1.10). Accepts that form, PostgreSQL's text
 * form (`2026-02-20 09:14:03.512904+00`, digits past the millisecond truncated) and anything
 * `Date` parses; an unparseable string is returned unchanged rather than failing the recall.
 */
export function isoMillis(value: string): string {
  if (ISO_MILLIS.test(value)) return value;
  const pg = PG_TIMESTAMPTZ.exec(value);
  const normalized = pg === null ? value : `${pg[1]}T${pg[2]}${(pg[3] ?? '').slice(0, 4)}${pg[4]}:${pg[5] ?? '00'}`;
  const ms = Date.parse(normalized);
  return Number.isNaN(ms) ? value : new Date(ms).toISOString();
}

export interface EdgeDto {
  readonly from_id: string;
  readonly to_id: string;
  readonly type: EdgeType;
  readonly weight: number;
  readonly commit_id?: string;
}

/** EdgeDTO: confidence stays internal; `commit_id` only with `include_meta`. */
export function edgeDto(edge: GraphEdge, options: { readonly includeMeta?: boolean } = {}): EdgeDto {
  return {
    from_id: edge.src_id,
    to_id: edge.dst_id,
    type: edge.type,
    weight: float32Shortest(edge.weight),
    ...(options.includeMeta === true ? { commit_id: edge.commit_id } : {}),
  };
}

export interface RankedDto {
  readonly id: string;
  readonly activation: number;
  readonly score: number;
}

/** `ranked`: the first `rankedLimit` entries of `rankedAll`. */
export function rankedDtos(rankedAll: readonly RankedNode[], rankedLimit: number): RankedDto[] {
  return rankedAll.slice(0, Math.max(0, rankedLimit)).map(({ id, activation, score }) => ({ id, activation, score }));
}

// ---------------------------------------------------------------------------------------------
// Debug embeddings (§3.6): the only channel through which vectors leave the server.

export type DebugEmbeddingsError =
  | 'debug_embeddings_requires_return_debug'
  | 'debug_embeddings_not_allowed'
  | 'debug_embeddings_limit_too_high'
  | 'debug_embeddings_too_large';

export const DEBUG_EMBEDDINGS_MAX_LIMIT = 20;
export const DEBUG_EMBEDDINGS_SEEDS = 5;
export const DEBUG_EMBEDDINGS_PREVIEW = 16;
export const DEBUG_EMBEDDINGS_MAX_BYTES = 64 * 1024;

/**
 * Privileged caller (§3.6 rule 2): the admin token matched, or no admin token is configured and
 * a non-production server is reached from loopback.
 */
export function isDebugEmbeddingsPrivileged(caller: {
  readonly adminTokenConfigured: boolean;
  readonly adminTokenMatches: boolean;
  readonly production: boolean;
  readonly loopback: boolean;
}): boolean {
  if (caller.adminTokenConfigured) return caller.adminTokenMatches;
  return !caller.production && caller.loopback;
}

/**
 * Rules 1-3 of §3.6 in their order; null when the request may proceed (or did not ask). `limit`
 * is the resolved knob (after profile and strategy defaulting), so the default 24 is too high.
 */
export function debugEmbeddingsRequestError(request: {
  readonly includeEmbeddings: boolean;
  readonly returnDebug: boolean;
  readonly privileged: boolean;
  readonly limit: number;
}): DebugEmbeddingsError | null {
  if (!request.includeEmbeddings) return null;
  if (!request.returnDebug) return 'debug_embeddings_requires_return_debug';
  if (!request.privileged) return 'debug_embeddings_not_allowed';
  if (request.limit > DEBUG_EMBEDDINGS_MAX_LIMIT) return 'debug_embeddings_limit_too_high';
  return null;
}

export interface DebugEmbedding {
  readonly node_id: string;
  readonly dims: number;
  readonly sha256: string;
  readonly preview: readonly number[];
}

export type DebugEmbeddingsResult =
  | { readonly ok: true; readonly embeddings: readonly DebugEmbedding[] }
  | { readonly ok: false; readonly error: 'debug_embeddings_too_large' };

/**
 * `debug.embeddings`: one entry for each of the first 5 seeds (in seed order) that has a vector.
 * Components are float32 in storage, so they are printed in shortest float32 form; `sha256` is
 * over the canonical text `[v1,v2,…]`. Over 64 KiB of JSON is refused (rule 5).
 */
export function debugEmbeddings(seedVectors: readonly { readonly node_id: string; readonly embedding: readonly number[] | null }[]): DebugEmbeddingsResult {
  const embeddings = seedVectors
    .filter((seed): seed is { readonly node_id: string; readonly embedding: readonly number[] } => seed.embedding !== null)
    .slice(0, DEBUG_EMBEDDINGS_SEEDS)
    .map(({ node_id, embedding }): DebugEmbedding => {
      const vector = embedding.map(float32Shortest);
      return {
        node_id,
        dims: vector.length,
        sha256: createHash('sha256').update(JSON.stringify(vector), 'utf8').digest('hex'),
        preview: vector.slice(0, DEBUG_EMBEDDINGS_PREVIEW),
      };
    });
  if (Buffer.byteLength(JSON.stringify(embeddings), 'utf8') > DEBUG_EMBEDDINGS_MAX_BYTES) return { ok: false, error: 'debug_embeddings_too_large' };
  return { ok: true, embeddings };
}
