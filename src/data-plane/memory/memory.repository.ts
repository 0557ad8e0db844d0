import { Inject, Injectable } from '@nestjs/common';
import { type Kysely, type RawBuilder, sql, type Transaction } from 'kysely';
import { DATABASE, type Database } from '../../platform/db/database';
import type { DB } from '../../platform/db/schema';
import type { NewCommit, StoredCommit } from './domain/commit';
import type { Namespace } from './domain/ids';
import type { Consumer } from './domain/lanes';
import { EMBEDDING_STATUSES, type EdgeType, type EmbeddingStatus, type MemoryLane, type MemoryTier, type NodeType, type RuleScope, type RuleState } from './domain/model';
import type { NodeRowPlan, PreparedEdge, RuleSeed } from './domain/write-plan';

export type Executor = Kysely<DB> | Transaction<DB>;

/** A tenant and project: node ids are unique within one (scopes differ). */
export interface Owner {
  readonly tenantId: string;
  readonly projectKey: string;
}

/** A node as every read of the memory API needs it. Timestamps both as ISO (recall) and in PostgreSQL's text form (find, sessions, packs). */
export interface StoredNode {
  readonly id: string;
  readonly scope: string;
  readonly client_id: string | null;
  readonly type: NodeType;
  readonly tier: MemoryTier;
  readonly title: string | null;
  readonly text_summary: string | null;
  readonly slots: Record<string, unknown>;
  readonly raw_ref: string | null;
  readonly evidence_ref: string | null;
  readonly embedding_status: EmbeddingStatus;
  readonly embedding_model: string | null;
  readonly memory_lane: MemoryLane;
  readonly producer_agent_id: string | null;
  readonly owner_agent_id: string | null;
  readonly owner_team_id: string | null;
  readonly salience: number;
  readonly importance: number;
  readonly confidence: number;
  readonly created_at: string;
  readonly updated_at: string;
  readonly last_activated: string | null;
  readonly commit_id: string;
  readonly pg: { readonly created_at: string; readonly updated_at: string; readonly last_activated: string | null };
}

export interface StoredEdge {
  readonly id: string;
  readonly type: EdgeType;
  readonly src_id: string;
  readonly dst_id: string;
  readonly weight: number;
  readonly confidence: number;
  readonly decay_rate: number;
  readonly commit_id: string;
  readonly created_at_pg: string;
}

export interface StoredRuleDef {
  readonly rule_node_id: string;
  readonly state: RuleState;
  readonly rule_scope: RuleScope;
  readonly target_agent_id: string | null;
  readonly target_team_id: string | null;
  readonly if_json: unknown;
  readonly then_json: unknown;
  readonly exceptions_json: unknown;
  readonly positive_count: number;
  readonly negative_count: number;
  readonly commit_id: string;
  readonly updated_at: string;
}

export interface ScopeHead {
  readonly head_commit_id: string | null;
  /** The chain hash of the head. */
  readonly head_hash: string | null;
  /** The contract hash of the newest commit (the parent of every commit but /write's). */
  readonly head_commit_hash: string | null;
  readonly commit_count: number;
}

/** A head locked for a commit; `created` when this transaction inserted the scope's row. */
export interface LockedHead extends ScopeHead {
  readonly created: boolean;
}


export interface FindFilters {
  readonly id?: string | undefined;
  readonly client_id?: string | undefined;
  readonly type?: NodeType | undefined;
  readonly title_contains?: string | undefined;
  readonly text_contains?: string | undefined;
  readonly memory_lane?: MemoryLane | undefined;
  readonly slots_contains?: Record<string, unknown> | undefined;
}

/** Every statement names the tenant and project; namespace statements also the scope. */
const inOwner = (a: string, o: Owner) => sql`${sql.ref(`${a}.tenant_id`)} = ${o.tenantId} AND ${sql.ref(`${a}.project_key`)} = ${o.projectKey}`;
const inNs = (a: string, n: Namespace) => sql`${inOwner(a, n)} AND ${sql.ref(`${a}.scope`)} = ${n.scope}`;

/** Lane visibility (contract §3.2; domain/lanes.ts isVisible) as SQL: NULL never equals anything. */
const visible = (a: string, c: Consumer) =>
  sql`(${sql.ref(`${a}.memory_lane`)} = 'shared' OR ${sql.ref(`${a}.owner_agent_id`)} = ${c.agentId}::text OR ${sql.ref(`${a}.owner_team_id`)} = ${c.teamId}::text)`;

/**
 * PostgreSQL's binary array format (array_send) of a one-dimensional real[]: ndim, has-null flag,
 * element type, then length and lower bound per dimension, then each element as a 4-byte length
 * and a big-endian float4. A null element reads as 0 (the write path never stores one).
 */
export function decodeFloat4Array(bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ndim = view.getInt32(0);
  if (ndim === 0) return new Float32Array(0);
  if (ndim !== 1) throw new Error(`expected a one-dimensional array, got ${ndim} dimensions`);
  const length = view.getInt32(12);
  const out = new Float32Array(length);
  let at = 20;
  for (let i = 0; i < length; i++) {
    const size = view.getInt32(at);
    at += 4;
    if (size === -1) continue;
    out[i] = view.getFloat32(at);
    at += size;
  }
  return out;
}

