import { AppError, type FieldError } from '../../../platform/errors/app-error';
import { sha256Hex } from '../../../platform/event-store/canonical-json';
import { writeCommitHash } from './commit';
import { MAX_CLIENT_ID_BYTES, MAX_SCOPE_BYTES } from './identity';
import { edgeIdOf, type Namespace, nodeIdFromClientId, nodeIdFromContent, scopeKey } from './ids';
import type { EdgeType, EmbeddingStatus, MemoryLane, MemoryTier, NodeType, RuleScope } from './model';
import { prepareText, type RedactionCounts, redactJson, type TextPolicy } from './text';

/**
 * The write model of the memory kernel, pure (contract §1.7-§1.9, §2.2). `prepareWrite` turns a
 * validated request into ids, normalised and redacted content, resolved edges and the commit's
 * diff; it needs nothing stored. `planWrite` adds what the database knows (existing nodes, the
 * parent commit) and decides: which rows to insert, which embeddings to derive, the commit hash,
 * and the response. Every rule of the write lives here; the handler only loads and applies.
 */

// ---------------------------------------------------------------------------------------------
// Request (validated by the route's schema; values exactly as sent, unknown keys removed)

export interface EndpointInput {
  readonly id?: string | undefined;
  readonly client_id?: string | undefined;
}

export interface WriteNodeInput {
  readonly id?: string | undefined;
  readonly client_id?: string | undefined;
  readonly scope?: string | undefined;
  readonly type: NodeType;
  readonly tier?: MemoryTier | undefined;
  readonly memory_lane?: MemoryLane | undefined;
  readonly producer_agent_id?: string | undefined;
  readonly owner_agent_id?: string | undefined;
  readonly owner_team_id?: string | undefined;
  readonly title?: string | undefined;
  readonly text_summary?: string | undefined;
  readonly slots?: Readonly<Record<string, unknown>> | undefined;
  readonly raw_ref?: string | undefined;
  readonly evidence_ref?: string | undefined;
  readonly embedding?: readonly number[] | undefined;
  readonly embedding_model?: string | undefined;
  readonly salience?: number | undefined;
  readonly importance?: number | undefined;
  readonly confidence?: number | undefined;
}

export interface WriteEdgeInput {
  readonly id?: string | undefined;
  readonly scope?: string | undefined;
  readonly type: EdgeType;
  readonly src: EndpointInput;
  readonly dst: EndpointInput;
  readonly weight?: number | undefined;
  readonly confidence?: number | undefined;
  readonly decay_rate?: number | undefined;
}

export interface WriteInput {
  readonly actor?: string | undefined;
  readonly parent_commit_id?: string | undefined;
  readonly input_text?: string | undefined;
  readonly input_sha256?: string | undefined;
  readonly model_version?: string | undefined;
  readonly prompt_version?: string | undefined;
  readonly auto_embed?: boolean | undefined;
  readonly force_reembed?: boolean | undefined;
  readonly memory_lane?: MemoryLane | undefined;
  readonly producer_agent_id?: string | undefined;
  readonly owner_agent_id?: string | undefined;
  readonly owner_team_id?: string | undefined;
  readonly nodes?: readonly WriteNodeInput[] | undefined;
  readonly edges?: readonly WriteEdgeInput[] | undefined;
}

export interface WriteSettings {
  /** The request's namespace (tenant from the key, project, trimmed request scope). */
  readonly ns: Namespace;
  readonly text: TextPolicy;
  /** An embedding provider is configured (auto_embed has an effect only then). */
  readonly embeddingsEnabled: boolean;
  /** Default actor of the route (`system`, `session_api`, `event_api`, `pack_import`). */
  readonly defaultActor: string;
}

// ---------------------------------------------------------------------------------------------
// Prepared write

export interface RuleSeed {
  readonly if_json: unknown;
  readonly then_json: unknown;
  readonly exceptions_json: unknown;
  readonly rule_scope: RuleScope;
  readonly target_agent_id: string | null;
  readonly target_team_id: string | null;
}

