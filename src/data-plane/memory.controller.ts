import { Body, Controller, Get, HttpCode, Post, Query, Req, UseGuards } from '@nestjs/common';
import { ApiBody, ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiKeyAuthGuard, type KeyRequest, RequireScopes } from '../control-plane/api-keys/api-key-auth.guard';
import type { KeyPrincipal } from '../control-plane/api-keys/key-verifier';
import { jsonSchema } from '../control-plane/shared/http';
import { AppError } from '../platform/errors/app-error';
import { decodeCursor, encodeCursor, parseInput } from '../platform/http/validation';
import { Inject } from '@nestjs/common';
import { EMBEDDING_PROVIDER, type EmbeddingProvider } from './embeddings/embedding-provider';
import { CommitsQuery, FindBody, RecallBody, RecallTextBody, VerifyBody, WriteBody } from './memory.schemas';
import { MemoryRepository, type NodeRow } from './memory.repository';
import { MemoryService, namespaceOf } from './memory.service';
import { QuotaGuard, RateLimited } from './quotas/quota.guard';

function principalOf(req: KeyRequest): KeyPrincipal {
  if (!req.principal) throw new Error('guard did not attach a principal');
  return req.principal;
}

/** The tenant comes from the key only; a different one named in the body is refused. */
function checkTenant(p: KeyPrincipal, claimed: string | undefined): void {
  if (claimed !== undefined && claimed !== p.tenant_id) throw new AppError('tenant_mismatch', 'this key belongs to another tenant than the one named in the request');
}

function nodeView(n: NodeRow) {
  return {
    id: n.node_id,
    client_id: n.client_id,
    type: n.type,
    title: n.title,
    text_summary: n.text_summary,
    slots: n.slots,
    tier: n.tier,
    salience: n.salience,
    importance: n.importance,
    confidence: n.confidence,
    embedding_status: n.embedding_status,
    embedding_model: n.embedding_model,
    commit_id: n.commit_id,
    created_at: new Date(n.created_at).toISOString(),
    updated_at: new Date(n.updated_at).toISOString(),
  };
}

@ApiTags('memory')
@ApiHeader({ name: 'x-api-key', required: false, description: 'API key (or Authorization: Bearer <key>)' })
@Controller('v1/memory')
@UseGuards(ApiKeyAuthGuard, QuotaGuard)
export class MemoryController {
  constructor(
    private readonly memory: MemoryService,
    private readonly repo: MemoryRepository,
    @Inject(EMBEDDING_PROVIDER) private readonly embeddings: EmbeddingProvider,
  ) {}

  private recallOptions(b: { scope?: string | undefined; limit?: number | undefined; neighborhood_hops?: 1 | 2 | undefined; max_nodes?: number | undefined; max_edges?: number | undefined; min_similarity?: number | undefined }) {
    return {
      scope: b.scope ?? 'default',
      limit: b.limit ?? 10,
      hops: b.neighborhood_hops ?? 1,
      maxNodes: b.max_nodes ?? 50,
      maxEdges: b.max_edges ?? 50,
      minSimilarity: b.min_similarity ?? 0,
    };
  }

  @Post('recall')
  @HttpCode(200)
  @RequireScopes('memory:read')
  @RateLimited('recall')
  @ApiOperation({ summary: 'Recall by a query embedding: ranked seeds, their neighbourhood, and a context text' })
  @ApiBody({ schema: jsonSchema(RecallBody) })
  async recall(@Req() req: KeyRequest, @Body() body: unknown) {
    const p = principalOf(req);
    const b = parseInput(RecallBody, body, 'body');
    checkTenant(p, b.tenant_id);
    return this.memory.recall(p, { ...this.recallOptions(b), embedding: b.query_embedding });
  }