/** PostgreSQL's text form of a timestamptz under UTC (contract §1.10), independent of the session's time zone. */
const pgText = (col: RawBuilder<unknown>) => sql<string | null>`((${col} AT TIME ZONE 'UTC')::text || '+00')`;

const NODE_COLUMNS = (a: string) => sql`
  ${sql.ref(`${a}.node_id`)}::text AS id, ${sql.ref(`${a}.scope`)} AS scope, ${sql.ref(`${a}.client_id`)} AS client_id, ${sql.ref(`${a}.type`)} AS type,
  ${sql.ref(`${a}.tier`)} AS tier, ${sql.ref(`${a}.title`)} AS title, ${sql.ref(`${a}.text_summary`)} AS text_summary, ${sql.ref(`${a}.slots`)} AS slots,
  ${sql.ref(`${a}.raw_ref`)} AS raw_ref, ${sql.ref(`${a}.evidence_ref`)} AS evidence_ref, ${sql.ref(`${a}.embedding_status`)} AS embedding_status,
  ${sql.ref(`${a}.embedding_model`)} AS embedding_model, ${sql.ref(`${a}.memory_lane`)} AS memory_lane, ${sql.ref(`${a}.producer_agent_id`)} AS producer_agent_id,
  ${sql.ref(`${a}.owner_agent_id`)} AS owner_agent_id, ${sql.ref(`${a}.owner_team_id`)} AS owner_team_id, ${sql.ref(`${a}.salience`)} AS salience,
  ${sql.ref(`${a}.importance`)} AS importance, ${sql.ref(`${a}.confidence`)} AS confidence, ${sql.ref(`${a}.created_at`)} AS created_at,
  ${sql.ref(`${a}.updated_at`)} AS updated_at, ${sql.ref(`${a}.last_activated`)} AS last_activated, ${sql.ref(`${a}.commit_id`)}::text AS commit_id,
  ${pgText(sql.ref(`${a}.created_at`))} AS created_at_pg, ${pgText(sql.ref(`${a}.updated_at`))} AS updated_at_pg, ${pgText(sql.ref(`${a}.last_activated`))} AS last_activated_pg`;

interface NodeSqlRow {
  id: string;
  scope: string;
  client_id: string | null;
  type: NodeType;
  tier: MemoryTier;
  title: string | null;
  text_summary: string | null;
  slots: Record<string, unknown> | null;
  raw_ref: string | null;
  evidence_ref: string | null;
  embedding_status: EmbeddingStatus;
  embedding_model: string | null;
  memory_lane: MemoryLane;
  producer_agent_id: string | null;
  owner_agent_id: string | null;
  owner_team_id: string | null;
  salience: number | string;
  importance: number | string;
  confidence: number | string;
  created_at: Date | string;
  updated_at: Date | string;
  last_activated: Date | string | null;
  commit_id: string;
  created_at_pg: string;
  updated_at_pg: string;
  last_activated_pg: string | null;
}

const iso = (d: Date | string): string => new Date(d).toISOString();

function toNode(r: NodeSqlRow): StoredNode {
  return {
    id: r.id,
    scope: r.scope,
    client_id: r.client_id,
    type: r.type,
    tier: r.tier,
    title: r.title,
    text_summary: r.text_summary,
    slots: r.slots ?? {},
    raw_ref: r.raw_ref,
    evidence_ref: r.evidence_ref,
    embedding_status: r.embedding_status,
    embedding_model: r.embedding_model,
    memory_lane: r.memory_lane,
    producer_agent_id: r.producer_agent_id,
    owner_agent_id: r.owner_agent_id,
    owner_team_id: r.owner_team_id,
    salience: Number(r.salience),
    importance: Number(r.importance),
    confidence: Number(r.confidence),
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
    last_activated: r.last_activated === null ? null : iso(r.last_activated),
    commit_id: r.commit_id,
    pg: { created_at: r.created_at_pg, updated_at: r.updated_at_pg, last_activated: r.last_activated_pg },
  };
}

const EDGE_COLUMNS = sql`e.edge_id::text AS id, e.type, e.src_id::text AS src_id, e.dst_id::text AS dst_id, e.weight, e.confidence, e.decay_rate, e.commit_id::text AS commit_id, ${pgText(sql.ref('e.created_at'))} AS created_at_pg`;
const toEdge = (r: StoredEdge): StoredEdge => ({ ...r, weight: Number(r.weight), confidence: Number(r.confidence), decay_rate: Number(r.decay_rate) });

/** A vector as a PostgreSQL array literal: one bind parameter, parsed by the server. */
export const vectorLiteral = (v: readonly number[]): string => `{${v.join(',')}}`;

/**
 * The memory graph's tables: memory_scopes (each scope's chain head), memory_commits, memory_nodes,
 * memory_edges, memory_rule_defs, memory_pack_imports. No rules here: the planners decide, this
 * stores and reads. A write costs a constant number of statements, whatever the tenant's size.
 */
@Injectable()
export class MemoryRepository {
  constructor(@Inject(DATABASE) readonly database: Database) {}

  get db(): Kysely<DB> {
    return this.database.db;
  }

  transaction<T>(fn: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
    return this.database.db.transaction().execute(fn);
  }

  // ------------------------------------------------------------------ write side