export interface PreparedNode {
  readonly id: string;
  readonly client_id: string | null;
  /** Whether the request named the id itself (only such ids can collide with another scope's). */
  readonly explicit_id: boolean;
  readonly scope: string;
  readonly type: NodeType;
  readonly tier: MemoryTier;
  readonly title: string | null;
  readonly text_summary: string | null;
  readonly slots: Record<string, unknown>;
  readonly raw_ref: string | null;
  readonly evidence_ref: string | null;
  readonly memory_lane: MemoryLane;
  readonly producer_agent_id: string | null;
  readonly owner_agent_id: string | null;
  readonly owner_team_id: string | null;
  readonly salience: number;
  readonly importance: number;
  readonly confidence: number;
  readonly embedding: readonly number[] | null;
  readonly embedding_model: string | null;
  /** The text an embedding would be derived from (§1.8), null when there is none. */
  readonly embed_text: string | null;
  readonly rule: RuleSeed | null;
}

export interface PreparedEdge {
  readonly id: string;
  readonly scope: string;
  readonly type: EdgeType;
  readonly src_id: string;
  readonly dst_id: string;
  readonly weight: number;
  readonly confidence: number;
  readonly decay_rate: number;
}

/** An endpoint given by id that is not a node of this request: the database must hold it. */
interface StoredEndpointCheck {
  readonly edge: number;
  readonly end: 'src' | 'dst';
  readonly id: string;
  readonly scope: string;
}

export interface PreparedWrite {
  readonly ns: Namespace;
  readonly scopeKey: string;
  readonly actor: string;
  readonly inputSha: string;
  readonly modelVersion: string | null;
  readonly promptVersion: string | null;
  readonly parentCommitId: string | null;
  readonly autoEmbed: boolean;
  readonly forceReembed: boolean;
  /** In request order (the response and the diff list every node as sent). */
  readonly nodes: readonly PreparedNode[];
  readonly edges: readonly PreparedEdge[];
  readonly diff: WriteDiff;
  readonly storedEndpoints: readonly StoredEndpointCheck[];
  readonly response: { nodes: { id: string; client_id?: string; type: NodeType }[]; edges: { id: string; type: EdgeType; src_id: string; dst_id: string }[] };
}

export interface WriteDiff {
  readonly redaction: RedactionCounts;
  readonly nodes: readonly {
    id: string;
    client_id: string | undefined;
    type: NodeType;
    title: string | undefined;
    memory_lane: MemoryLane;
    producer_agent_id: string | null;
    owner_agent_id: string | null;
    owner_team_id: string | null;
  }[];
  readonly edges: readonly { id: string; type: EdgeType; src_id: string; dst_id: string }[];
}

const invalid = (errors: FieldError[]): AppError =>
  new AppError('validation_failed', `${errors.length} invalid field(s): ${errors.map((e) => e.field).join(', ')}`, { errors });

/** Slot keys the service itself writes on session and event nodes; never redacted (contract §1.7 fix). */
const SYSTEM_SLOT_KEYS: ReadonlySet<string> = new Set(['system_kind', 'session_id', 'event_id']);
const isSystemNode = (slots: Readonly<Record<string, unknown>> | undefined): boolean => slots?.system_kind === 'session' || slots?.system_kind === 'session_event';

/** §1.8: the text an embedding is derived from. */
export function embeddableText(type: NodeType, title: string | null, summary: string | null, inputText: string | null): string | null {
  const first = (...xs: (string | null)[]) => xs.find((x): x is string => x !== null && x !== '') ?? null;
  switch (type) {
    case 'event':
    case 'evidence':
      return first(summary, title, inputText);
    case 'entity':
    case 'topic':
    case 'concept':
      return first(title, summary);
    case 'rule':
    case 'procedure':
    case 'self_model':
      return first(summary, title);
  }
}

