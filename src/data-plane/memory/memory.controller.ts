import { z } from 'zod';
import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Req, Res, UseGuards } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ApiKeyAuthGuard, RequireScopes } from '../../control-plane/api-keys/api-key-auth.guard';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config';
import { AppError } from '../../platform/errors/app-error';
import { EMBEDDING_PROVIDER, type EmbeddingProvider } from '../embeddings/embedding-provider';
import { ContractGateway } from './contract-gateway';
import { injectReader, injectTenantOnly, injectWriter, nsOf, scopeOf, type Principal } from './domain/identity';
import type { Consumer } from './domain/lanes';
import { prepareText } from './domain/text';
import { MemoryCommands } from './memory.commands';
import { consumerOf, MemoryQueries } from './memory.queries';
import {
  ActivateBody,
  CommitsQuery,
  EventBody,
  FindBody,
  PackExportBody,
  PackImportBody,
  recallBody,
  RecallTextBody,
  RehydrateBody,
  SessionBody,
  SessionEventsQuery,
  SessionParams,
  VerifyBody,
  writeBody,
  RulesEvaluateBody,
  ToolsSelectBody,
  ToolsFeedbackBody,
  RuleStateBody,
  FeedbackBody,
} from './memory.schemas';
import { PolicyService } from './policy.service';
import { type RecallRequest, RecallService } from './recall.service';
import { QueryEmbedder } from './query-embedder';
import { commitSeqCursor } from '../../platform/http/cursor';
import { parseInput } from '../../platform/http/validation';
import { ApiContract, objectResponse } from '../../platform/http/openapi';

/** Response members the contract fixes (documented loosely: the open core's bodies carry more). */
const WriteResponse = z.looseObject({
  tenant_id: z.string(),
  scope: z.string(),
  commit_id: z.string(),
  commit_hash: z.string(),
  nodes: z.array(z.looseObject({ id: z.string(), type: z.string() })),
  edges: z.array(z.looseObject({ id: z.string(), type: z.string(), src_id: z.string(), dst_id: z.string() })),
});
const FindResponse = z.looseObject({ nodes: z.array(z.looseObject({ id: z.string(), type: z.string() })), page: z.looseObject({}) });
const CommitsResponse = z.object({ tenant_id: z.string(), scope: z.string(), commits: z.array(z.looseObject({ commit_id: z.string() })), next_cursor: z.string().nullable() });


/** An absent body (SDK 0.1.4 sends none for an undefined input) reads as {}. */
const bodyOf = (b: unknown): unknown => (b === undefined ? {} : b);
/** Routes with a bucket but no concurrency gate (contract §1.6). */
const UNGATED = { gated: false } as const;
const bound = (p: Principal): Consumer | null => (p.agentId !== null || p.teamId !== null ? { agentId: p.agentId, teamId: p.teamId } : null);

/**
 * The memory API: the Aionis open core's contract (../shared/reference/aionis-memory-contract.md),
 * authenticated by API key; the tenant is the key's. Every route answers 200 with a JSON object;
 * errors carry the open core's `error`/`message`/`details`/`issues` (problem.ts writeError).
 */
@ApiTags('memory')
@Controller('v1/memory')
@UseGuards(ApiKeyAuthGuard)
export class MemoryController {
  private readonly dim: number;
  private readonly writeSchema;
  private readonly recallSchema;

  constructor(
    private readonly gw: ContractGateway,
    private readonly commands: MemoryCommands,
    private readonly queries: MemoryQueries,
    private readonly recallService: RecallService,
    private readonly embedder: QueryEmbedder,
    private readonly policy: PolicyService,
    @Inject(EMBEDDING_PROVIDER) private readonly provider: EmbeddingProvider | null,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.dim = config.embeddings.dimension;
    this.writeSchema = writeBody(this.dim);
    this.recallSchema = recallBody(this.dim);
  }

  private get embeddings(): boolean {
    return this.provider !== null;
  }

  @Post('write')
  @HttpCode(200)
  @RequireScopes('memory:write')
  @ApiContract({ summary: 'Write nodes and edges as one commit (deterministic ids; an identical write returns the same commit)', auth: 'api_key', body: writeBody(1536), response: { status: 200, description: 'The commit and the nodes and edges written', schema: WriteResponse }, example: { body: { scope: 'travel-desk', input_text: 'passport', nodes: [{ client_id: 'note:passport', type: 'event', text_summary: 'Maria passport expires in March 2027' }] } } })
  async write(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown) {
    const raw = bodyOf(body);
    const p = this.gw.principal(req, raw);
    const b = this.gw.parse(this.writeSchema, injectWriter(raw, p), 'body', res, 'write');
    const scope = scopeOf(b.scope);
    return this.gw.run(p, res, 'write', () => this.commands.write(p, scope, b, this.embeddings, this.gw.facts(req)));
  }

