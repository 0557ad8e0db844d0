import { AppError } from '../../../platform/errors/app-error';
import { float32Shortest } from '../recall/float32';
import { shaOf } from './ids';
import type { EdgeType, MemoryLane, MemoryTier, NodeType } from './model';
import type { ViewNode } from './views';
import type { WriteEdgeInput, WriteInput, WriteNodeInput } from './write-plan';

/**
 * Packs (contract §2.9, §2.10, §8): a scope exported as rows with a SHA-256 over their canonical
 * JSON, and imported back through the ordinary write path. Pure. The open core's export could not
 * be re-imported (§8.4); the three compatible fixes are taken: null reads as absent, the import
 * hash is over the pack as sent, and a node without a lane becomes shared.
 */
export const PACK_VERSION = 'aionis_pack_v1';
export const MANIFEST_VERSION = 'aionis_pack_manifest_v1';

export interface ExportOptions {
  readonly include_nodes: boolean;
  readonly include_edges: boolean;
  readonly include_commits: boolean;
  readonly include_meta: boolean;
  readonly max_rows: number;
}

export interface ExportEdge {
  readonly id: string;
  readonly type: string;
  readonly src_id: string;
  readonly dst_id: string;
  readonly src_client_id: string | null;
  readonly dst_client_id: string | null;
  readonly weight: number;
  readonly confidence: number;
  readonly decay_rate: number;
  readonly created_at_pg: string;
  readonly commit_id: string;
}

export interface ExportCommit {
  readonly id: string;
  readonly parent_id: string | null;
  readonly input_sha256: string;
  readonly actor: string | null;
  readonly model_version: string | null;
  readonly prompt_version: string | null;
  readonly created_at_pg: string;
  readonly commit_hash: string;
}

const f = float32Shortest;

export function nodeRow(n: ViewNode, meta: boolean): Record<string, unknown> {
  if (!meta) return { id: n.id, client_id: n.client_id, type: n.type, title: n.title, text_summary: n.text_summary, slots: n.slots };
  return {
    id: n.id,
    client_id: n.client_id,
    type: n.type,
    tier: n.tier,
    memory_lane: n.memory_lane,
    producer_agent_id: n.producer_agent_id,
    owner_agent_id: n.owner_agent_id,
    owner_team_id: n.owner_team_id,
    title: n.title,
    text_summary: n.text_summary,
    slots: n.slots,
    raw_ref: n.raw_ref,
    evidence_ref: n.evidence_ref,
    salience: f(n.salience),
    importance: f(n.importance),
    confidence: f(n.confidence),
    created_at: n.pg.created_at,
    updated_at: n.pg.updated_at,
    commit_id: n.commit_id,
  };
}

export function edgeRow(e: ExportEdge, meta: boolean): Record<string, unknown> {
  const base = { id: e.id, type: e.type, src_id: e.src_id, dst_id: e.dst_id, src_client_id: e.src_client_id, dst_client_id: e.dst_client_id, weight: f(e.weight), confidence: f(e.confidence) };
  return meta ? { ...base, decay_rate: f(e.decay_rate), created_at: e.created_at_pg, commit_id: e.commit_id } : base;
}

export function commitRow(c: ExportCommit, meta: boolean): Record<string, unknown> {
  if (!meta) return { id: c.id, parent_id: c.parent_id, commit_hash: c.commit_hash };
  return { id: c.id, parent_id: c.parent_id, input_sha256: c.input_sha256, actor: c.actor, model_version: c.model_version, prompt_version: c.prompt_version, created_at: c.created_at_pg, commit_hash: c.commit_hash };
}

/** Rows were read with one more than max_rows per section: the extra one says "truncated". */
export function buildPack(
  tenantId: string,
  scope: string,
  rows: { nodes: readonly ViewNode[]; edges: readonly ExportEdge[]; commits: readonly ExportCommit[] },
  o: ExportOptions,
  generatedAt: string,
) {
  const cut = <T>(xs: readonly T[], on: boolean) => (on ? xs.slice(0, o.max_rows) : []);
  const nodes = cut(rows.nodes, o.include_nodes).map((n) => nodeRow(n, o.include_meta));
  const edges = cut(rows.edges, o.include_edges).map((e) => edgeRow(e, o.include_meta));
  const commits = cut(rows.commits, o.include_commits).map((c) => commitRow(c, o.include_meta));
  const pack = { version: PACK_VERSION, tenant_id: tenantId, scope, nodes, edges, commits };
  return {
    tenant_id: tenantId,
    scope,
    manifest: {
      version: MANIFEST_VERSION,
      pack_version: PACK_VERSION,
      sha256: shaOf(pack),
      generated_at: generatedAt,
      counts: { nodes: nodes.length, edges: edges.length, commits: commits.length },
      truncated: {
        nodes: o.include_nodes && rows.nodes.length > o.max_rows,
        edges: o.include_edges && rows.edges.length > o.max_rows,
        commits: o.include_commits && rows.commits.length > o.max_rows,
      },
      max_rows: o.max_rows,
    },
    pack,
  };
}

