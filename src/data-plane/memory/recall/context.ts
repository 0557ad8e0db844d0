import { isDraftTopic, isRecord } from './seeds';
import {
  type CompactionProfile,
  type GraphNode,
  type IdLookup,
  type RankedNode,
  type RuleDefinition,
} from './types';

/**
 * Context assembly (contract §4): which ranked nodes become `context.items`, their citations, the
 * `context.text` rendering and its compaction to a character budget.
 */

// ---------------------------------------------------------------------------------------------
// Selection (§4.1)

export const CONTEXT_MAX = { topics: 4, entities: 6, rules: 6 } as const;
/** Events gathered before compression concepts remove the ones they already cite. */
export const EVENTS_GATHERED = 24;
export const EVENTS_WITH_COMPRESSION = 5;
export const EVENTS_PLAIN = 10;
export const COMPACT_EVENTS: Readonly<Record<CompactionProfile, number>> = { balanced: 5, aggressive: 2 };

export interface ContextSelection {
  readonly topics: readonly GraphNode[];
  readonly entities: readonly GraphNode[];
  readonly events: readonly GraphNode[];
  readonly rules: readonly GraphNode[];
}

export interface SelectionOptions {
  /** Slots were loaded for the caller (`include_slots` or `include_slots_preview`); otherwise none are seen. */
  readonly slotsVisible: boolean;
  readonly compact: boolean;
  readonly profile: CompactionProfile;
}

/** The slots context assembly may read: none unless the caller asked for slots (§4.1). */
function slotsOf(node: GraphNode, slotsVisible: boolean): Readonly<Record<string, unknown>> {
  return slotsVisible && isRecord(node.slots) ? node.slots : {};
}

export function isCompressionConcept(node: GraphNode, slotsVisible: boolean): boolean {
  return node.type === 'concept' && slotsOf(node, slotsVisible)['summary_kind'] === 'compression_rollup';
}

/** The node ids a compression concept cites (`slots.citations[].node_id`), in order, each once. */
export function citedNodeIds(node: GraphNode, slotsVisible: boolean): string[] {
  const citations = slotsOf(node, slotsVisible)['citations'];
  if (!Array.isArray(citations)) return [];
  const ids = citations.flatMap((citation: unknown) => (isRecord(citation) && typeof citation['node_id'] === 'string' ? [citation['node_id']] : []));
  return [...new Set(ids)];
}

/**
 * Walks `rankedAll` in score order, filling each group up to its maximum. Events: with a
 * compression concept among the selected topics, up to 24 are gathered, those any selected
 * compression concept cites are removed and 5 kept; otherwise 10 are kept. Compact mode then cuts
 * events to 5 (balanced) or 2 (aggressive). Procedures, self models and draft topics never appear.
 */
export function selectContextNodes(rankedAll: readonly RankedNode[], nodes: ReadonlyMap<string, GraphNode>, options: SelectionOptions): ContextSelection {
  const topics: GraphNode[] = [];
  const entities: GraphNode[] = [];
  const gathered: GraphNode[] = [];
  const rules: GraphNode[] = [];
  const seen = new Set<string>();
  for (const { id } of rankedAll) {
    const node = nodes.get(id);
    if (node === undefined || seen.has(id)) continue;
    seen.add(id);
    switch (node.type) {
      case 'topic':
      case 'concept':
        if (topics.length < CONTEXT_MAX.topics && !isDraftTopic(node)) topics.push(node);
        break;
      case 'entity':
        if (entities.length < CONTEXT_MAX.entities) entities.push(node);
        break;
      case 'event':
      case 'evidence':
        if (gathered.length < EVENTS_GATHERED) gathered.push(node);
        break;
      case 'rule':
        if (rules.length < CONTEXT_MAX.rules) rules.push(node);
        break;
      case 'procedure':
      case 'self_model':
        break;
    }
  }
  const events = pickEvents(gathered, topics, options);
  return { topics, entities, events, rules };
}

function pickEvents(gathered: readonly GraphNode[], topics: readonly GraphNode[], options: SelectionOptions): GraphNode[] {
  const compression = topics.filter((topic) => isCompressionConcept(topic, options.slotsVisible));
  const cited = new Set(compression.flatMap((concept) => citedNodeIds(concept, options.slotsVisible)));
  const kept =
    compression.length > 0
      ? gathered.filter((event) => !cited.has(event.id)).slice(0, EVENTS_WITH_COMPRESSION)
      : gathered.slice(0, EVENTS_PLAIN);
  return options.compact ? kept.slice(0, COMPACT_EVENTS[options.profile]) : kept;
}