const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v : null);

/** §5.1: the rule definition a rule node's slots describe. */
export function ruleSeedOf(slots: Readonly<Record<string, unknown>>): RuleSeed {
  const scope = typeof slots.rule_scope === 'string' ? slots.rule_scope.toLowerCase() : 'global';
  return {
    if_json: slots.if === undefined ? {} : slots.if,
    then_json: slots.then === undefined ? {} : slots.then,
    exceptions_json: slots.exceptions === undefined ? [] : slots.exceptions,
    rule_scope: scope === 'team' || scope === 'agent' ? scope : 'global',
    target_agent_id: str(slots.target_agent_id),
    target_team_id: str(slots.target_team_id),
  };
}

/** Tidy the text fields of a node: normalised and redacted; text that normalises to nothing is absent. */
function text(v: string | undefined, policy: TextPolicy, counts: RedactionCounts): string | null {
  if (v === undefined) return null;
  const t = prepareText(v, policy, counts);
  return t === '' ? null : t;
}

export function prepareWrite(req: WriteInput, s: WriteSettings): PreparedWrite {
  const errors: FieldError[] = [];
  const counts: RedactionCounts = {};
  const key = scopeKey(s.ns);

  let inputText: string | null = null;
  if (req.input_text !== undefined) {
    inputText = prepareText(req.input_text, s.text, counts);
    if (inputText === '') errors.push({ field: 'body.input_text', message: 'must contain text other than whitespace' });
  }
  if (req.input_text === undefined && req.input_sha256 === undefined) errors.push({ field: 'body', message: 'one of input_text / input_sha256 is required' });
  const inputSha = req.input_sha256 ?? sha256Hex(inputText ?? '');
  const autoEmbed = (req.auto_embed ?? true) && s.embeddingsEnabled;

  const nodes: PreparedNode[] = [];
  const byClientId = new Map<string, PreparedNode>();
  (req.nodes ?? []).forEach((n, i) => {
    const at = `body.nodes.${i}`;
    const scope = n.scope !== undefined ? n.scope.trim() : s.ns.scope;
    if (scope === '') errors.push({ field: `${at}.scope`, message: 'must not be empty after trimming' });
    const nodeKey = scopeKey({ ...s.ns, scope });
    const clientId = n.client_id?.trim();
    if (clientId === '') errors.push({ field: `${at}.client_id`, message: 'must contain text other than whitespace' });
    if (clientId !== undefined && Buffer.byteLength(clientId, 'utf8') > MAX_CLIENT_ID_BYTES) errors.push({ field: `${at}.client_id`, message: `must be at most ${MAX_CLIENT_ID_BYTES} bytes of UTF-8` });
    if (Buffer.byteLength(scope, 'utf8') > MAX_SCOPE_BYTES) errors.push({ field: `${at}.scope`, message: `must be at most ${MAX_SCOPE_BYTES} bytes of UTF-8` });
    let id: string;
    if (n.id !== undefined) {
      id = n.id.toLowerCase();
      if (clientId && nodeIdFromClientId(nodeKey, clientId) !== id) errors.push({ field: `${at}.id`, message: 'differs from the id its client_id derives; give one of them' });
    } else if (clientId) id = nodeIdFromClientId(nodeKey, clientId);
    else id = nodeIdFromContent(nodeKey, n);

    const title = text(n.title, s.text, counts);
    const summary = text(n.text_summary, s.text, counts);
    const slots = (redactionOf(n.slots, s.text.redaction, counts) ?? {}) as Record<string, unknown>;
    const producer = n.producer_agent_id ?? req.producer_agent_id ?? null;
    const lane = n.memory_lane ?? req.memory_lane ?? 'private';
    const ownerAgent = n.owner_agent_id ?? req.owner_agent_id ?? producer;
    const ownerTeam = n.owner_team_id ?? req.owner_team_id ?? null;
    const embedText = embeddableText(n.type, title, summary, inputText);
    const embeddingModel = n.embedding_model !== undefined ? text(n.embedding_model, s.text, counts) : null;

    let rule: RuleSeed | null = null;
    if (n.type === 'rule') {
      if (lane === 'private' && ownerAgent === null && ownerTeam === null) {
        throw new AppError('invalid_private_rule_owner', 'a private rule node needs owner_agent_id or owner_team_id', { node_id: id, client_id: clientId ?? null, memory_lane: lane, type: n.type });
      }
      rule = ruleSeedOf(slots);
      if ((rule.rule_scope === 'agent' && rule.target_agent_id === null) || (rule.rule_scope === 'team' && rule.target_team_id === null)) {
        throw new AppError('invalid_rule_scope_target', `a rule with rule_scope "${rule.rule_scope}" needs slots.target_${rule.rule_scope}_id`, { node_id: id, rule_scope: rule.rule_scope });
      }
    }
    const node: PreparedNode = {
      id,
      client_id: clientId ?? null,
      explicit_id: n.id !== undefined,
      scope,
      type: n.type,
      tier: n.tier ?? 'hot',
      title,
      text_summary: summary,
      slots,
      raw_ref: n.raw_ref ?? null,
      evidence_ref: n.evidence_ref ?? null,
      memory_lane: lane,
      producer_agent_id: producer,
      owner_agent_id: ownerAgent,
      owner_team_id: ownerTeam,
      salience: n.salience ?? 0.5,
      importance: n.importance ?? 0.5,
      confidence: n.confidence ?? 0.5,
      embedding: n.embedding ?? null,
      embedding_model: n.embedding !== undefined ? (embeddingModel ?? 'client') : null,
      embed_text: embedText,
      rule,
    };
    nodes.push(node);
    if (clientId && !byClientId.has(clientId)) byClientId.set(clientId, node);
  });

  const edgeX = inputText ?? req.input_sha256 ?? 'noinput';
  const edges: PreparedEdge[] = [];
  const storedEndpoints: StoredEndpointCheck[] = [];
  (req.edges ?? []).forEach((e, i) => {
    const at = `body.edges.${i}`;
    const scope = e.scope !== undefined ? e.scope.trim() : s.ns.scope;
    if (scope === '') errors.push({ field: `${at}.scope`, message: 'must not be empty after trimming' });
    if (Buffer.byteLength(scope, 'utf8') > MAX_SCOPE_BYTES) errors.push({ field: `${at}.scope`, message: `must be at most ${MAX_SCOPE_BYTES} bytes of UTF-8` });
    const resolve = (end: 'src' | 'dst'): string | null => {
      const ref = e[end];
      if (ref.id !== undefined) {
        const id = ref.id.toLowerCase();
        const inBatch = nodes.find((n) => n.id === id);
        if (inBatch) {
          if (inBatch.scope !== scope) throw crossScope(i, end, id, inBatch.scope, scope);
        } else storedEndpoints.push({ edge: i, end, id, scope });
        return id;
      }
      const cid = (ref.client_id ?? '').trim();
      const node = byClientId.get(cid);
      if (!node) {
        throw new AppError('edge_endpoint_not_found', `edges.${i}.${end}.client_id "${cid}" is not a node of this request (link an existing node by its id, or repeat it in nodes)`, {
          edge_index: i,
          end,
          client_id: cid,
        });
      }
      if (node.scope !== scope) throw crossScope(i, end, node.id, node.scope, scope);
      return node.id;
    };
    const src = resolve('src');
    const dst = resolve('dst');
    if (src === null || dst === null) return;
    if (src === dst) throw new AppError('edge_self_loop', `edges.${i} links node ${src} to itself`, { edge_index: i, node_id: src });
    const ref = (x: EndpointInput) => x.id ?? x.client_id ?? '';
    const edgeKey = scopeKey({ ...s.ns, scope });
    edges.push({
      id: e.id?.toLowerCase() ?? edgeIdOf(edgeKey, edgeX, e.type, ref(e.src), ref(e.dst)),
      scope,
      type: e.type,
      src_id: src,
      dst_id: dst,
      weight: e.weight ?? 0.5,
      confidence: e.confidence ?? 0.5,
      decay_rate: e.decay_rate ?? 0.01,
    });
  });
  if (errors.length > 0) throw invalid(errors);

  const diff: WriteDiff = {
    redaction: counts,
    nodes: nodes.map((n) => ({
      id: n.id,
      client_id: n.client_id ?? undefined,
      type: n.type,
      title: n.title ?? undefined,
      memory_lane: n.memory_lane,
      producer_agent_id: n.producer_agent_id,
      owner_agent_id: n.owner_agent_id,
      owner_team_id: n.owner_team_id,
    })),
    edges: edges.map((e) => ({ id: e.id, type: e.type, src_id: e.src_id, dst_id: e.dst_id })),
  };
  return {
    ns: s.ns,
    scopeKey: key,
    actor: req.actor ?? s.defaultActor,
    inputSha,
    modelVersion: req.model_version ?? null,
    promptVersion: req.prompt_version ?? null,
    parentCommitId: req.parent_commit_id?.toLowerCase() ?? null,
    autoEmbed,
    forceReembed: req.force_reembed ?? false,
    nodes,
    edges,
    diff,
    storedEndpoints,
    response: {
      nodes: nodes.map((n) => ({ id: n.id, ...(n.client_id !== null ? { client_id: n.client_id } : {}), type: n.type })),
      edges: diff.edges.map((e) => ({ ...e })),
    },
  };
}