  private async recallWith(
    req: Request,
    res: Response,
    p: Principal,
    b: RecallRequest & { scope?: string | undefined; consumer_agent_id?: string | undefined; consumer_team_id?: string | undefined; rules_context?: unknown; rules_include_shadow?: boolean | undefined; rules_limit?: number | undefined },
    query: () => Promise<{ vector: number[]; extra: Record<string, unknown> }>,
  ) {
    const scope = scopeOf(b.scope);
    const resolved = this.recallService.prepare(b, b.include_embeddings === true ? await this.gw.privileged(req) : false);
    // The rules block is policy: its context gets the policy routes' identity injection and checks.
    const rulesContext = b.rules_context !== undefined && b.rules_context !== null ? this.policy.policyContext(p, b.rules_context, 'rules_context') : undefined;
    return this.gw.run(p, res, 'recall', async (waitMs) => {
      const q = await query();
      const ns = nsOf(p, scope);
      const out = await this.recallService.recall(ns, consumerOf(b), b, q.vector, resolved, waitMs);
      // With rules_context, the rules that match it (contract §2.3: the evaluate result, reduced).
      const rules = rulesContext !== undefined ? { rules: await this.policy.forRecall(ns, rulesContext, b.rules_include_shadow ?? false, b.rules_limit ?? 50) } : {};
      return { tenant_id: p.tenantId, scope, ...out, ...rules, ...q.extra };
    });
  }

  @Post('recall')
  @HttpCode(200)
  @RequireScopes('memory:read')
  @ApiContract({ summary: 'Recall by a query embedding: seeds, their neighbourhood, ranked nodes and an LLM-ready context', auth: 'api_key', body: recallBody(1536), response: { status: 200, description: 'Seeds, ranked nodes and context', schema: objectResponse("{seeds, ranked, subgraph, context, ...} (the open core contract)") } })
  async recall(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown) {
    const raw = bodyOf(body);
    const p = this.gw.principal(req, raw);
    const b = this.gw.parse(this.recallSchema, injectReader(raw, p), 'body', res, 'recall');
    return this.recallWith(req, res, p, b, () => Promise.resolve({ vector: b.query_embedding, extra: {} }));
  }

  @Post('recall_text')
  @HttpCode(200)
  @RequireScopes('memory:read')
  @ApiContract({ summary: 'Recall by text: the query is normalised, redacted and embedded with the configured provider', auth: 'api_key', body: RecallTextBody, response: { status: 200, description: 'Seeds, ranked nodes and context', schema: objectResponse("{seeds, ranked, subgraph, context, ...} (the open core contract)") }, example: { body: { scope: 'travel-desk', query_text: 'when does the passport expire?' } } })
  async recallText(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown) {
    const raw = bodyOf(body);
    const p = this.gw.principal(req, raw);
    const parsed = this.gw.parse(RecallTextBody, injectReader(raw, p), 'body', res, 'recall_text');
    const fallbackBudget = this.config.memory.recallTextContextTokenBudgetDefault;
    const b = parsed.context_token_budget === undefined && parsed.context_char_budget === undefined && fallbackBudget > 0 ? { ...parsed, context_token_budget: fallbackBudget } : parsed;
    const text = prepareText(b.query_text, { maxLen: this.config.memory.maxTextLen, redaction: this.config.memory.piiRedaction }, {});
    if (text === '') throw new AppError('validation_failed', '1 invalid field(s): body.query_text', { errors: [{ field: 'body.query_text', message: 'must contain text other than whitespace' }] });
    return this.recallWith(req, res, p, b, async () => {
      const q = await this.embedder.embed(text);
      return { vector: q.vector, extra: { query: { text, embedding_provider: q.provider } } };
    });
  }

  @Post('find')
  @HttpCode(200)
  @RequireScopes('memory:read')
  @ApiContract({ summary: 'Deterministic lookup by URI, id, client id, type, text or slots; newest first, paged', auth: 'api_key', body: FindBody, response: { status: 200, description: 'Matching nodes, newest first, and the page', schema: FindResponse }, example: { body: { scope: 'travel-desk', client_id: 'note:passport' } } })
  async find(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown) {
    const raw = bodyOf(body);
    const p = this.gw.principal(req, raw);
    const b = this.gw.parse(FindBody, injectReader(raw, p), 'body', res, 'find');
    const scope = scopeOf(b.scope);
    return this.gw.run(p, res, 'recall', () => this.queries.find(p, scope, b));
  }