// ---------------------------------------------------------------------------------------------
// Items and citations (§4.2)

export interface NamedItem {
  readonly kind: 'topic' | 'concept' | 'entity';
  readonly node_id: string;
  readonly title?: string;
  readonly summary?: string;
  readonly commit_id: string;
}

export interface EventItem {
  readonly kind: 'event' | 'evidence';
  readonly node_id: string;
  readonly summary?: string;
  readonly raw_ref: string | null;
  readonly evidence_ref: string | null;
  readonly commit_id: string;
}

export interface RuleItem {
  readonly kind: 'rule';
  readonly node_id: string;
  readonly state?: RuleDefinition['state'];
  readonly rule_scope?: RuleDefinition['rule_scope'];
  readonly target_agent_id?: string;
  readonly target_team_id?: string;
  readonly summary?: string;
  readonly if_json?: unknown;
  readonly then_json?: unknown;
  readonly exceptions_json?: unknown;
  readonly stats?: { readonly positive: number; readonly negative: number };
  readonly commit_id: string;
}

export type ContextItem = NamedItem | EventItem | RuleItem;

export interface Citation {
  readonly node_id: string;
  readonly commit_id: string;
  readonly raw_ref: string | null;
  readonly evidence_ref: string | null;
}

/**
 * Builds an object keeping only the members whose value exists. Optional members (`title?`,
 * `summary?`, the rule fields) are omitted when undefined or null: a null title is "no title".
 */
function present<T extends object>(entries: T): T {
  return Object.fromEntries(Object.entries(entries).filter(([, value]) => value !== undefined && value !== null)) as T;
}

function namedItem(node: GraphNode): NamedItem {
  const optional = present({ title: node.title ?? undefined, summary: node.text_summary ?? undefined });
  return { kind: node.type as NamedItem['kind'], node_id: node.id, ...optional, commit_id: node.commit_id };
}

function eventItem(node: GraphNode): EventItem {
  return {
    kind: node.type as EventItem['kind'],
    node_id: node.id,
    ...present({ summary: node.text_summary ?? undefined }),
    raw_ref: node.raw_ref,
    evidence_ref: node.evidence_ref,
    commit_id: node.commit_id,
  };
}

/**
 * Rule fields come from the definition when the rule is also in `subgraph.nodes` (and its
 * definition was loaded); otherwise from `slots.if` / `then` / `exceptions` (when slots are
 * visible), without state, scope, targets or stats. `then_json` is the stored `then`.
 */
function ruleItem(node: GraphNode, definition: RuleDefinition | undefined, slotsVisible: boolean): RuleItem {
  const summary = node.text_summary ?? undefined;
  if (definition !== undefined) {
    return {
      kind: 'rule',
      node_id: node.id,
      ...present({
        state: definition.state,
        rule_scope: definition.rule_scope,
        target_agent_id: definition.target_agent_id ?? undefined,
        target_team_id: definition.target_team_id ?? undefined,
        summary,
        if_json: definition.if_json,
        then_json: definition.then_json,
        exceptions_json: definition.exceptions_json,
        stats: { positive: definition.positive_count, negative: definition.negative_count },
      }),
      commit_id: node.commit_id,
    };
  }
  const slots = slotsOf(node, slotsVisible);
  return {
    kind: 'rule',
    node_id: node.id,
    ...present({ summary, if_json: slots['if'], then_json: slots['then'], exceptions_json: slots['exceptions'] }),
    commit_id: node.commit_id,
  };
}

export interface ItemSources {
  /** Ids of `subgraph.nodes`: only those rules use their definition. */
  readonly outputNodeIds: IdLookup;
  readonly ruleDefinitions: ReadonlyMap<string, RuleDefinition>;
  readonly slotsVisible: boolean;
}

function definitionFor(node: GraphNode, sources: ItemSources): RuleDefinition | undefined {
  return sources.outputNodeIds.has(node.id) ? sources.ruleDefinitions.get(node.id) : undefined;
}