type N<T> = T | null | undefined;
export interface PackNodeIn {
  readonly id: string;
  readonly client_id?: N<string>;
  readonly type: NodeType;
  readonly tier?: N<MemoryTier>;
  readonly memory_lane?: N<MemoryLane>;
  readonly producer_agent_id?: N<string>;
  readonly owner_agent_id?: N<string>;
  readonly owner_team_id?: N<string>;
  readonly title?: N<string>;
  readonly text_summary?: N<string>;
  readonly slots?: N<Record<string, unknown>>;
  readonly raw_ref?: N<string>;
  readonly evidence_ref?: N<string>;
  readonly salience?: N<number>;
  readonly importance?: N<number>;
  readonly confidence?: N<number>;
}
export interface PackEdgeIn {
  readonly id: string;
  readonly type: EdgeType;
  readonly src_id: string;
  readonly dst_id: string;
  readonly src_client_id?: N<string>;
  readonly dst_client_id?: N<string>;
  readonly weight?: N<number>;
  readonly confidence?: N<number>;
  readonly decay_rate?: N<number>;
}
export interface PackIn {
  readonly version: 'aionis_pack_v1';
  readonly tenant_id: string;
  readonly scope: string;
  readonly nodes?: readonly PackNodeIn[] | undefined;
  readonly edges?: readonly PackEdgeIn[] | undefined;
  readonly commits?: readonly unknown[] | undefined;
}

export interface PackImportPlan {
  readonly pack_sha256: string;
  readonly scope: string;
  readonly write: WriteInput;
  readonly planned: { readonly nodes: number; readonly edges: number; readonly commits_in_pack: number };
}

const some = <T>(v: N<T>): T | undefined => (v === null ? undefined : v);
const defined = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null));

/**
 * Verify a pack and map it onto a write (§8.2, §8.3). `raw` is the pack exactly as received: its
 * hash is what an unmodified export's manifest says. A manifest hash of the pack as the open core
 * hashed it (validated: unknown keys dropped, missing sections []) is accepted too.
 */
export function planPackImport(
  raw: unknown,
  pack: PackIn,
  request: { readonly tenantId: string; readonly tenant_id?: string | undefined; readonly scope?: string | undefined; readonly manifest_sha256?: string | undefined; readonly actor?: string | undefined; readonly auto_embed?: boolean | undefined },
): PackImportPlan {
  const sha = shaOf(raw);
  if (request.manifest_sha256 !== undefined && request.manifest_sha256 !== sha) {
    const validated = shaOf({ ...pack, nodes: pack.nodes ?? [], edges: pack.edges ?? [], commits: pack.commits ?? [] });
    if (request.manifest_sha256 !== validated) throw new AppError('pack_hash_mismatch', 'the pack does not match manifest_sha256', { expected: request.manifest_sha256, actual: sha });
  }
  const packTenant = pack.tenant_id.trim();
  const packScope = pack.scope.trim();
  const claimedTenant = request.tenant_id?.trim();
  const claimedScope = request.scope?.trim();
  if (packTenant !== request.tenantId || (claimedTenant !== undefined && claimedTenant !== packTenant) || (claimedScope !== undefined && claimedScope !== packScope)) {
    throw new AppError('pack_scope_mismatch', `the pack belongs to tenant "${packTenant}" scope "${packScope}"; a pack is imported into its own tenant and scope`);
  }
  const nodes = pack.nodes ?? [];
  const clientOf = new Map<string, string>();
  const clientIds = new Set<string>();
  const writeNodes: WriteNodeInput[] = nodes.map((n) => {
    const given = some(n.client_id)?.trim();
    const cid = given !== undefined && given !== '' ? given : `pack:${sha.slice(0, 16)}:node:${n.id.toLowerCase()}`;
    clientOf.set(n.id.toLowerCase(), cid);
    clientIds.add(cid);
    return {
      client_id: cid,
      type: n.type,
      memory_lane: some(n.memory_lane) ?? 'shared',
      ...defined({
        tier: n.tier,
        producer_agent_id: n.producer_agent_id,
        owner_agent_id: n.owner_agent_id,
        owner_team_id: n.owner_team_id,
        title: n.title,
        text_summary: n.text_summary,
        slots: n.slots,
        raw_ref: n.raw_ref,
        evidence_ref: n.evidence_ref,
        salience: n.salience,
        importance: n.importance,
        confidence: n.confidence,
      }),
    };
  });
  const writeEdges: WriteEdgeInput[] = (pack.edges ?? []).map((e) => {
    const end = (cid: N<string>, id: string): string | undefined => {
      const c = some(cid)?.trim();
      if (c !== undefined && clientIds.has(c)) return c;
      return clientOf.get(id.toLowerCase());
    };
    const src = end(e.src_client_id, e.src_id);
    const dst = end(e.dst_client_id, e.dst_id);
    if (src === undefined || dst === undefined) {
      throw new AppError('pack_edge_reference_missing', `pack edge ${e.id} names a node the pack does not hold`, { edge_id: e.id, src_id: e.src_id, dst_id: e.dst_id });
    }
    return { type: e.type, src: { client_id: src }, dst: { client_id: dst }, ...defined({ weight: e.weight, confidence: e.confidence, decay_rate: e.decay_rate }) };
  });
  return {
    pack_sha256: sha,
    scope: packScope,
    write: { actor: request.actor ?? 'pack_import', input_text: `pack import ${sha}`, auto_embed: request.auto_embed ?? false, nodes: writeNodes, edges: writeEdges },
    planned: { nodes: nodes.length, edges: writeEdges.length, commits_in_pack: pack.commits?.length ?? 0 },
  };
}
