import { Inject, Injectable } from '@nestjs/common';
import { sql, type Kysely, type Transaction } from 'kysely';
import { DATABASE, type Database } from '../platform/db/database';
import type { DB } from '../platform/db/schema';
import type { CommitDiff, Namespace, PreparedEdge, PreparedNode, StoredCommit } from './memory.domain';

type Executor = Kysely<DB> | Transaction<DB>;

/** Every statement here filters by tenant, project and scope: no query can cross a namespace. */
const inNs = (n: Namespace) => sql`tenant_id = ${n.tenantId} AND project_key = ${n.projectKey} AND scope = ${n.scope}`;

export interface ScopeHead {
  readonly head_commit_id: string | null;
  readonly head_hash: string | null;
  readonly commit_count: number;
}

export interface NodeRow {
  readonly node_id: string;
  readonly client_id: string | null;
  readonly type: string;
  readonly title: string | null;
  readonly text_summary: string | null;
  readonly slots: Record<string, unknown>;
  readonly tier: string;
  readonly salience: number;
  readonly importance: number;
  readonly confidence: number;
  readonly embedding_status: string;
  readonly embedding_model: string | null;
  readonly commit_id: string;
  readonly created_at: Date;
  readonly updated_at: Date;
}

export interface OutboxJob {
  readonly job_id: string;
  readonly commit_id: string;
  readonly type: string;
  readonly payload: unknown;
}

/** SQL of the memory write model. No business rules: MemoryService decides, this stores. */
@Injectable()
export class MemoryRepository {
  constructor(@Inject(DATABASE) readonly database: Database) {}

  /** Lock the scope's head for this transaction (creating it on first use): writers to one scope queue here. */
  async lockScope(trx: Executor, n: Namespace): Promise<ScopeHead> {
    await sql`INSERT INTO memory_scopes (tenant_id, project_key, scope) VALUES (${n.tenantId}, ${n.projectKey}, ${n.scope}) ON CONFLICT DO NOTHING`.execute(trx);
    const r = await sql<{ head_commit_id: string | null; head_hash: string | null; commit_count: number }>`
      SELECT head_commit_id::text AS head_commit_id, head_hash, commit_count FROM memory_scopes WHERE ${inNs(n)} FOR UPDATE`.execute(trx);
    const row = r.rows[0];
    if (!row) throw new Error('scope row vanished');
    return row;
  }

  async existingNodes(trx: Executor, n: Namespace, ids: readonly string[]): Promise<Map<string, { content_sha256: string; embedding_status: string }>> {
    if (ids.length === 0) return new Map();
    const r = await sql<{ node_id: string; content_sha256: string; embedding_status: string }>`
      SELECT node_id::text AS node_id, content_sha256, embedding_status FROM memory_nodes WHERE ${inNs(n)} AND node_id = ANY(${sql.val([...ids])}::uuid[])`.execute(trx);
    return new Map(r.rows.map((x) => [x.node_id, x]));
  }

  async nodeIdsByClientId(trx: Executor, n: Namespace, clientIds: readonly string[]): Promise<Map<string, string>> {
    if (clientIds.length === 0) return new Map();
    const r = await sql<{ client_id: string; node_id: string }>`
      SELECT client_id, node_id::text AS node_id FROM memory_nodes WHERE ${inNs(n)} AND client_id = ANY(${sql.val([...clientIds])}::text[])`.execute(trx);
    return new Map(r.rows.map((x) => [x.client_id, x.node_id]));
  }

