import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Req, Res, UseGuards } from '@nestjs/common';
import { ApiBody, ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ApiKeyAuthGuard, RequireScopes } from '../../control-plane/api-keys/api-key-auth.guard';
import { jsonSchema } from '../../control-plane/shared/http';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config';
import { AppError } from '../../platform/errors/app-error';
import { decodeCursor, encodeCursor } from '../../platform/http/validation';
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
@ApiHeader({ name: 'x-api-key', required: false, description: 'API key (or Authorization: Bearer <key>)' })
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
  @ApiOperation({ summary: 'Write nodes and edges as one commit (deterministic ids; an identical write returns the same commit)' })
  @ApiBody({ schema: jsonSchema(writeBody(1536)) })
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
  @ApiOperation({ summary: 'Recall by a query embedding: seeds, their neighbourhood, ranked nodes and an LLM-ready context' })
  @ApiBody({ schema: jsonSchema(recallBody(1536)) })
  async recall(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown) {
    const raw = bodyOf(body);
    const p = this.gw.principal(req, raw);
    const b = this.gw.parse(this.recallSchema, injectReader(raw, p), 'body', res, 'recall');
    return this.recallWith(req, res, p, b, () => Promise.resolve({ vector: b.query_embedding, extra: {} }));
  }

  @Post('recall_text')
  @HttpCode(200)
  @RequireScopes('memory:read')
  @ApiOperation({ summary: 'Recall by text: the query is normalised, redacted and embedded with the configured provider' })
  @ApiBody({ schema: jsonSchema(RecallTextBody) })
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
  @ApiOperation({ summary: 'Deterministic lookup by URI, id, client id, type, text or slots; newest first, paged' })
  @ApiBody({ schema: jsonSchema(FindBody) })
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
  @ApiOperation({ summary: 'Create a session (a topic node); the same session_id returns the same node' })
  @ApiBody({ schema: jsonSchema(SessionBody) })
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
  @ApiOperation({ summary: 'Append an event to a session (created implicitly when new)' })
  @ApiBody({ schema: jsonSchema(EventBody) })
  async writeEvent(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown) {
    const raw = bodyOf(body);
    const p = this.gw.principal(req, raw);
    const b = this.gw.parse(EventBody, injectWriter(raw, p), 'body', res, 'events');
    const scope = scopeOf(b.scope);
    return this.gw.run(p, res, 'write', () => this.commands.writeEvent(p, scope, b, this.embeddings, this.gw.facts(req)));
  }

  @Get('sessions/:session_id/events')
  @RequireScopes('memory:read')
  @ApiOperation({ summary: "A session's events, newest first, paged (query values as strings)" })
  async sessionEvents(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param('session_id') sessionId: string, @Query() query: unknown) {
    const raw = query ?? {};
    const p = this.gw.principal(req, raw);
    const q = this.gw.parse(SessionEventsQuery, injectReader(raw, p), 'query', res, 'session_events');
    const id = sessionId.trim();
    if (id.length < 1 || id.length > 128) throw new AppError('validation_failed', '1 invalid field(s): params.session_id', { errors: [{ field: 'params.session_id', message: 'must be 1 to 128 characters' }] });
    const scope = scopeOf(q.scope);
    return this.gw.run(p, res, 'recall', () => this.queries.sessionEvents(p, scope, id, q));
  }

  @Post('packs/export')
  @HttpCode(200)
  @RequireScopes('memory:read')
  @ApiOperation({ summary: 'Export the scope as a pack (nodes, edges, commits) with its SHA-256' })
  @ApiBody({ schema: jsonSchema(PackExportBody) })
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
  @ApiOperation({ summary: 'Verify a pack against its hash and import it into its own tenant and scope (verify_only: check and plan)' })
  @ApiBody({ schema: jsonSchema(PackImportBody) })
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
  @ApiOperation({ summary: 'Move archived or cold nodes back to warm or hot' })
  @ApiBody({ schema: jsonSchema(RehydrateBody) })
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
  @ApiOperation({ summary: 'Record an outcome on nodes (feedback counters and quality) and activate them' })
  @ApiBody({ schema: jsonSchema(ActivateBody) })
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
  @ApiOperation({ summary: 'The rules matching a context, ranked and merged into a policy (read-only)' })
  @ApiBody({ schema: jsonSchema(RulesEvaluateBody) })
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
  @ApiOperation({ summary: 'Choose a tool among candidates under the active policy; the choice is recorded as a decision' })
  @ApiBody({ schema: jsonSchema(ToolsSelectBody) })
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
  @ApiOperation({ summary: 'The outcome of a tool choice, credited to the rules that shaped it and linked to its decision' })
  @ApiBody({ schema: jsonSchema(ToolsFeedbackBody) })
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
  @ApiOperation({ summary: "Move a rule between draft, shadow, active and disabled (validated on promotion); an event in the audit log" })
  @ApiBody({ schema: jsonSchema(RuleStateBody) })
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
  @ApiOperation({ summary: 'Direct feedback on one rule' })
  @ApiBody({ schema: jsonSchema(FeedbackBody) })
  async feedback(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown) {
    const raw = bodyOf(body);
    const p = this.gw.principal(req, raw);
    const b = this.gw.parse(FeedbackBody, injectTenantOnly(raw, p), 'body', res, 'feedback');
    const scope = scopeOf(b.scope);
    return this.gw.run(p, res, 'write', () => this.policy.ruleFeedback(p, nsOf(p, scope), b, this.gw.facts(req)), UNGATED);
  }

  @Get('commits')
  @RequireScopes('memory:read')
  @ApiOperation({ summary: 'Hosted addition: the commit chain of a scope, oldest first' })
  async commits(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Query() query: unknown) {
    const raw = query ?? {};
    const p = this.gw.principal(req, raw);
    const q = this.gw.parse(CommitsQuery, injectTenantOnly(raw, p), 'query', res, 'commits');
    const scope = scopeOf(q.scope);
    const limit = q.limit ?? 100;
    const after = q.cursor ? decodeCursor(q.cursor, ['seq'] as const).seq : '0';
    if (!/^\d{1,15}$/.test(after)) throw new AppError('validation_failed', 'the cursor is not one this API issued', { errors: [{ field: 'query.cursor', message: 'invalid cursor' }] });
    return this.gw.run(p, res, 'recall', async () => {
      const { rows, more } = await this.queries.commits(p, scope, Number(after), limit);
      const last = rows.at(-1);
      return { tenant_id: p.tenantId, scope, commits: rows, next_cursor: more && last ? encodeCursor({ seq: String(last.seq) }) : null };
    });
  }

  @Post('commits/verify')
  @HttpCode(200)
  @RequireScopes('memory:read')
  @ApiOperation({ summary: "Hosted addition: recompute every hash of the scope's commit chain" })
  @ApiBody({ schema: jsonSchema(VerifyBody), required: false })
  async verify(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown) {
    const raw = bodyOf(body);
    const p = this.gw.principal(req, raw);
    const b = this.gw.parse(VerifyBody, injectTenantOnly(raw, p), 'body', res, 'commits_verify');
    const scope = scopeOf(b.scope);
    return this.gw.run(p, res, 'recall', () => this.queries.verify(p, scope));
  }
}
