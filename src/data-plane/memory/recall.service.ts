import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config';
import { AppError } from '../../platform/errors/app-error';
import { cosine } from '../embeddings/embedding-provider';
import { VectorSupport } from '../vector-support';
import type { Namespace } from './domain/ids';
import type { Consumer } from './domain/lanes';
import { MemoryRepository, type StoredNode } from './memory.repository';
import { normalizeGraphEdge, normalizeGraphNode } from './recall/float32';
import { applyAdaptive, type RequestKnobs, resolveKnobs } from './recall/knobs';
import { seedCandidateCount, pickSeeds, seedIds } from './recall/seeds';
import { dropDanglingEdges, edgeBudgets, frontier, mergeHop, nodeBudget, selectCandidateNodes, unionEdges } from './recall/neighbourhood';
import { spreadActivation } from './recall/activation';
import { buildSubgraph } from './recall/output';
import { debugEmbeddings, debugEmbeddingsRequestError, edgeDto, nodeDto, rankedDtos, seedDto } from './recall/dto';
import { assembleContext, emptyContext, ruleNodeIds } from './recall/context';
import { TopK } from './recall/top-k';
import { observability, recallDebug, stage1Info, stageTimings, trajectory, type StageTimingKey } from './recall/trajectory';
import type { GraphEdge, GraphNode, RuleDefinition, SeedCandidate, StrategyName } from './recall/types';

/** The recall request after validation and identity injection (shared by /recall and /recall_text). */
export interface RecallRequest extends RequestKnobs {
  readonly recall_strategy?: StrategyName | undefined;
  readonly context_token_budget?: number | undefined;
  readonly context_char_budget?: number | undefined;
  readonly context_compaction_profile?: 'balanced' | 'aggressive' | undefined;
  readonly include_meta?: boolean | undefined;
  readonly include_slots?: boolean | undefined;
  readonly include_slots_preview?: boolean | undefined;
  readonly slots_preview_keys?: number | undefined;
  readonly return_debug?: boolean | undefined;
  readonly include_embeddings?: boolean | undefined;
}

const ms = (start: number) => Math.round((performance.now() - start) * 1000) / 1000;
const toGraphNode = (n: StoredNode): GraphNode => normalizeGraphNode(n);

/**
 * The recall pipeline (contract §3, §4): SQL where the data is, the pure functions of recall/ for
 * every decision in between. Stage 1 ranks exactly (pgvector in SQL when the database has it, an
 * in-process scan otherwise), so the ANN fallback never has anything to recover.
 */
/** Rows per page of the exact scan: bounds its memory (about 6 KiB per 1536-d vector) while keeping round trips few. */
const SCAN_PAGE_SIZE = 2000;