/** `context.items`: topics, entities, events, rules, each group in selection order. */
export function contextItems(selection: ContextSelection, sources: ItemSources): ContextItem[] {
  return [
    ...selection.topics.map(namedItem),
    ...selection.entities.map(namedItem),
    ...selection.events.map(eventItem),
    ...selection.rules.map((rule) => ruleItem(rule, definitionFor(rule, sources), sources.slotsVisible)),
  ];
}

/** `context.citations`: one per item, in item order, each node once. */
export function contextCitations(selection: ContextSelection): Citation[] {
  const seen = new Set<string>();
  const citations: Citation[] = [];
  for (const node of [...selection.topics, ...selection.entities, ...selection.events, ...selection.rules]) {
    if (seen.has(node.id)) continue;
    seen.add(node.id);
    citations.push({ node_id: node.id, commit_id: node.commit_id, raw_ref: node.raw_ref, evidence_ref: node.evidence_ref });
  }
  return citations;
}

// ---------------------------------------------------------------------------------------------
// Text (§4.3)

export type SectionKey = 'topics' | 'entities' | 'events' | 'rules';
export const SECTION_ORDER: readonly SectionKey[] = ['topics', 'entities', 'events', 'rules'];
export const SECTION_HEADINGS: Readonly<Record<SectionKey, string>> = {
  topics: '# Topics / Concepts',
  entities: '# Entities',
  events: '# Supporting Events / Evidence',
  rules: '# Applicable Rules (Shadow/Active)',
};

export type LineKind = 'topic' | 'compression_evidence' | 'entity' | 'event' | 'rule' | 'rule_json';

export interface ContextLine {
  readonly section: SectionKey;
  readonly kind: LineKind;
  readonly text: string;
}

/** Evidence pointers printed under a compression concept: 3 normally, fewer in compact mode. */
export const COMPRESSION_EVIDENCE_LINES = { full: 3, balanced: 2, aggressive: 1 } as const;

export interface RenderOptions {
  readonly slotsVisible: boolean;
  readonly compact: boolean;
  readonly profile: CompactionProfile;
}

/** Every line of `context.text` with its section, in rendering order (headings excluded). */
export function contextLines(selection: ContextSelection, items: readonly ContextItem[], options: RenderOptions): ContextLine[] {
  const ruleItems = new Map(items.flatMap((item) => (item.kind === 'rule' ? [[item.node_id, item] as const] : [])));
  return [
    ...selection.topics.flatMap((node) => topicLines(node, options)),
    ...selection.entities.map((node): ContextLine => ({ section: 'entities', kind: 'entity', text: namedLine(node) })),
    ...selection.events.map((node): ContextLine => ({ section: 'events', kind: 'event', text: eventLine(node) })),
    ...selection.rules.flatMap((node) => ruleLines(ruleItems.get(node.id) ?? { kind: 'rule', node_id: node.id, commit_id: node.commit_id }, options.profile)),
  ];
}

function label(node: GraphNode): string {
  return node.title !== null && node.title !== '' ? node.title : node.id;
}

function withSummary(node: GraphNode): string {
  return node.text_summary !== null && node.text_summary !== '' ? `${label(node)}: ${node.text_summary}` : label(node);
}

function namedLine(node: GraphNode): string {
  return `- ${withSummary(node)} (node:${node.id})`;
}

function topicLines(node: GraphNode, options: RenderOptions): ContextLine[] {
  if (!isCompressionConcept(node, options.slotsVisible)) return [{ section: 'topics', kind: 'topic', text: namedLine(node) }];
  const covers = slotsOf(node, options.slotsVisible)['source_event_count'];
  const count = typeof covers === 'number' && Number.isFinite(covers) ? covers : 0;
  const head: ContextLine = { section: 'topics', kind: 'topic', text: `- ${withSummary(node)} (node:${node.id}, compression, covers=${count})` };
  const limit = options.compact ? COMPRESSION_EVIDENCE_LINES[options.profile] : COMPRESSION_EVIDENCE_LINES.full;
  const evidence = citedNodeIds(node, options.slotsVisible)
    .slice(0, limit)
    .map((id): ContextLine => ({ section: 'topics', kind: 'compression_evidence', text: `  evidence_node=${id}` }));
  return [head, ...evidence];
}

