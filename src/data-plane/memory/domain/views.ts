import { float32Shortest } from '../recall/float32';
import { formatUri } from './uri';

/**
 * The node views of find, session events and packs (contract §2.5, §2.8, §8.1), from stored rows.
 * Timestamps in PostgreSQL's text form (§1.10); reals in their shortest float32 form. Pure.
 */
export interface ViewNode {
  readonly id: string;
  readonly scope: string;
  readonly client_id: string | null;
  readonly type: string;
  readonly tier: string;
  readonly title: string | null;
  readonly text_summary: string | null;
  readonly slots: Readonly<Record<string, unknown>>;
  readonly raw_ref: string | null;
  readonly evidence_ref: string | null;
  readonly embedding_status: string;
  readonly embedding_model: string | null;
  readonly memory_lane: string;
  readonly producer_agent_id: string | null;
  readonly owner_agent_id: string | null;
  readonly owner_team_id: string | null;
  readonly salience: number;
  readonly importance: number;
  readonly confidence: number;
  readonly commit_id: string;
  readonly pg: { readonly created_at: string; readonly updated_at: string; readonly last_activated: string | null };
}

export interface SlotOptions {
  readonly include_slots: boolean;
  readonly include_slots_preview: boolean;
  readonly slots_preview_keys: number;
}

/** `slots` (wins) or `slots_preview`: the first N keys of slots in sorted order. */
export function slotFields(slots: unknown, o: SlotOptions): Record<string, unknown> {
  if (o.include_slots) return { slots };
  if (!o.include_slots_preview) return {};
  if (slots === null || typeof slots !== 'object' || Array.isArray(slots)) return { slots_preview: null };
  const s = slots as Record<string, unknown>;
  return { slots_preview: Object.fromEntries(Object.keys(s).sort().slice(0, o.slots_preview_keys).map((k) => [k, s[k]])) };
}

/** find's topic fields: state (default active) and member_count when slots.member_count is all digits. */
export function topicFields(n: Pick<ViewNode, 'type' | 'slots'>): Record<string, unknown> {
  if (n.type !== 'topic') return {};
  const state = n.slots.topic_state;
  const mc = n.slots.member_count;
  return { topic_state: typeof state === 'string' && state !== '' ? state : 'active', member_count: (typeof mc === 'number' || typeof mc === 'string') && /^\d+$/.test(String(mc)) ? Number(mc) : null };
}

/** find's meta set; session events drop `tier`. */
export function metaFields(n: ViewNode, withTier: boolean): Record<string, unknown> {
  return {
    ...(withTier ? { tier: n.tier } : {}),
    memory_lane: n.memory_lane,
    producer_agent_id: n.producer_agent_id,
    owner_agent_id: n.owner_agent_id,
    owner_team_id: n.owner_team_id,
    embedding_status: n.embedding_status,
    embedding_model: n.embedding_model,
    raw_ref: n.raw_ref,
    evidence_ref: n.evidence_ref,
    created_at: n.pg.created_at,
    updated_at: n.pg.updated_at,
    last_activated: n.pg.last_activated,
    salience: float32Shortest(n.salience),
    importance: float32Shortest(n.importance),
    confidence: float32Shortest(n.confidence),
    commit_id: n.commit_id,
  };
}

export interface ViewOptions extends SlotOptions {
  readonly include_meta: boolean;
}

export function findNodeView(tenantId: string, n: ViewNode, o: ViewOptions): Record<string, unknown> {
  return {
    uri: formatUri(tenantId, n.scope, n.type, n.id),
    id: n.id,
    client_id: n.client_id,
    type: n.type,
    title: n.title,
    text_summary: n.text_summary,
    ...topicFields(n),
    ...slotFields(n.slots, o),
    ...(o.include_meta ? metaFields(n, true) : {}),
  };
}

export function eventView(tenantId: string, n: ViewNode & { edge_weight: number; edge_confidence: number }, o: ViewOptions): Record<string, unknown> {
  const eventId = n.slots.event_id;
  return {
    uri: formatUri(tenantId, n.scope, n.type, n.id),
    id: n.id,
    client_id: n.client_id,
    event_id: typeof eventId === 'string' ? eventId : null,
    type: n.type,
    title: n.title,
    text_summary: n.text_summary,
    edge_weight: float32Shortest(n.edge_weight),
    edge_confidence: float32Shortest(n.edge_confidence),
    ...slotFields(n.slots, o),
    ...(o.include_meta ? metaFields(n, false) : {}),
  };
}

export const page = (limit: number, offset: number, rowsPlusOne: number) => ({ limit, offset, returned: Math.min(limit, rowsPlusOne), has_more: rowsPlusOne > limit });