  @Post('recall_text')
  @HttpCode(200)
  @RequireScopes('memory:read')
  @RateLimited('recall')
  @ApiOperation({ summary: 'Recall by text: the query is embedded server-side with the configured provider' })
  @ApiBody({ schema: jsonSchema(RecallTextBody) })
  async recallText(@Req() req: KeyRequest, @Body() body: unknown) {
    const p = principalOf(req);
    const b = parseInput(RecallTextBody, body, 'body');
    checkTenant(p, b.tenant_id);
    let embedding: number[] | undefined;
    try {
      [embedding] = await this.embeddings.embed([b.query_text]);
    } catch (err) {
      throw new AppError('service_unavailable', `the embedding provider is not available: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!embedding) throw new AppError('service_unavailable', 'the embedding provider returned nothing');
    const result = await this.memory.recall(p, { ...this.recallOptions(b), embedding });
    return { ...result, query: { text: b.query_text, embedding_provider: this.embeddings.model } };
  }

  @Post('write')
  @HttpCode(200)
  @RequireScopes('memory:write')
  @RateLimited('write')
  @ApiOperation({ summary: 'Write nodes and edges as one commit of the scope (idempotent for client ids)' })
  @ApiBody({ schema: jsonSchema(WriteBody) })
  async write(@Req() req: KeyRequest, @Body() body: unknown) {
    const p = principalOf(req);
    const b = parseInput(WriteBody, body, 'body');
    checkTenant(p, b.tenant_id);
    return this.memory.write(p, {
      scope: b.scope ?? 'default',
      ...(b.input_text !== undefined ? { input_text: b.input_text } : {}),
      ...(b.input_sha256 !== undefined ? { input_sha256: b.input_sha256 } : {}),
      nodes: b.nodes ?? [],
      edges: b.edges ?? [],
    });
  }

  @Post('find')
  @HttpCode(200)
  @RequireScopes('memory:read')
  @RateLimited('recall')
  @ApiOperation({ summary: 'Find nodes by ids, client ids, type or text (title/summary), with cursor pagination' })
  @ApiBody({ schema: jsonSchema(FindBody) })
  async find(@Req() req: KeyRequest, @Body() body: unknown) {
    const p = principalOf(req);
    const b = parseInput(FindBody, body, 'body');
    checkTenant(p, b.tenant_id);
    const scope = b.scope ?? 'default';
    const limit = b.limit ?? 50;
    const after = b.cursor ? decodeCursor(b.cursor, ['after'] as const).after : undefined;
    if (after !== undefined && !/^[0-9a-f-]{36}$/.test(after)) throw new AppError('validation_failed', 'the cursor is not one this API issued', { errors: [{ field: 'body.cursor', message: 'invalid cursor' }] });
    const rows = await this.repo.findNodes(namespaceOf(p, scope), {
      ...(b.ids ? { ids: b.ids } : {}),
      ...(b.client_ids ? { clientIds: b.client_ids } : {}),
      ...(b.type ? { type: b.type } : {}),
      ...(b.text ? { text: b.text } : {}),
      ...(after ? { after } : {}),
      limit: limit + 1,
    });
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return { tenant_id: p.tenant_id, scope, nodes: page.map(nodeView), next_cursor: rows.length > limit && last ? encodeCursor({ after: last.node_id }) : null };
  }

  @Get('commits')
  @RequireScopes('memory:read')
  @RateLimited('recall')
  @ApiOperation({ summary: 'The commit chain of a scope, oldest first' })
  async commits(@Req() req: KeyRequest, @Query() query: unknown) {
    const p = principalOf(req);
    const q = parseInput(CommitsQuery, query, 'query');
    const scope = q.scope ?? 'default';
    const limit = q.limit ?? 100;
    const afterSeq = q.cursor ? Number(decodeCursor(q.cursor, ['seq'] as const).seq) : 0;
    if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) throw new AppError('validation_failed', 'the cursor is not one this API issued', { errors: [{ field: 'query.cursor', message: 'invalid cursor' }] });
    const rows = await this.repo.commits(namespaceOf(p, scope), { afterSeq, limit: limit + 1 });
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      tenant_id: p.tenant_id,
      scope,
      commits: page.map((c) => ({ ...c, created_at: new Date(c.created_at).toISOString() })),
      next_cursor: rows.length > limit && last ? encodeCursor({ seq: String(last.seq) }) : null,
    };
  }

  @Post('commits/verify')
  @HttpCode(200)
  @RequireScopes('memory:read')
  @RateLimited('recall')
  @ApiOperation({ summary: 'Recompute every hash of the scope’s commit chain' })
  @ApiBody({ schema: jsonSchema(VerifyBody), required: false })
  async verify(@Req() req: KeyRequest, @Body() body: unknown) {
    const p = principalOf(req);
    const b = parseInput(VerifyBody, body ?? {}, 'body');
    checkTenant(p, b.tenant_id);
    return { tenant_id: p.tenant_id, ...(await this.memory.verify(p, b.scope ?? 'default')) };
  }
}