  /** Take the scope's head for this transaction (creating it on first use): commits to one scope are serialised here. */
  async lockHead(trx: Executor, n: Namespace): Promise<LockedHead> {
    // xmax = 0 on the returned row: it was inserted by this statement, not updated by the conflict arm.
    const r = await sql<{ head_commit_id: string | null; head_hash: string | null; head_commit_hash: string | null; commit_count: number | string; created: boolean }>`
      INSERT INTO memory_scopes AS s (tenant_id, project_key, scope) VALUES (${n.tenantId}, ${n.projectKey}, ${n.scope})
      ON CONFLICT (tenant_id, project_key, scope) DO UPDATE SET scope = s.scope
      RETURNING s.head_commit_id::text AS head_commit_id, s.head_hash, s.commit_count, (s.xmax = 0) AS created,
        (SELECT c.commit_hash FROM memory_commits c WHERE c.tenant_id = s.tenant_id AND c.project_key = s.project_key AND c.scope = s.scope AND c.commit_id = s.head_commit_id) AS head_commit_hash`.execute(trx);
    const row = r.rows[0];
    if (!row) throw new Error('scope head row missing');
    return { head_commit_id: row.head_commit_id, head_hash: row.head_hash, head_commit_hash: row.head_commit_hash, commit_count: Number(row.commit_count), created: row.created };
  }

  /**
   * A transaction that locked a head and then committed nothing leaves no trace: a scope row it
   * created is removed again (a request that stores nothing must not create scopes).
   */
  async unlockUnused(trx: Executor, n: Namespace, head: LockedHead): Promise<void> {
    if (!head.created) return;
    await sql`DELETE FROM memory_scopes WHERE ${inNs('memory_scopes', n)} AND head_commit_id IS NULL AND commit_count = 0`.execute(trx);
  }

  /** One round trip: the stored nodes among `ids` (any scope of the tenant and project), and the named parent commit of the scope. */
  async writeSnapshot(
    trx: Executor,
    n: Namespace,
    ids: readonly string[],
    parentId: string | null,
  ): Promise<{ nodes: Map<string, { scope: string; embedding_status: EmbeddingStatus }>; parent: { commit_id: string; commit_hash: string } | null }> {
    const r = await sql<{ kind: 'n' | 'c'; id: string; scope: string; status: EmbeddingStatus | null; hash: string | null }>`
      SELECT 'n' AS kind, m.node_id::text AS id, m.scope, m.embedding_status AS status, NULL::text AS hash
      FROM memory_nodes m WHERE ${inOwner('m', n)} AND m.node_id = ANY(${sql.val([...ids])}::uuid[])
      UNION ALL
      SELECT 'c', c.commit_id::text, c.scope, NULL, c.commit_hash
      FROM memory_commits c WHERE ${inNs('c', n)} AND c.commit_id = ${parentId}::uuid`.execute(trx);
    const nodes = new Map<string, { scope: string; embedding_status: EmbeddingStatus }>();
    let parent: { commit_id: string; commit_hash: string } | null = null;
    for (const row of r.rows) {
      if (row.kind === 'n') nodes.set(row.id, { scope: row.scope, embedding_status: row.status ?? 'failed' });
      else parent = { commit_id: row.id, commit_hash: row.hash ?? '' };
    }
    return { nodes, parent };
  }

  async commitIdByHash(trx: Executor, n: Namespace, commitHash: string): Promise<string | null> {
    const r = await sql<{ commit_id: string }>`SELECT c.commit_id::text AS commit_id FROM memory_commits c WHERE ${inNs('c', n)} AND c.commit_hash = ${commitHash}`.execute(trx);
    return r.rows[0]?.commit_id ?? null;
  }

  /** Append a commit to the scope's chain and move the head, in one statement. */
  async appendCommit(trx: Executor, n: Namespace, c: NewCommit): Promise<void> {
    await sql`
      WITH ins AS (
        INSERT INTO memory_commits (commit_id, tenant_id, project_key, scope, seq, format, kind, parent_id, parent_hash, commit_hash, input_sha256, diff, diff_sha256,
                                    actor, model_version, prompt_version, key_id, request_id, chain_prev_hash, chain_hash, created_at)
        VALUES (${c.commit_id}::uuid, ${n.tenantId}, ${n.projectKey}, ${n.scope}, ${c.seq}, ${c.format}, ${c.kind}, ${c.parent_id}::uuid, ${c.parent_hash}, ${c.commit_hash},
                ${c.input_sha256}, ${JSON.stringify(c.diff)}::jsonb, ${c.diff_sha256}, ${c.actor}, ${c.model_version}, ${c.prompt_version}, ${c.key_id}, ${c.request_id},
                ${c.chain_prev_hash}, ${c.chain_hash}, ${c.created_at}::timestamptz)
        RETURNING 1)
      UPDATE memory_scopes s SET head_commit_id = ${c.commit_id}::uuid, head_hash = ${c.chain_hash}, commit_count = ${c.seq}
      WHERE ${inNs('s', n)} AND EXISTS (SELECT 1 FROM ins)`.execute(trx);
  }