  async countTenantNodes(trx: Executor, tenantId: string): Promise<number> {
    const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM memory_nodes WHERE tenant_id = ${tenantId}`.execute(trx);
    return r.rows[0]?.n ?? 0;
  }

  async existingEdges(trx: Executor, n: Namespace, ids: readonly string[]): Promise<Map<string, number>> {
    if (ids.length === 0) return new Map();
    const r = await sql<{ edge_id: string; weight: number }>`
      SELECT edge_id::text AS edge_id, weight FROM memory_edges WHERE ${inNs(n)} AND edge_id = ANY(${sql.val([...ids])}::uuid[])`.execute(trx);
    return new Map(r.rows.map((x) => [x.edge_id, x.weight]));
  }

  async insertCommit(
    trx: Executor,
    n: Namespace,
    c: { commit_id: string; seq: number; parent_commit_id: string | null; parent_hash: string | null; commit_hash: string; input_sha256: string; diff: CommitDiff; diff_sha256: string; actor_key_id: string; created_at: string },
  ): Promise<void> {
    await sql`
      INSERT INTO memory_commits (commit_id, tenant_id, project_key, scope, seq, parent_commit_id, parent_hash, commit_hash, input_sha256, diff, diff_sha256, actor_key_id, created_at)
      VALUES (${c.commit_id}::uuid, ${n.tenantId}, ${n.projectKey}, ${n.scope}, ${c.seq}, ${c.parent_commit_id}::uuid, ${c.parent_hash}, ${c.commit_hash}, ${c.input_sha256},
              ${JSON.stringify(c.diff)}::jsonb, ${c.diff_sha256}, ${c.actor_key_id}, ${c.created_at}::timestamptz)`.execute(trx);
    await sql`UPDATE memory_scopes SET head_commit_id = ${c.commit_id}::uuid, head_hash = ${c.commit_hash}, commit_count = ${c.seq} WHERE ${inNs(n)}`.execute(trx);
  }

  async upsertNodes(trx: Executor, n: Namespace, nodes: readonly PreparedNode[], commitId: string, at: string): Promise<void> {
    for (const node of nodes) {
      const status = node.embedding ? 'ready' : 'pending';
      await sql`
        INSERT INTO memory_nodes (tenant_id, project_key, scope, node_id, client_id, type, title, text_summary, slots, tier, salience, importance, confidence,
                                  content_sha256, embedding, embedding_status, embedding_model, commit_id, created_at, updated_at)
        VALUES (${n.tenantId}, ${n.projectKey}, ${n.scope}, ${node.node_id}::uuid, ${node.client_id}, ${node.type}, ${node.title}, ${node.text_summary},
                ${JSON.stringify(node.slots)}::jsonb, ${node.tier}, ${node.salience}, ${node.importance}, ${node.confidence}, ${node.content_sha256},
                ${node.embedding ? sql`${sql.val([...node.embedding])}::real[]` : sql`NULL`}, ${status}, ${node.embedding ? 'client' : null},
                ${commitId}::uuid, ${at}::timestamptz, ${at}::timestamptz)
        ON CONFLICT (tenant_id, project_key, scope, node_id) DO UPDATE SET
          client_id = EXCLUDED.client_id, type = EXCLUDED.type, title = EXCLUDED.title, text_summary = EXCLUDED.text_summary, slots = EXCLUDED.slots,
          tier = EXCLUDED.tier, salience = EXCLUDED.salience, importance = EXCLUDED.importance, confidence = EXCLUDED.confidence,
          content_sha256 = EXCLUDED.content_sha256, embedding = EXCLUDED.embedding, embedding_status = EXCLUDED.embedding_status,
          embedding_model = EXCLUDED.embedding_model, commit_id = EXCLUDED.commit_id, updated_at = EXCLUDED.updated_at`.execute(trx);
    }
  }

  async upsertEdges(trx: Executor, n: Namespace, edges: readonly PreparedEdge[], commitId: string, at: string): Promise<void> {
    for (const e of edges) {
      await sql`
        INSERT INTO memory_edges (tenant_id, project_key, scope, edge_id, type, src_id, dst_id, weight, commit_id, created_at)
        VALUES (${n.tenantId}, ${n.projectKey}, ${n.scope}, ${e.edge_id}::uuid, ${e.type}, ${e.src_id}::uuid, ${e.dst_id}::uuid, ${e.weight}, ${commitId}::uuid, ${at}::timestamptz)
        ON CONFLICT (tenant_id, project_key, scope, edge_id) DO UPDATE SET weight = EXCLUDED.weight, commit_id = EXCLUDED.commit_id`.execute(trx);
    }
  }

  async enqueue(trx: Executor, n: Namespace, job: OutboxJob, maxAttempts: number, at: string): Promise<void> {
    await sql`
      INSERT INTO memory_outbox (job_id, tenant_id, project_key, scope, commit_id, type, payload, status, max_attempts, next_attempt_at, created_at, updated_at)
      VALUES (${job.job_id}::uuid, ${n.tenantId}, ${n.projectKey}, ${n.scope}, ${job.commit_id}::uuid, ${job.type}, ${JSON.stringify(job.payload)}::jsonb,
              'pending', ${maxAttempts}, ${at}::timestamptz, ${at}::timestamptz, ${at}::timestamptz)`.execute(trx);
    // Wakes the workers on commit only.
    await sql`SELECT pg_notify('aionis_outbox', '')`.execute(trx);
  }

  async findNodes(
    n: Namespace,
    f: { ids?: readonly string[]; clientIds?: readonly string[]; type?: string; text?: string; after?: string; limit: number },
  ): Promise<NodeRow[]> {
    const where = [inNs(n)];
    if (f.ids) where.push(sql`node_id = ANY(${sql.val([...f.ids])}::uuid[])`);
    if (f.clientIds) where.push(sql`client_id = ANY(${sql.val([...f.clientIds])}::text[])`);
    if (f.type) where.push(sql`type = ${f.type}`);
    if (f.text) {
      const like = `%${f.text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      where.push(sql`(title ILIKE ${like} OR text_summary ILIKE ${like})`);
    }
    if (f.after) where.push(sql`node_id > ${f.after}::uuid`);
    const r = await sql<NodeRow>`
      SELECT node_id::text AS node_id, client_id, type, title, text_summary, slots, tier, salience, importance, confidence,
             embedding_status, embedding_model, commit_id::text AS commit_id, created_at, updated_at
      FROM memory_nodes WHERE ${sql.join(where, sql` AND `)} ORDER BY memory_nodes.node_id LIMIT ${f.limit}`.execute(this.database.db);
    return r.rows;
  }