function redactionOf(slots: Readonly<Record<string, unknown>> | undefined, on: boolean, counts: RedactionCounts): unknown {
  if (slots === undefined) return undefined;
  if (!on) return slots;
  return redactJson(slots, counts, isSystemNode(slots) ? SYSTEM_SLOT_KEYS : new Set());
}

function crossScope(edge: number, end: 'src' | 'dst', nodeId: string, nodeScope: string, edgeScope: string): AppError {
  return new AppError('cross_scope_edge', `edges.${edge}.${end} is node ${nodeId} of scope "${nodeScope}", but the edge belongs to scope "${edgeScope}"; edges never cross scopes`, {
    edge_index: edge,
    end,
    node_id: nodeId,
    node_scope: nodeScope,
    edge_scope: edgeScope,
  });
}

// ---------------------------------------------------------------------------------------------
// Plan

/** What the database holds that the write depends on, loaded inside the write's transaction. */
export interface WriteSnapshot {
  /** Nodes of the tenant and project whose ids this write names (batch ids and id endpoints), in any scope. */
  readonly nodes: ReadonlyMap<string, { readonly scope: string; readonly embedding_status: EmbeddingStatus }>;
  /** The commit `parent_commit_id` names, if it is a commit of the request's scope; null if not found. */
  readonly parent: { readonly commit_id: string; readonly commit_hash: string } | null;
}