  @Post('sessions')
  @HttpCode(200)
  @RequireScopes('memory:write')
  @ApiContract({ summary: 'Create a session (a topic node); the same session_id returns the same node', auth: 'api_key', body: SessionBody, response: { status: 200, description: 'The session node', schema: objectResponse("{session_id, node_id, ...}") }, example: { body: { scope: 'travel-desk', session_id: 'trip-42', title: 'Lisbon trip', input_text: 'new trip' } } })
  async createSession(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown) {
    const raw = bodyOf(body);
    const p = this.gw.principal(req, raw);
    const b = this.gw.parse(SessionBody, injectWriter(raw, p), 'body', res, 'sessions');
    const scope = scopeOf(b.scope);
    return this.gw.run(p, res, 'write', () => this.commands.createSession(p, scope, b, this.embeddings, this.gw.facts(req)));
  }

  @Post('events')
  @HttpCode(200)
  @RequireScopes('memory:write')
  @ApiContract({ summary: 'Append an event to a session (created implicitly when new)', auth: 'api_key', body: EventBody, response: { status: 200, description: 'The event node and its session', schema: objectResponse("{session_id, event_id, ...}") }, example: { body: { scope: 'travel-desk', session_id: 'trip-42', text_summary: 'Booked the 9:40 flight', input_text: 'booking' } } })
  async writeEvent(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown) {
    const raw = bodyOf(body);
    const p = this.gw.principal(req, raw);
    const b = this.gw.parse(EventBody, injectWriter(raw, p), 'body', res, 'events');
    const scope = scopeOf(b.scope);
    return this.gw.run(p, res, 'write', () => this.commands.writeEvent(p, scope, b, this.embeddings, this.gw.facts(req)));
  }

  @Get('sessions/:session_id/events')
  @RequireScopes('memory:read')
  @ApiContract({ summary: "A session's events, newest first, paged (query values as strings)", auth: 'api_key', params: SessionParams, query: SessionEventsQuery, response: { status: 200, description: 'The session and its events', schema: objectResponse("{session, events, page}") }, example: { params: { session_id: 'trip-42' }, query: { scope: 'travel-desk', limit: '20' } } })
  async sessionEvents(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown, @Query() query: unknown) {
    const raw = query ?? {};
    const p = this.gw.principal(req, raw);
    const q = this.gw.parse(SessionEventsQuery, injectReader(raw, p), 'query', res, 'session_events');
    const id = parseInput(SessionParams, params, 'params').session_id;
    const scope = scopeOf(q.scope);
    return this.gw.run(p, res, 'recall', () => this.queries.sessionEvents(p, scope, id, q));
  }

  @Post('packs/export')
  @HttpCode(200)
  @RequireScopes('memory:read')
  @ApiContract({ summary: 'Export the scope as a pack (nodes, edges, commits) with its SHA-256', auth: 'api_key', body: PackExportBody, response: { status: 200, description: 'The pack and its SHA-256', schema: objectResponse("{pack, manifest}") }, example: { body: { scope: 'travel-desk' } } })
  async packExport(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown) {
    const raw = bodyOf(body);
    const p = this.gw.principal(req, raw);
    const b = this.gw.parse(PackExportBody, injectReader(raw, p), 'body', res, 'packs_export');
    const scope = scopeOf(b.scope);
    const o = { include_nodes: b.include_nodes ?? true, include_edges: b.include_edges ?? true, include_commits: b.include_commits ?? true, include_meta: b.include_meta ?? true, max_rows: b.max_rows ?? 5000 };
    return this.gw.run(p, res, 'recall', () => this.queries.exportPack(p, scope, o, bound(p), new Date()));
  }

  @Post('packs/import')
  @HttpCode(200)
  @RequireScopes('memory:write')
  @ApiContract({ summary: 'Verify a pack against its hash and import it into its own tenant and scope (verify_only: check and plan)', auth: 'api_key', body: PackImportBody, response: { status: 200, description: 'What was (or would be) imported', schema: objectResponse("{ok, verified, imported, ...}") }, example: { body: { pack: { version: 'aionis_pack_v1', tenant_id: 'acme', scope: 'imported', nodes: [], edges: [], commits: [] }, verify_only: true } } })
  async packImport(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown) {
    const raw = bodyOf(body);
    const p = this.gw.principal(req, raw);
    // Owners and producers come from the pack's rows: the writer's injected identity is not used here (contract §2.10).
    injectWriter(raw, p);
    const b = this.gw.parse(PackImportBody, injectTenantOnly(raw, p), 'body', res, 'packs_import');
    const rawPack = (raw as { pack: unknown }).pack;
    return this.gw.run(p, res, 'write', () => this.commands.importPack(p, { ...b, raw_pack: rawPack }, this.embeddings, this.gw.facts(req)));
  }