function eventLine(node: GraphNode): string {
  const summary = node.text_summary !== null && node.text_summary !== '' ? node.text_summary : '(no summary)';
  const refs = `${node.raw_ref !== null ? `, raw_ref=${node.raw_ref}` : ''}${node.evidence_ref !== null ? `, evidence_ref=${node.evidence_ref}` : ''}`;
  return `- ${summary} (node:${node.id}${refs})`;
}

function ruleLines(item: RuleItem, profile: CompactionProfile): ContextLine[] {
  const parts = [`- state=${item.state ?? 'unknown'}`];
  if (item.rule_scope !== undefined) parts.push(` scope=${item.rule_scope}`);
  if (item.rule_scope === 'agent' && item.target_agent_id !== undefined) parts.push(` target_agent=${item.target_agent_id}`);
  if (item.rule_scope === 'team' && item.target_team_id !== undefined) parts.push(` target_team=${item.target_team_id}`);
  if (item.stats !== undefined) parts.push(` pos=${item.stats.positive} neg=${item.stats.negative}`);
  parts.push(` summary=${item.summary ?? '(none)'} (node:${item.node_id})`);
  const lines: ContextLine[] = [{ section: 'rules', kind: 'rule', text: parts.join('') }];
  if (profile === 'balanced') {
    if (item.if_json !== undefined) lines.push({ section: 'rules', kind: 'rule_json', text: `  if=${compactJson(item.if_json)}` });
    if (item.then_json !== undefined) lines.push({ section: 'rules', kind: 'rule_json', text: `  then=${compactJson(item.then_json)}` });
  }
  return lines;
}

/** JSON without whitespace, key order as stored; never throws on odd values. */
function compactJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Sections in fixed order, each heading followed by its lines; an empty section is left out. */
export function renderContext(lines: readonly ContextLine[]): string {
  return SECTION_ORDER.flatMap((section) => {
    const own = lines.filter((line) => line.section === section).map((line) => line.text);
    return own.length === 0 ? [] : [[SECTION_HEADINGS[section], ...own].join('\n')];
  }).join('\n\n');
}

// ---------------------------------------------------------------------------------------------
// Compaction (§4.3)

export const MIN_CHAR_BUDGET = 160;
export const CHARS_PER_TOKEN = 4;

const LINE_BASE: Readonly<Record<LineKind, number>> = { topic: 10, compression_evidence: 90, entity: 40, event: 70, rule: 20, rule_json: 80 };
const SECTION_BIAS: Readonly<Record<CompactionProfile, Readonly<Record<SectionKey, number>>>> = {
  balanced: { topics: 0, entities: 10, events: 40, rules: 5 },
  aggressive: { topics: 0, entities: 20, events: 80, rules: 10 },
};

/** Higher drops first: base by line kind plus the profile's bias for the line's section. */
export function dropPriority(line: ContextLine, profile: CompactionProfile): number {
  return LINE_BASE[line.kind] + SECTION_BIAS[profile][line.section];
}

/**
 * The char budget in effect: `context_char_budget`, else 4 × `context_token_budget`, never below
 * 160; null when neither is given (then there is no compaction by size).
 */
export function charBudget(contextCharBudget: number | null | undefined, contextTokenBudget: number | null | undefined): number | null {
  const requested = isUsable(contextCharBudget) ? contextCharBudget : isUsable(contextTokenBudget) ? CHARS_PER_TOKEN * contextTokenBudget : null;
  return requested === null ? null : Math.max(MIN_CHAR_BUDGET, requested);
}

function isUsable(value: number | null | undefined): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

export function estimateTokens(chars: number): number {
  return Math.ceil(chars / CHARS_PER_TOKEN);
}

export interface CompactionResult {
  readonly text: string;
  readonly kept: readonly ContextLine[];
  readonly dropped: readonly ContextLine[];
}

/**
 * Drops lines one at a time in descending drop priority (ties: section order, then line order,
 * i.e. the earlier line goes first), re-rendering after each drop, until the text fits `budget`
 * or a single line is left. A section that loses all its lines loses its heading in the render.
 */