@Injectable()
export class RecallService {
  constructor(
    private readonly repo: MemoryRepository,
    private readonly vectors: VectorSupport,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Knobs after steps 1-3 (before the concurrency gate) and the debug-embeddings checks (before any work). */
  prepare(req: RecallRequest, privileged: boolean) {
    const resolved = resolveKnobs(req, { baseProfile: this.config.memory.recallProfile, strategy: req.recall_strategy ?? null });
    const debugError = debugEmbeddingsRequestError({ includeEmbeddings: req.include_embeddings === true, returnDebug: req.return_debug === true, privileged, limit: resolved.knobs.limit });
    if (debugError) throw new AppError(debugError, DEBUG_MESSAGES[debugError], debugError === 'debug_embeddings_limit_too_high' ? { limit: resolved.knobs.limit, max: 20 } : {});
    return resolved;
  }

  /** Exact top-k by cosine similarity among visible, ready, hot/warm nodes. */
  async nearest(n: Namespace, query: readonly number[], k: number, consumer: Consumer, path: 'auto' | 'pgvector' | 'scan' = 'auto'): Promise<SeedCandidate[]> {
    if (path === 'pgvector' || (path === 'auto' && this.vectors.enabled)) {
      const rows = await this.repo.nearestByVector(n, query, k, consumer);
      return rows.map((r) => ({ node: toGraphNode(r.node), similarity: r.similarity, rule_state: r.rule_state }));
    }
    const best = new TopK(k);
    await this.repo.scanReadyVectors(n, consumer, SCAN_PAGE_SIZE, (rows) => {
      for (const c of rows) best.offer(c.id, cosine(query, c.embedding));
    });
    const ranked = best.sorted();
    const nodes = new Map((await this.repo.nodesByIds(this.repo.db, n, ranked.map((r) => r.id), consumer)).map((x) => [x.id, x]));
    const rules = new Map((await this.repo.ruleDefs(this.repo.db, n, ranked.filter((r) => nodes.get(r.id)?.type === 'rule').map((r) => r.id))).map((d) => [d.rule_node_id, d.state]));
    return ranked.flatMap((r) => {
      const node = nodes.get(r.id);
      return node ? [{ node: toGraphNode(node), similarity: r.similarity, rule_state: rules.get(r.id) ?? null }] : [];
    });
  }

  async recall(n: Namespace, consumer: Consumer, req: RecallRequest, query: readonly number[], resolved: ReturnType<RecallService['prepare']>, waitMs: number) {
    const m = this.config.memory;
    const { knobs, adaptive } = applyAdaptive(resolved, waitMs, { downgradeEnabled: m.adaptiveDowngrade, targetProfile: m.adaptiveTargetProfile, hardCapEnabled: m.adaptiveHardCap });
    const returnDebug = req.return_debug === true;
    const timings: Partial<Record<StageTimingKey, number>> = {};
    const dtoOptions = { includeMeta: req.include_meta === true, includeSlots: req.include_slots === true, includeSlotsPreview: req.include_slots_preview === true, slotsPreviewKeys: req.slots_preview_keys ?? 10 };

    let t = performance.now();
    const candidates = await this.nearest(n, query, seedCandidateCount(knobs.limit), consumer);
    const seeds = pickSeeds(candidates, knobs.limit);
    timings.stage1_candidates_ann_ms = ms(t);
    const stage1 = stage1Info({ annSeedCount: seeds.length, finalSeedCount: seeds.length, exactFallbackEnabled: true, exactFallbackAttempted: false });

    let embeddings: ReturnType<typeof debugEmbeddings> | null = null;
    if (req.include_embeddings === true && returnDebug) {
      t = performance.now();
      const vectors = await this.repo.embeddingsOf(n, seeds.slice(0, 5).map((s) => s.node.id));
      embeddings = debugEmbeddings(seeds.slice(0, 5).map((s) => ({ node_id: s.node.id, embedding: vectors.get(s.node.id) ?? null })));
      timings.debug_embeddings_ms = ms(t);
      if (!embeddings.ok) throw new AppError('debug_embeddings_too_large', 'the debug embeddings would exceed 64 KiB');
    }

    if (seeds.length === 0) {
      const timing = stageTimings(timings);
      const counts = { nodes: 0, edges: 0 };
      return {
        seeds: [],
        subgraph: { nodes: [], edges: [] },
        ranked: [],
        context: emptyContext(),
        ...(returnDebug ? { debug: recallDebug({ neighborhoodCounts: counts, embeddings: embeddings?.ok ? embeddings.embeddings : null, stage1 }) } : {}),
        trajectory: trajectory({ requestedStrategy: req.recall_strategy, knobs, returnDebug, stage1, seedCount: 0, neighborhoodCounts: null, outputNodeCount: 0, outputEdgeCount: 0, contextChars: 0, timings: timing }),
        observability: observability({ timings: timing, inflightWaitMs: waitMs, adaptive, returnDebug, stage1, neighborhoodCounts: null }),
      };
    }

    // Stage 2: the neighbourhood within the edge budgets.
    t = performance.now();
    const ids = seedIds(seeds);
    const { be, bh } = edgeBudgets(knobs.max_edges);
    const hop = async (from: readonly string[]) => {
      const rows = (await this.repo.edgesTouching(n, from, knobs.min_edge_weight, knobs.min_edge_confidence, bh)).map((e): GraphEdge => normalizeGraphEdge(e));
      const fromSet = new Set(from);
      return { src: rows.filter((e) => fromSet.has(e.src_id)), dst: rows.filter((e) => fromSet.has(e.dst_id)) };
    };
    const hop1 = await hop(ids);
    const edgesFetched = knobs.neighborhood_hops === 1 ? mergeHop(hop1.src, hop1.dst, be) : await hop(frontier(ids, unionEdges(hop1.src, hop1.dst))).then((h2) => mergeHop(h2.src, h2.dst, be));
    timings.stage2_edges_ms = ms(t);

    t = performance.now();
    const wanted = selectCandidateNodes(ids, edgesFetched, nodeBudget(knobs.max_nodes));
    const loaded = new Map((await this.repo.nodesByIds(this.repo.db, n, wanted, consumer)).map((x) => [x.id, toGraphNode(x)]));
    const edges = dropDanglingEdges(edgesFetched, loaded);
    const counts = { nodes: loaded.size, edges: edges.length };
    timings.stage2_nodes_ms = ms(t);

    t = performance.now();
    const { rankedAll } = spreadActivation({ seeds, nodes: loaded, edges, hops: knobs.neighborhood_hops });
    const subgraph = buildSubgraph({ seeds, rankedAll, nodes: loaded, edges, maxNodes: knobs.max_nodes, maxEdges: knobs.max_edges });
    timings.stage2_spread_ms = ms(t);

    t = performance.now();
    const ruleIds = ruleNodeIds(subgraph.nodes);
    const ruleDefinitions = new Map<string, RuleDefinition>((await this.repo.ruleDefs(this.repo.db, n, ruleIds)).map((d) => [d.rule_node_id, d]));
    timings.rule_defs_ms = ms(t);

    t = performance.now();
    const context = assembleContext(
      { rankedAll, nodes: loaded, outputNodeIds: new Set(subgraph.nodes.map((x) => x.id)), ruleDefinitions },
      {
        slotsVisible: dtoOptions.includeSlots || dtoOptions.includeSlotsPreview,
        profile: req.context_compaction_profile ?? 'balanced',
        contextCharBudget: req.context_char_budget ?? null,
        contextTokenBudget: req.context_token_budget ?? null,
      },
    );
    timings.stage3_context_ms = ms(t);

    const timing = stageTimings(timings);
    return {
      seeds: seeds.map(seedDto),
      subgraph: { nodes: subgraph.nodes.map((x) => nodeDto(x, dtoOptions)), edges: subgraph.edges.map((e) => edgeDto(e, { includeMeta: dtoOptions.includeMeta })) },
      ranked: rankedDtos(rankedAll, knobs.ranked_limit),
      context: { text: context.text, items: context.items, citations: context.citations },
      ...(returnDebug ? { debug: recallDebug({ neighborhoodCounts: counts, embeddings: embeddings?.ok ? embeddings.embeddings : null, contextCompaction: context.compaction, stage1 }) } : {}),
      trajectory: trajectory({
        requestedStrategy: req.recall_strategy,
        knobs,
        returnDebug,
        stage1,
        seedCount: seeds.length,
        neighborhoodCounts: counts,
        outputNodeCount: subgraph.nodes.length,
        outputEdgeCount: subgraph.edges.length,
        contextChars: context.text.length,
        timings: timing,
      }),
      observability: observability({ timings: timing, inflightWaitMs: waitMs, adaptive, returnDebug, stage1, neighborhoodCounts: counts }),
    };
  }
}

const DEBUG_MESSAGES = {
  debug_embeddings_requires_return_debug: 'include_embeddings needs return_debug: true',
  debug_embeddings_not_allowed: 'debug embeddings need the X-Admin-Token header with a valid operator token',
  debug_embeddings_limit_too_high: 'with include_embeddings the recall limit may be at most 20',
  debug_embeddings_too_large: 'the debug embeddings would exceed 64 KiB',
} as const;