  @Post('archive/rehydrate')
  @HttpCode(200)
  @RequireScopes('memory:write')
  @ApiContract({ summary: 'Move archived or cold nodes back to warm or hot', auth: 'api_key', body: RehydrateBody, response: { status: 200, description: 'The nodes moved', schema: objectResponse("{rehydrated, ...}") }, example: { body: { scope: 'travel-desk', client_ids: ['note:passport'], target_tier: 'hot', input_text: 'needed again' } } })
  async rehydrate(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown) {
    const raw = bodyOf(body);
    const p = this.gw.principal(req, raw);
    const b = this.gw.parse(RehydrateBody, injectTenantOnly(raw, p), 'body', res, 'archive_rehydrate');
    const scope = scopeOf(b.scope);
    return this.gw.run(p, res, 'write', () => this.commands.rehydrate(p, scope, b, this.gw.facts(req)), UNGATED);
  }

  @Post('nodes/activate')
  @HttpCode(200)
  @RequireScopes('memory:write')
  @ApiContract({ summary: 'Record an outcome on nodes (feedback counters and quality) and activate them', auth: 'api_key', body: ActivateBody, response: { status: 200, description: 'The nodes activated', schema: objectResponse("{activated, ...}") }, example: { body: { scope: 'travel-desk', client_ids: ['note:passport'], outcome: 'positive', input_text: 'helpful' } } })
  async activate(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown) {
    const raw = bodyOf(body);
    const p = this.gw.principal(req, raw);
    const b = this.gw.parse(ActivateBody, injectTenantOnly(raw, p), 'body', res, 'nodes_activate');
    const scope = scopeOf(b.scope);
    return this.gw.run(p, res, 'write', () => this.commands.activate(p, scope, b, this.gw.facts(req)), UNGATED);
  }

  @Post('rules/evaluate')
  @HttpCode(200)
  @RequireScopes('memory:read')
  @ApiContract({ summary: 'The rules matching a context, ranked and merged into a policy (read-only)', auth: 'api_key', body: RulesEvaluateBody, response: { status: 200, description: 'Matching rules and the merged policy', schema: objectResponse("{matched, policy, ...}") }, example: { body: { scope: 'travel-desk', context: { intent: 'book_flight' } } } })
  async rulesEvaluate(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown) {
    const raw = bodyOf(body);
    const p = this.gw.principal(req, raw);
    const parsed = this.gw.parse(RulesEvaluateBody, injectTenantOnly(raw, p), 'body', res, 'rules_evaluate');
    const b = { ...parsed, context: this.policy.policyContext(p, parsed.context) };
    const scope = scopeOf(b.scope);
    return this.gw.run(p, res, 'recall', () => this.policy.evaluate(p, nsOf(p, scope), b));
  }

  @Post('tools/select')
  @HttpCode(200)
  @RequireScopes('memory:read')
  @ApiContract({ summary: 'Choose a tool among candidates under the active policy; the choice is recorded as a decision', auth: 'api_key', body: ToolsSelectBody, response: { status: 200, description: 'The selected tool and the decision', schema: objectResponse("{selection, decision_id, ...}") }, example: { body: { scope: 'travel-desk', context: { intent: 'book_flight' }, candidates: ['search_flights', 'call_agent'] } } })
  async toolsSelect(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown) {
    const raw = bodyOf(body);
    const p = this.gw.principal(req, raw);
    const parsed = this.gw.parse(ToolsSelectBody, injectTenantOnly(raw, p), 'body', res, 'tools_select');
    const b = { ...parsed, context: this.policy.policyContext(p, parsed.context) };
    const scope = scopeOf(b.scope);
    return this.gw.run(p, res, 'recall', () => this.policy.select(p, nsOf(p, scope), b, this.gw.facts(req)));
  }