  /** Insert the nodes that are absent (first write wins); returns the ids actually inserted. */
  async insertNodes(trx: Executor, o: Owner, nodes: readonly NodeRowPlan[], commitId: string, at: string): Promise<string[]> {
    if (nodes.length === 0) return [];
    const rows = nodes.map((x) => ({
      scope: x.scope,
      node_id: x.id,
      client_id: x.client_id,
      type: x.type,
      tier: x.tier,
      title: x.title,
      text_summary: x.text_summary,
      slots: x.slots,
      raw_ref: x.raw_ref,
      evidence_ref: x.evidence_ref,
      memory_lane: x.memory_lane,
      producer_agent_id: x.producer_agent_id,
      owner_agent_id: x.owner_agent_id,
      owner_team_id: x.owner_team_id,
      salience: x.salience,
      importance: x.importance,
      confidence: x.confidence,
      embedding: x.embedding ? vectorLiteral(x.embedding) : null,
      embedding_status: x.embedding_status,
      embedding_model: x.embedding_model,
    }));
    const r = await sql<{ node_id: string }>`
      INSERT INTO memory_nodes (tenant_id, project_key, scope, node_id, client_id, type, tier, title, text_summary, slots, raw_ref, evidence_ref, memory_lane,
                                producer_agent_id, owner_agent_id, owner_team_id, salience, importance, confidence, embedding, embedding_status, embedding_model,
                                commit_id, created_at, updated_at)
      SELECT ${o.tenantId}, ${o.projectKey}, x.scope, x.node_id, x.client_id, x.type, x.tier, x.title, x.text_summary, coalesce(x.slots, '{}'::jsonb), x.raw_ref, x.evidence_ref,
             x.memory_lane, x.producer_agent_id, x.owner_agent_id, x.owner_team_id, x.salience, x.importance, x.confidence, x.embedding::real[], x.embedding_status,
             x.embedding_model, ${commitId}::uuid, ${at}::timestamptz, ${at}::timestamptz
      FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS x(scope text, node_id uuid, client_id text, type text, tier text, title text, text_summary text, slots jsonb,
           raw_ref text, evidence_ref text, memory_lane text, producer_agent_id text, owner_agent_id text, owner_team_id text, salience real, importance real, confidence real,
           embedding text, embedding_status text, embedding_model text)
      ON CONFLICT DO NOTHING
      RETURNING node_id::text AS node_id`.execute(trx);
    return r.rows.map((x) => x.node_id);
  }

  /** Rule definitions of newly written rule nodes, in state draft (insert-if-absent, like their nodes). */
  async insertRuleDefs(trx: Executor, o: Owner, defs: readonly { node: { id: string; scope: string }; seed: RuleSeed }[], commitId: string, at: string): Promise<void> {
    if (defs.length === 0) return;
    const rows = defs.map((d) => ({ scope: d.node.scope, rule_node_id: d.node.id, ...d.seed }));
    await sql`
      INSERT INTO memory_rule_defs (tenant_id, project_key, scope, rule_node_id, state, if_json, then_json, exceptions_json, rule_scope, target_agent_id, target_team_id, commit_id, updated_at)
      SELECT ${o.tenantId}, ${o.projectKey}, x.scope, x.rule_node_id, 'draft', coalesce(x.if_json, 'null'::jsonb), coalesce(x.then_json, 'null'::jsonb),
             coalesce(x.exceptions_json, 'null'::jsonb), x.rule_scope, x.target_agent_id, x.target_team_id, ${commitId}::uuid, ${at}::timestamptz
      FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS x(scope text, rule_node_id uuid, if_json jsonb, then_json jsonb, exceptions_json jsonb, rule_scope text,
           target_agent_id text, target_team_id text)
      ON CONFLICT DO NOTHING`.execute(trx);
  }

  /** Upsert edges on (scope, type, src, dst): weight and confidence become the larger of old and new. */
  async upsertEdges(trx: Executor, o: Owner, edges: readonly PreparedEdge[], commitId: string, at: string): Promise<void> {
    if (edges.length === 0) return;
    const rows = edges.map((e) => ({ scope: e.scope, edge_id: e.id, type: e.type, src_id: e.src_id, dst_id: e.dst_id, weight: e.weight, confidence: e.confidence, decay_rate: e.decay_rate }));
    await sql`
      INSERT INTO memory_edges AS m (tenant_id, project_key, scope, edge_id, type, src_id, dst_id, weight, confidence, decay_rate, commit_id, created_at, last_activated)
      SELECT ${o.tenantId}, ${o.projectKey}, x.scope, x.edge_id, x.type, x.src_id, x.dst_id, x.weight, x.confidence, x.decay_rate, ${commitId}::uuid, ${at}::timestamptz, ${at}::timestamptz
      FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS x(scope text, edge_id uuid, type text, src_id uuid, dst_id uuid, weight real, confidence real, decay_rate real)
      ON CONFLICT (tenant_id, project_key, scope, type, src_id, dst_id) DO UPDATE SET
        weight = GREATEST(m.weight, EXCLUDED.weight), confidence = GREATEST(m.confidence, EXCLUDED.confidence),
        commit_id = EXCLUDED.commit_id, last_activated = EXCLUDED.last_activated`.execute(trx);
  }

  /** Stored nodes whose embedding is derived again become pending. */
  async markPending(trx: Executor, o: Owner, nodes: readonly { id: string; scope: string }[], at: string): Promise<void> {
    if (nodes.length === 0) return;
    await sql`
      UPDATE memory_nodes m SET embedding_status = 'pending', updated_at = ${at}::timestamptz
      FROM jsonb_to_recordset(${JSON.stringify(nodes)}::jsonb) AS x(id uuid, scope text)
      WHERE ${inOwner('m', o)} AND m.scope = x.scope AND m.node_id = x.id AND m.embedding_status = 'failed'`.execute(trx);
  }