export function compactLines(lines: readonly ContextLine[], budget: number | null, profile: CompactionProfile): CompactionResult {
  let kept = [...lines];
  let text = renderContext(kept);
  const dropped: ContextLine[] = [];
  if (budget === null) return { text, kept, dropped };
  const sectionRank = (line: ContextLine): number => SECTION_ORDER.indexOf(line.section);
  const order = lines
    .map((line, index) => ({ line, index }))
    .sort((a, b) => dropPriority(b.line, profile) - dropPriority(a.line, profile) || sectionRank(a.line) - sectionRank(b.line) || a.index - b.index);
  for (const { line } of order) {
    if (text.length <= budget || kept.length <= 1) break;
    kept = kept.filter((candidate) => candidate !== line);
    dropped.push(line);
    text = renderContext(kept);
  }
  return { text, kept, dropped };
}

/** `debug.context_compaction`. */
export interface ContextCompaction {
  readonly profile: CompactionProfile;
  readonly token_budget: number | null;
  readonly char_budget: number | null;
  /** The text got shorter. */
  readonly applied: boolean;
  readonly before_chars: number;
  readonly after_chars: number;
  readonly before_est_tokens: number;
  readonly after_est_tokens: number;
  readonly dropped_lines: number;
  readonly dropped_by_section: Readonly<Record<SectionKey, number>>;
}

// ---------------------------------------------------------------------------------------------
// The whole of §4

export interface ContextInput {
  readonly rankedAll: readonly RankedNode[];
  /** The loaded neighbourhood nodes, by id. */
  readonly nodes: ReadonlyMap<string, GraphNode>;
  /** Ids of `subgraph.nodes`. */
  readonly outputNodeIds: IdLookup;
  /** Definitions of the rule nodes in `subgraph.nodes` (see `ruleNodeIds`). */
  readonly ruleDefinitions: ReadonlyMap<string, RuleDefinition>;
}

export interface ContextOptions {
  /** True only when the request has `include_slots` or `include_slots_preview`. */
  readonly slotsVisible: boolean;
  /** `context_compaction_profile`, default `balanced`. */
  readonly profile?: CompactionProfile;
  readonly contextCharBudget?: number | null;
  readonly contextTokenBudget?: number | null;
}

export interface AssembledContext {
  readonly text: string;
  readonly items: readonly ContextItem[];
  readonly citations: readonly Citation[];
  readonly compaction: ContextCompaction;
}

/** The context of a recall without seeds (§3.3 step 7). */
export function emptyContext(): { text: string; items: ContextItem[]; citations: Citation[] } {
  return { text: '', items: [], citations: [] };
}

/** Rule node ids among the output nodes: the service loads their definitions before `assembleContext`. */
export function ruleNodeIds(outputNodes: readonly GraphNode[]): string[] {
  return outputNodes.filter((node) => node.type === 'rule').map((node) => node.id);
}

/** Compact mode: a char budget is in effect (directly or from tokens) or the profile is aggressive. */
export function isCompactMode(budget: number | null, profile: CompactionProfile): boolean {
  return budget !== null || profile === 'aggressive';
}

export function assembleContext(input: ContextInput, options: ContextOptions): AssembledContext {
  const profile = options.profile ?? 'balanced';
  const budget = charBudget(options.contextCharBudget, options.contextTokenBudget);
  const compact = isCompactMode(budget, profile);
  const { slotsVisible } = options;
  const selection = selectContextNodes(input.rankedAll, input.nodes, { slotsVisible, compact, profile });
  const items = contextItems(selection, { outputNodeIds: input.outputNodeIds, ruleDefinitions: input.ruleDefinitions, slotsVisible });
  const lines = contextLines(selection, items, { slotsVisible, compact, profile });
  const before = renderContext(lines);
  const compacted = compactLines(lines, budget, profile);
  return {
    text: compacted.text,
    items,
    citations: contextCitations(selection),
    compaction: {
      profile,
      token_budget: isUsable(options.contextTokenBudget) ? options.contextTokenBudget : null,
      char_budget: budget,
      applied: compacted.text.length < before.length,
      before_chars: before.length,
      after_chars: compacted.text.length,
      before_est_tokens: estimateTokens(before.length),
      after_est_tokens: estimateTokens(compacted.text.length),
      dropped_lines: compacted.dropped.length,
      dropped_by_section: countBySection(compacted.dropped),
    },
  };
}

function countBySection(lines: readonly ContextLine[]): Record<SectionKey, number> {
  const counts: Record<SectionKey, number> = { topics: 0, entities: 0, events: 0, rules: 0 };
  for (const line of lines) counts[line.section] += 1;
  return counts;
}