  @Post('tools/feedback')
  @HttpCode(200)
  @RequireScopes('memory:write')
  @ApiContract({ summary: 'The outcome of a tool choice, credited to the rules that shaped it and linked to its decision', auth: 'api_key', body: ToolsFeedbackBody, response: { status: 200, description: 'The feedback recorded', schema: objectResponse("{updated_rules, ...}") }, example: { body: { scope: 'travel-desk', outcome: 'positive', candidates: ['search_flights', 'call_agent'], selected_tool: 'search_flights', input_text: 'booked' } } })
  async toolsFeedback(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown) {
    const raw = bodyOf(body);
    const p = this.gw.principal(req, raw);
    const parsed = this.gw.parse(ToolsFeedbackBody, injectTenantOnly(raw, p), 'body', res, 'tools_feedback');
    const b = { ...parsed, context: this.policy.policyContext(p, parsed.context) };
    const scope = scopeOf(b.scope);
    return this.gw.run(p, res, 'write', () => this.policy.toolsFeedback(p, nsOf(p, scope), b, this.gw.facts(req)), UNGATED);
  }

  @Post('rules/state')
  @HttpCode(200)
  @RequireScopes('memory:write')
  @ApiContract({ summary: "Move a rule between draft, shadow, active and disabled (validated on promotion); an event in the audit log", auth: 'api_key', body: RuleStateBody, response: { status: 200, description: 'The rule and its new state', schema: objectResponse("{rule_node_id, state, ...}") }, example: { body: { scope: 'travel-desk', rule_node_id: '00000000-0000-4000-8000-00000000001a', state: 'shadow', input_text: 'try it' } } })
  async rulesState(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown) {
    const raw = bodyOf(body);
    const p = this.gw.principal(req, raw);
    const b = this.gw.parse(RuleStateBody, injectTenantOnly(raw, p), 'body', res, 'rules_state');
    const scope = scopeOf(b.scope);
    return this.gw.run(p, res, 'write', () => this.policy.setState(p, nsOf(p, scope), b, this.gw.facts(req)), UNGATED);
  }

  @Post('feedback')
  @HttpCode(200)
  @RequireScopes('memory:write')
  @ApiContract({ summary: 'Direct feedback on one rule', auth: 'api_key', body: FeedbackBody, response: { status: 200, description: 'The updated rule counters', schema: objectResponse("{rule_node_id, ...}") }, example: { body: { scope: 'travel-desk', rule_node_id: '00000000-0000-4000-8000-00000000001a', outcome: 'positive', input_text: 'worked' } } })
  async feedback(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown) {
    const raw = bodyOf(body);
    const p = this.gw.principal(req, raw);
    const b = this.gw.parse(FeedbackBody, injectTenantOnly(raw, p), 'body', res, 'feedback');
    const scope = scopeOf(b.scope);
    return this.gw.run(p, res, 'write', () => this.policy.ruleFeedback(p, nsOf(p, scope), b, this.gw.facts(req)), UNGATED);
  }

  @Get('commits')
  @RequireScopes('memory:read')
  @ApiContract({ summary: 'Hosted addition: the commit chain of a scope, oldest first', auth: 'api_key', query: CommitsQuery, response: { status: 200, description: 'A page of commits, oldest first', schema: CommitsResponse }, example: { query: { scope: 'travel-desk', limit: '50' } } })
  async commits(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Query() query: unknown) {
    const raw = query ?? {};
    const p = this.gw.principal(req, raw);
    const q = this.gw.parse(CommitsQuery, injectTenantOnly(raw, p), 'query', res, 'commits');
    const scope = scopeOf(q.scope);
    const limit = q.limit ?? 100;
    const after = q.cursor ? commitSeqCursor.decode(q.cursor).seq : '0';
    return this.gw.run(p, res, 'recall', async () => {
      const { rows, more } = await this.queries.commits(p, scope, Number(after), limit);
      const last = rows.at(-1);
      return { tenant_id: p.tenantId, scope, commits: rows, next_cursor: more && last ? commitSeqCursor.encode({ seq: String(last.seq) }) : null };
    });
  }

  @Post('commits/verify')
  @HttpCode(200)
  @RequireScopes('memory:read')
  @ApiContract({ summary: "Hosted addition: recompute every hash of the scope's commit chain", auth: 'api_key', body: VerifyBody, bodyRequired: false, response: { status: 200, description: 'Whether every hash of the chain holds', schema: objectResponse("{ok, checked, ...}") }, example: { body: { scope: 'travel-desk' } } })
  async verify(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown) {
    const raw = bodyOf(body);
    const p = this.gw.principal(req, raw);
    const b = this.gw.parse(VerifyBody, injectTenantOnly(raw, p), 'body', res, 'commits_verify');
    const scope = scopeOf(b.scope);
    return this.gw.run(p, res, 'recall', () => this.queries.verify(p, scope));
  }
}