  async recordPackImport(trx: Executor, n: Namespace, r: { pack_sha256: string; commit_id: string; key_id: string; nodes: number; edges: number; at: string }): Promise<void> {
    await sql`
      INSERT INTO memory_pack_imports (tenant_id, project_key, scope, pack_sha256, commit_id, key_id, nodes, edges, imported_at)
      VALUES (${n.tenantId}, ${n.projectKey}, ${n.scope}, ${r.pack_sha256}, ${r.commit_id}::uuid, ${r.key_id}, ${r.nodes}, ${r.edges}, ${r.at}::timestamptz)
      ON CONFLICT DO NOTHING`.execute(trx);
  }

  // ------------------------------------------------------------------ reads

  /** Nodes of the scope by id, filtered by lane visibility when a consumer is given. */
  async nodesByIds(ex: Executor, n: Namespace, ids: readonly string[], consumer: Consumer | null): Promise<StoredNode[]> {
    if (ids.length === 0) return [];
    const r = await sql<NodeSqlRow>`
      SELECT ${NODE_COLUMNS('m')} FROM memory_nodes m
      WHERE ${inNs('m', n)} AND m.node_id = ANY(${sql.val([...ids])}::uuid[]) ${consumer ? sql`AND ${visible('m', consumer)}` : sql``}`.execute(ex);
    return r.rows.map(toNode);
  }

  async nodesByClientIds(ex: Executor, n: Namespace, clientIds: readonly string[]): Promise<StoredNode[]> {
    if (clientIds.length === 0) return [];
    const r = await sql<NodeSqlRow>`
      SELECT ${NODE_COLUMNS('m')} FROM memory_nodes m WHERE ${inNs('m', n)} AND m.client_id = ANY(${sql.val([...clientIds])}::text[])`.execute(ex);
    return r.rows.map(toNode);
  }

  /** Stage-1 candidates, pgvector path: the k nearest visible ready hot/warm nodes by cosine distance, with rule states. */
  async nearestByVector(n: Namespace, query: readonly number[], k: number, consumer: Consumer): Promise<{ node: StoredNode; similarity: number; rule_state: RuleState | null }[]> {
    const q = sql`${vectorLiteral(query)}::real[]::vector`;
    const r = await sql<NodeSqlRow & { distance: number | string | null; rule_state: RuleState | null }>`
      SELECT ${NODE_COLUMNS('m')}, (m.embedding_vec <=> ${q}) AS distance, d.state AS rule_state
      FROM memory_nodes m
      LEFT JOIN memory_rule_defs d ON d.tenant_id = m.tenant_id AND d.project_key = m.project_key AND d.scope = m.scope AND d.rule_node_id = m.node_id
      WHERE ${inNs('m', n)} AND m.embedding_status = 'ready' AND m.embedding_vec IS NOT NULL AND m.tier IN ('hot', 'warm') AND ${visible('m', consumer)}
      ORDER BY m.embedding_vec <=> ${q}, m.node_id
      LIMIT ${k}`.execute(this.db);
    // A zero vector has no direction: distance NULL, similarity 0 (as in the exact scan).
    return r.rows.map((row) => ({ node: toNode(row), similarity: row.distance === null ? 0 : 1 - Number(row.distance), rule_state: row.rule_state }));
  }

  /** Stage-1 candidates, exact-scan path: every visible ready hot/warm vector of the scope (ranked by the caller). */
  /**
   * The exact-scan candidates (servers without pgvector): every visible, ready, hot/warm vector of
   * the scope, a page at a time in node id order, each handed to `onPage` before the next is read,
   * so memory stays bounded by one page however large the scope. Vectors travel in PostgreSQL's
   * binary array format (`array_send`) and are decoded straight into Float32Arrays: parsing the
   * text form of 1536 reals per row was most of the cost of a scan.
   */
  async scanReadyVectors(n: Namespace, consumer: Consumer, pageSize: number, onPage: (rows: readonly { id: string; embedding: Float32Array }[]) => void): Promise<void> {
    let after: string | null = null;
    for (;;) {
      const r: { rows: { id: string; v: Uint8Array | null }[] } = await sql<{ id: string; v: Uint8Array | null }>`
        SELECT m.node_id::text AS id, array_send(m.embedding) AS v FROM memory_nodes m
        WHERE ${inNs('m', n)} AND m.embedding_status = 'ready' AND m.embedding IS NOT NULL AND m.tier IN ('hot', 'warm') AND ${visible('m', consumer)}
          ${after === null ? sql`` : sql`AND m.node_id > ${after}::uuid`}
        ORDER BY m.node_id LIMIT ${pageSize}`.execute(this.db);
      onPage(r.rows.flatMap((row) => (row.v ? [{ id: row.id, embedding: decodeFloat4Array(row.v) }] : [])));
      const last = r.rows.at(-1);
      if (!last || r.rows.length < pageSize) return;
      after = last.id;
    }
  }