export interface NodeRowPlan extends PreparedNode {
  readonly embedding_status: EmbeddingStatus;
}

export interface WritePlan {
  readonly commit: {
    readonly parent_id: string | null;
    readonly parent_hash: string;
    readonly commit_hash: string;
    readonly diff: WriteDiff;
    readonly diff_sha256: string;
    readonly input_sha256: string;
    readonly actor: string;
    readonly model_version: string | null;
    readonly prompt_version: string | null;
  };
  /** New nodes, first occurrence of each id (the database still inserts only if absent). */
  readonly insertNodes: readonly NodeRowPlan[];
  readonly ruleDefs: readonly { readonly node: NodeRowPlan; readonly seed: RuleSeed }[];
  /** One row per (scope, type, src, dst), weights and confidences merged as the upsert merges them. */
  readonly upsertEdges: readonly PreparedEdge[];
  /** Nodes whose embedding is to be derived (the job's payload), and those already stored whose status becomes pending. */
  readonly embed: readonly { readonly id: string; readonly scope: string; readonly text: string }[];
  readonly markPending: readonly { readonly id: string; readonly scope: string }[];
}

export function planWrite(p: PreparedWrite, snap: WriteSnapshot): WritePlan {
  if (p.parentCommitId !== null && snap.parent === null) {
    throw new AppError('parent_commit_not_found', `parent_commit_id ${p.parentCommitId} is not a commit of this scope`, { parent_commit_id: p.parentCommitId });
  }
  for (const n of p.nodes) {
    const stored = snap.nodes.get(n.id);
    if (n.explicit_id && stored && stored.scope !== n.scope) {
      throw new AppError('node_id_conflict', `node id ${n.id} already exists in another scope`, { node_id: n.id });
    }
  }
  for (const c of p.storedEndpoints) {
    const stored = snap.nodes.get(c.id);
    if (!stored) throw new AppError('edge_endpoint_not_found', `edges.${c.edge}.${c.end}.id ${c.id} is not a node of this scope`, { edge_index: c.edge, end: c.end, node_id: c.id });
    if (stored.scope !== c.scope) throw crossScope(c.edge, c.end, c.id, stored.scope, c.scope);
  }

  const parentHash = snap.parent?.commit_hash ?? '';
  const { commitHash, diffSha } = writeCommitHash({
    parentHash,
    inputSha: p.inputSha,
    diff: p.diff,
    scopeKey: p.scopeKey,
    actor: p.actor,
    modelVersion: p.modelVersion,
    promptVersion: p.promptVersion,
  });

  const insertNodes: NodeRowPlan[] = [];
  const embed: { id: string; scope: string; text: string }[] = [];
  const markPending: { id: string; scope: string }[] = [];
  const seen = new Set<string>();
  for (const n of p.nodes) {
    if (seen.has(n.id)) continue;
    seen.add(n.id);
    const stored = snap.nodes.get(n.id);
    const derive = p.autoEmbed && n.embedding === null && n.embed_text !== null;
    if (!stored) {
      const status: EmbeddingStatus = n.embedding !== null ? 'ready' : derive ? 'pending' : 'failed';
      insertNodes.push({ ...n, embedding_status: status });
      if (derive) embed.push({ id: n.id, scope: n.scope, text: n.embed_text as string });
    } else if (derive && (stored.embedding_status !== 'ready' || p.forceReembed)) {
      embed.push({ id: n.id, scope: n.scope, text: n.embed_text as string });
      if (stored.embedding_status === 'failed') markPending.push({ id: n.id, scope: n.scope });
    }
  }

  const merged = new Map<string, PreparedEdge>();
  for (const e of p.edges) {
    const k = `${e.scope}\u0000${e.type}\u0000${e.src_id}\u0000${e.dst_id}`;
    const prev = merged.get(k);
    merged.set(k, prev ? { ...prev, weight: Math.max(prev.weight, e.weight), confidence: Math.max(prev.confidence, e.confidence) } : e);
  }

  return {
    commit: {
      parent_id: snap.parent?.commit_id ?? null,
      parent_hash: parentHash,
      commit_hash: commitHash,
      diff: p.diff,
      diff_sha256: diffSha,
      input_sha256: p.inputSha,
      actor: p.actor,
      model_version: p.modelVersion,
      prompt_version: p.promptVersion,
    },
    insertNodes,
    ruleDefs: insertNodes.flatMap((n) => (n.rule ? [{ node: n, seed: n.rule }] : [])),
    upsertEdges: [...merged.values()],
    embed,
    markPending,
  };
}

/** `embedding_backfill` of the response: present only when something was queued. */
export const backfillOf = (plan: WritePlan): { enqueued: true; pending_nodes: number } | undefined =>
  plan.embed.length > 0 ? { enqueued: true, pending_nodes: plan.embed.length } : undefined;