  /** Exact-scan candidates: every ready vector of the namespace (the pgvector path comes with the vector extension). */
  async readyVectors(n: Namespace): Promise<{ node_id: string; embedding: number[] }[]> {
    const r = await sql<{ node_id: string; embedding: number[] }>`
      SELECT node_id::text AS node_id, embedding FROM memory_nodes WHERE ${inNs(n)} AND embedding_status = 'ready' AND embedding IS NOT NULL`.execute(this.database.db);
    return r.rows;
  }

  /** pgvector path: exact cosine ranking in SQL (ties by node id, like the in-process scan). */
  async nearestByVector(n: Namespace, query: readonly number[], limit: number, minSimilarity: number): Promise<{ id: string; similarity: number }[]> {
    const q = sql`${sql.val([...query])}::real[]::vector`;
    const r = await sql<{ id: string; similarity: number }>`
      SELECT node_id::text AS id, similarity FROM (
        -- A zero vector has no direction: similarity 0, as in the in-process scan.
        SELECT node_id, coalesce(1 - (embedding_vec <=> ${q}), 0) AS similarity FROM memory_nodes
        WHERE ${inNs(n)} AND embedding_status = 'ready' AND embedding_vec IS NOT NULL) AS ranked
      WHERE similarity >= ${minSimilarity}
      ORDER BY similarity DESC, node_id LIMIT ${limit}`.execute(this.database.db);
    return r.rows.map((x) => ({ id: x.id, similarity: Number(x.similarity) }));
  }

  async edgesTouching(n: Namespace, ids: readonly string[], limit: number): Promise<{ edge_id: string; type: string; src_id: string; dst_id: string; weight: number }[]> {
    if (ids.length === 0) return [];
    const r = await sql<{ edge_id: string; type: string; src_id: string; dst_id: string; weight: number }>`
      SELECT edge_id::text AS edge_id, type, src_id::text AS src_id, dst_id::text AS dst_id, weight FROM memory_edges
      WHERE ${inNs(n)} AND (src_id = ANY(${sql.val([...ids])}::uuid[]) OR dst_id = ANY(${sql.val([...ids])}::uuid[]))
      ORDER BY memory_edges.weight DESC, memory_edges.edge_id LIMIT ${limit}`.execute(this.database.db);
    return r.rows;
  }

  async commits(n: Namespace, f: { afterSeq?: number; limit: number }): Promise<(StoredCommit & { created_at: Date })[]> {
    const r = await sql<StoredCommit & { created_at: Date }>`
      SELECT commit_id::text AS commit_id, seq, parent_commit_id::text AS parent_commit_id, parent_hash, commit_hash, input_sha256, diff, diff_sha256, actor_key_id, created_at
      FROM memory_commits WHERE ${inNs(n)} AND seq > ${f.afterSeq ?? 0} ORDER BY memory_commits.seq LIMIT ${f.limit}`.execute(this.database.db);
    return r.rows;
  }

  async head(n: Namespace): Promise<ScopeHead | undefined> {
    const r = await sql<ScopeHead>`SELECT head_commit_id::text AS head_commit_id, head_hash, commit_count FROM memory_scopes WHERE ${inNs(n)}`.execute(this.database.db);
    return r.rows[0];
  }
}