  /** Stored vectors of some nodes (debug embeddings). */
  async embeddingsOf(n: Namespace, ids: readonly string[]): Promise<Map<string, number[]>> {
    if (ids.length === 0) return new Map();
    const r = await sql<{ id: string; embedding: number[] | null }>`
      SELECT m.node_id::text AS id, m.embedding FROM memory_nodes m WHERE ${inNs('m', n)} AND m.node_id = ANY(${sql.val([...ids])}::uuid[]) AND m.embedding IS NOT NULL`.execute(this.db);
    return new Map(r.rows.flatMap((x) => (x.embedding ? [[x.id, x.embedding.map(Number)] as const] : [])));
  }

  /** Rule states of rule nodes (for the stage-1 type filter and context items). */
  async ruleDefs(ex: Executor, n: Namespace, ids: readonly string[]): Promise<StoredRuleDef[]> {
    if (ids.length === 0) return [];
    const r = await sql<StoredRuleDef & { updated_at: Date | string }>`
      SELECT d.rule_node_id::text AS rule_node_id, d.state, d.rule_scope, d.target_agent_id, d.target_team_id, d.if_json, d.then_json, d.exceptions_json,
             d.positive_count, d.negative_count, d.commit_id::text AS commit_id, d.updated_at
      FROM memory_rule_defs d WHERE ${inNs('d', n)} AND d.rule_node_id = ANY(${sql.val([...ids])}::uuid[])`.execute(ex);
    return r.rows.map((d) => ({ ...d, positive_count: Number(d.positive_count), negative_count: Number(d.negative_count), updated_at: iso(d.updated_at) }));
  }

  /**
   * Stage-2 edges touching `ids` (as src, then as dst): the top `perSide` of each side among edges
   * at or above both thresholds, by weight, then confidence, then id.
   */
  async edgesTouching(n: Namespace, ids: readonly string[], minWeight: number, minConfidence: number, perSide: number): Promise<StoredEdge[]> {
    if (ids.length === 0) return [];
    const arr = sql`${sql.val([...ids])}::uuid[]`;
    const side = (col: 'src_id' | 'dst_id') => sql`
      (SELECT ${EDGE_COLUMNS} FROM memory_edges e
       WHERE ${inNs('e', n)} AND ${sql.ref(`e.${col}`)} = ANY(${arr}) AND e.weight >= ${minWeight} AND e.confidence >= ${minConfidence}
       ORDER BY e.weight DESC, e.confidence DESC, e.edge_id LIMIT ${perSide})`;
    const r = await sql<StoredEdge>`${side('src_id')} UNION ALL ${side('dst_id')}`.execute(this.db);
    return r.rows.map(toEdge);
  }

  /** Deterministic lookup (find): ANDed filters, lane visibility, newest first. Fetches limit + 1 rows (has_more). */
  async find(n: Namespace, f: FindFilters, consumer: Consumer, limit: number, offset: number): Promise<StoredNode[]> {
    const where: RawBuilder<unknown>[] = [inNs('m', n), visible('m', consumer)];
    if (f.id !== undefined) where.push(sql`m.node_id = ${f.id}::uuid`);
    if (f.client_id !== undefined) where.push(sql`m.client_id = ${f.client_id}`);
    if (f.type !== undefined) where.push(sql`m.type = ${f.type}`);
    // `%` and `_` are literal here (the open core passed them through as wildcards: a listed fix).
    const like = (s: string) => `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    if (f.title_contains !== undefined) where.push(sql`m.title ILIKE ${like(f.title_contains)}`);
    if (f.text_contains !== undefined) where.push(sql`m.text_summary ILIKE ${like(f.text_contains)}`);
    if (f.memory_lane !== undefined) where.push(sql`m.memory_lane = ${f.memory_lane}`);
    if (f.slots_contains !== undefined) where.push(sql`m.slots @> ${JSON.stringify(f.slots_contains)}::jsonb`);
    const r = await sql<NodeSqlRow>`
      SELECT ${NODE_COLUMNS('m')} FROM memory_nodes m WHERE ${sql.join(where, sql` AND `)}
      ORDER BY m.created_at DESC, m.node_id DESC LIMIT ${limit} OFFSET ${offset}`.execute(this.db);
    return r.rows.map(toNode);
  }

  /** The newest topic node of the scope with this client id (no lane filter: contract §2.8). */
  async sessionNode(n: Namespace, clientId: string): Promise<StoredNode | null> {
    const r = await sql<NodeSqlRow>`
      SELECT ${NODE_COLUMNS('m')} FROM memory_nodes m WHERE ${inNs('m', n)} AND m.client_id = ${clientId} AND m.type = 'topic'
      ORDER BY m.created_at DESC, m.node_id DESC LIMIT 1`.execute(this.db);
    const row = r.rows[0];
    return row ? toNode(row) : null;
  }

  /** Event nodes linked to the session node by part_of, visible to the consumer, newest first; limit + 1 rows. */
  async sessionEvents(n: Namespace, sessionNodeId: string, consumer: Consumer, limit: number, offset: number): Promise<(StoredNode & { edge_weight: number; edge_confidence: number })[]> {
    const r = await sql<NodeSqlRow & { edge_weight: number | string; edge_confidence: number | string }>`
      SELECT ${NODE_COLUMNS('m')}, e.weight AS edge_weight, e.confidence AS edge_confidence
      FROM memory_edges e JOIN memory_nodes m ON m.tenant_id = e.tenant_id AND m.project_key = e.project_key AND m.scope = e.scope AND m.node_id = e.src_id
      WHERE ${inNs('e', n)} AND e.dst_id = ${sessionNodeId}::uuid AND e.type = 'part_of' AND m.type = 'event' AND ${visible('m', consumer)}
      ORDER BY m.created_at DESC, m.node_id DESC LIMIT ${limit} OFFSET ${offset}`.execute(this.db);
    return r.rows.map((row) => ({ ...toNode(row), edge_weight: Number(row.edge_weight), edge_confidence: Number(row.edge_confidence) }));
  }

  /** Pack export rows, oldest first (created_at, id); limit + 1 rows so truncation can be told. */
  async exportNodes(n: Namespace, consumer: Consumer | null, limit: number): Promise<StoredNode[]> {
    const r = await sql<NodeSqlRow>`
      SELECT ${NODE_COLUMNS('m')} FROM memory_nodes m WHERE ${inNs('m', n)} ${consumer ? sql`AND ${visible('m', consumer)}` : sql``}
      ORDER BY m.created_at, m.node_id LIMIT ${limit}`.execute(this.db);
    return r.rows.map(toNode);
  }

  /** Edges with their endpoints' client ids; with a consumer, only edges whose two endpoints it can see. */
  async exportEdges(n: Namespace, consumer: Consumer | null, limit: number): Promise<(StoredEdge & { src_client_id: string | null; dst_client_id: string | null })[]> {
    const r = await sql<StoredEdge & { src_client_id: string | null; dst_client_id: string | null }>`
      SELECT ${EDGE_COLUMNS}, s.client_id AS src_client_id, d.client_id AS dst_client_id
      FROM memory_edges e
      JOIN memory_nodes s ON s.tenant_id = e.tenant_id AND s.project_key = e.project_key AND s.scope = e.scope AND s.node_id = e.src_id
      JOIN memory_nodes d ON d.tenant_id = e.tenant_id AND d.project_key = e.project_key AND d.scope = e.scope AND d.node_id = e.dst_id
      WHERE ${inNs('e', n)} ${consumer ? sql`AND ${visible('s', consumer)} AND ${visible('d', consumer)}` : sql``}
      ORDER BY e.created_at, e.edge_id LIMIT ${limit}`.execute(this.db);
    return r.rows.map((x) => ({ ...toEdge(x), src_client_id: x.src_client_id, dst_client_id: x.dst_client_id }));
  }

  async exportCommits(
    n: Namespace,
    limit: number,
  ): Promise<{ id: string; parent_id: string | null; input_sha256: string; actor: string | null; model_version: string | null; prompt_version: string | null; created_at_pg: string; commit_hash: string }[]> {
    const r = await sql<{ id: string; parent_id: string | null; input_sha256: string; actor: string | null; model_version: string | null; prompt_version: string | null; created_at_pg: string; commit_hash: string }>`
      SELECT c.commit_id::text AS id, c.parent_id::text AS parent_id, c.input_sha256, c.actor, c.model_version, c.prompt_version, ${pgText(sql.ref('c.created_at'))} AS created_at_pg, c.commit_hash
      FROM memory_commits c WHERE ${inNs('c', n)} ORDER BY c.created_at, c.commit_id LIMIT ${limit}`.execute(this.db);
    return r.rows;
  }

  // ------------------------------------------------------------------ the chain

  async head(n: Namespace): Promise<ScopeHead | undefined> {
    const r = await sql<{ head_commit_id: string | null; head_hash: string | null; head_commit_hash: string | null; commit_count: number | string }>`
      SELECT s.head_commit_id::text AS head_commit_id, s.head_hash, s.commit_count,
        (SELECT c.commit_hash FROM memory_commits c WHERE c.tenant_id = s.tenant_id AND c.project_key = s.project_key AND c.scope = s.scope AND c.commit_id = s.head_commit_id) AS head_commit_hash
      FROM memory_scopes s WHERE ${inNs('s', n)}`.execute(this.db);
    const row = r.rows[0];
    return row ? { ...row, commit_count: Number(row.commit_count) } : undefined;
  }

  /** The chain of a scope in seq order, a page at a time. */
  async commits(n: Namespace, afterSeq: number, limit: number): Promise<StoredCommit[]> {
    const r = await sql<Omit<StoredCommit, 'created_at' | 'seq'> & { seq: number | string; created_at: Date | string }>`
      SELECT c.commit_id::text AS commit_id, c.seq, c.format, c.kind, c.parent_id::text AS parent_id, c.parent_hash, c.input_sha256, c.diff, c.diff_sha256,
             c.actor, c.model_version, c.prompt_version, c.commit_hash, c.key_id, c.chain_prev_hash, c.chain_hash, c.created_at
      FROM memory_commits c WHERE ${inNs('c', n)} AND c.seq > ${afterSeq} ORDER BY c.seq LIMIT ${limit}`.execute(this.db);
    return r.rows.map((c) => ({ ...c, seq: Number(c.seq), format: Number(c.format), created_at: iso(c.created_at) }));
  }

  /**
   * Rehydrate / activate / rule promotion: update the tier, slots or last activation of found
   * nodes; `commitId` (rehydrate, activate) becomes the node's commit, null leaves it (a rule's
   * state change is its definition's, not its node's).
   */
  async updateNodes(trx: Executor, n: Namespace, updates: readonly { id: string; tier?: MemoryTier; slots?: Record<string, unknown>; activate: boolean }[], at: string, commitId: string | null): Promise<void> {
    if (updates.length === 0) return;
    await sql`
      UPDATE memory_nodes m SET tier = coalesce(x.tier, m.tier), slots = coalesce(x.slots, m.slots),
             last_activated = CASE WHEN x.activate THEN ${at}::timestamptz ELSE m.last_activated END,
             commit_id = coalesce(${commitId}::uuid, m.commit_id), updated_at = ${at}::timestamptz
      FROM jsonb_to_recordset(${JSON.stringify(updates)}::jsonb) AS x(id uuid, tier text, slots jsonb, activate boolean)
      WHERE ${inNs('m', n)} AND m.node_id = x.id`.execute(trx);
  }

  // ------------------------------------------------------------------ derived embeddings (the outbox worker)

  /** Texts of nodes enqueued by the previous release (jobs with node_ids only): title and summary. */
  async legacyEmbedTexts(o: Owner, scope: string, ids: readonly string[]): Promise<{ id: string; scope: string; text: string }[]> {
    const r = await sql<{ id: string; title: string | null; text_summary: string | null }>`
      SELECT m.node_id::text AS id, m.title, m.text_summary FROM memory_nodes m
      WHERE ${inOwner('m', o)} AND m.scope = ${scope} AND m.node_id = ANY(${sql.val([...ids])}::uuid[])`.execute(this.db);
    return r.rows.map((x) => ({ id: x.id, scope, text: [x.title, x.text_summary].filter((t): t is string => !!t).join('\n') }));
  }

  /** Which of these nodes still need their embedding (not ready, unless forced). */
  async needingEmbedding(o: Owner, nodes: readonly { id: string; scope: string }[], force: boolean): Promise<Set<string>> {
    if (nodes.length === 0) return new Set();
    const r = await sql<{ id: string }>`
      SELECT m.node_id::text AS id FROM memory_nodes m JOIN jsonb_to_recordset(${JSON.stringify(nodes)}::jsonb) AS x(id uuid, scope text) ON m.scope = x.scope AND m.node_id = x.id
      WHERE ${inOwner('m', o)} ${force ? sql`` : sql`AND m.embedding_status <> 'ready'`}`.execute(this.db);
    return new Set(r.rows.map((x) => x.id));
  }

  /** Store derived vectors (one statement for the batch); a node made ready meanwhile is left alone unless forced. */
  async storeEmbeddings(o: Owner, vectors: readonly { id: string; scope: string; embedding: readonly number[] }[], model: string, force: boolean): Promise<void> {
    if (vectors.length === 0) return;
    const rows = vectors.map((v) => ({ id: v.id, scope: v.scope, embedding: vectorLiteral(v.embedding) }));
    await sql`
      UPDATE memory_nodes m SET embedding = x.embedding::real[], embedding_status = 'ready', embedding_model = ${model}, updated_at = clock_timestamp()
      FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS x(id uuid, scope text, embedding text)
      WHERE ${inOwner('m', o)} AND m.scope = x.scope AND m.node_id = x.id ${force ? sql`` : sql`AND m.embedding_status <> 'ready'`}`.execute(this.db);
  }

  /** How many of a tenant's nodes (every project; one scope if given) are in each embedding status: the operator's readiness view. */
  async embeddingStatusCounts(tenantId: string, scope?: string): Promise<Record<EmbeddingStatus, number>> {
    const r = await sql<{ status: EmbeddingStatus; n: number }>`
      SELECT embedding_status AS status, count(*)::int AS n FROM memory_nodes
      WHERE tenant_id = ${tenantId} ${scope === undefined ? sql`` : sql`AND scope = ${scope}`}
      GROUP BY embedding_status`.execute(this.database.db);
    const counts = Object.fromEntries(EMBEDDING_STATUSES.map((s) => [s, 0])) as Record<EmbeddingStatus, number>;
    for (const row of r.rows) counts[row.status] = row.n;
    return counts;
  }

  /** A job given up for good: its still-pending nodes become failed (in the dead-lettering transaction). */
  async failPending(trx: Executor, o: Owner, nodes: readonly { id: string; scope: string }[]): Promise<void> {
    if (nodes.length === 0) return;
    await sql`
      UPDATE memory_nodes m SET embedding_status = 'failed', updated_at = clock_timestamp()
      FROM jsonb_to_recordset(${JSON.stringify(nodes)}::jsonb) AS x(id uuid, scope text)
      WHERE ${inOwner('m', o)} AND m.scope = x.scope AND m.node_id = x.id AND m.embedding_status = 'pending'`.execute(trx);
  }

  /** A replayed job: its failed nodes are pending again (in the replay's transaction). */
  async failedToPending(trx: Executor, o: Owner, nodes: readonly { id: string; scope: string }[]): Promise<void> {
    if (nodes.length === 0) return;
    await sql`
      UPDATE memory_nodes m SET embedding_status = 'pending', updated_at = clock_timestamp()
      FROM jsonb_to_recordset(${JSON.stringify(nodes)}::jsonb) AS x(id uuid, scope text)
      WHERE ${inOwner('m', o)} AND m.scope = x.scope AND m.node_id = x.id AND m.embedding_status = 'failed'`.execute(trx);
  }
}
