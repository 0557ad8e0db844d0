import { Body, Controller, Get, HttpCode, Param, Patch, Post, Query, Req, Res, UseGuards } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { AppError } from '../../platform/errors/app-error';
import { decodeCursor, encodeCursor, parseInput } from '../../platform/http/validation';
import { AdminAuthGuard, AdminWrite } from '../operators/admin-auth.guard';
import { commandContext, jsonSchema } from '../shared/http';
import { type ApiKey, type ApiKeyState, effectiveEnd, GRACE_DEFAULT_SECONDS, keyUnusableReason, SCOPES } from './api-key.domain';
import { type ApiKeyCommandResult, type ApiKeyRequest, ExecuteApiKeyCommand } from './api-key.commands';
import { type ApiKeyRecord, GetApiKeyQuery, ListApiKeysQuery } from './api-key.queries';
import { ApiKeyParams, CreateApiKeyBody, ListApiKeysQueryParams, RevokeApiKeyBody, RotateApiKeyBody, UpdateApiKeyBody } from './api-key.schemas';

/** The wire shape of a key: never the secret or its digest; its usability at this moment. */
export function keyView(k: ApiKey & { revision: number; last_used_at?: string | null }, now = new Date()) {
  const { secret_hash: _s, ...rest } = k;
  const reason = keyUnusableReason(k, now.toISOString());
  const state = reason ?? (k.grace_until ? 'in_grace' : 'active');
  return { ...rest, last_used_at: k.last_used_at ?? null, usable_until: k.status === 'revoked' ? k.revoked_at : effectiveEnd(k), state };
}

function present(state: ApiKeyState, revision: number) {
  if (!state.exists) throw new Error('command left no key');
  const { exists: _e, ...key } = state;
  return keyView({ ...key, revision });
}

@ApiTags('api-keys')
@ApiBearerAuth()
@Controller('v1/admin/control/api-keys')
@UseGuards(AdminAuthGuard)
export class ApiKeysController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
  ) {}

  private async run(req: Request, res: Response, request: ApiKeyRequest): Promise<ApiKeyCommandResult> {
    if ((request.type === 'create' || request.type === 'rotate') && req.header('idempotency-key') !== undefined) {
      // A replay could not show the secret again (only its digest is kept): refuse instead of minting twice.
      throw new AppError('validation_failed', 'Idempotency-Key is not supported where a new secret is issued (create, rotate): the secret is shown only once', {
        errors: [{ field: 'header.idempotency-key', message: 'not supported on this endpoint' }],
      });
    }
    const result: ApiKeyCommandResult = await this.commands.execute(new ExecuteApiKeyCommand(request, commandContext(req)));
    res.setHeader('ETag', `"${result.revision}"`);
    res.setHeader('Cache-Control', 'no-store');
    if (!result.readModelCurrent) res.setHeader('X-Aionis-Read-Model', 'stale');
    return result;
  }

  @Post()
  @AdminWrite()
  @HttpCode(201)
  @ApiOperation({ summary: 'Create an API key, optionally bound to an agent_id and/or team_id; the plaintext key is in this response only' })
  @ApiBody({ schema: jsonSchema(CreateApiKeyBody) })
  async create(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown) {
    const b = parseInput(CreateApiKeyBody, body, 'body');
    const r = await this.run(req, res, {
      type: 'create',
      tenant_id: b.tenant_id,
      project_id: b.project_id ?? null,
      agent_id: b.agent_id ?? null,
      team_id: b.team_id ?? null,
      label: b.label ?? 'api key',
      scopes: b.scopes ?? [...SCOPES],
      expires_at: b.expires_at ? new Date(b.expires_at).toISOString() : null,
      allowed_cidrs: b.allowed_cidrs ?? [],
      metadata: b.metadata ?? {},
    });
    const key = present(r.key, r.revision);
    res.setHeader('Location', `/v1/admin/control/api-keys/${key.key_id}`);
    return { key, api_key: r.plaintext };
  }

  @Get()
  @ApiOperation({ summary: 'List API keys (filters: tenant, project, status; cursor pagination)' })
  async list(@Query() query: unknown) {
    const q = parseInput(ListApiKeysQueryParams, query, 'query');
    const limit = q.limit ?? 50;
    const after = q.cursor ? decodeCursor(q.cursor, ['after'] as const).after : undefined;
    const rows: ApiKeyRecord[] = await this.queries.execute(
      new ListApiKeysQuery({
        limit: limit + 1,
        ...(q.tenant_id ? { tenantId: q.tenant_id } : {}),
        ...(q.project_id ? { projectId: q.project_id } : {}),
        ...(q.status ? { status: q.status } : {}),
        ...(after !== undefined ? { after } : {}),
      }),
    );
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return { items: page.map((k) => keyView(k)), next_cursor: rows.length > limit && last ? encodeCursor({ after: last.key_id }) : null };
  }

  @Get(':key_id')
  @ApiOperation({ summary: 'Get an API key (never its secret)' })
  async get(@Param() params: unknown, @Res({ passthrough: true }) res: Response) {
    const { key_id } = parseInput(ApiKeyParams, params, 'params');
    const k: ApiKeyRecord | undefined = await this.queries.execute(new GetApiKeyQuery(key_id));
    if (!k) throw new AppError('api_key_not_found', `API key ${key_id} does not exist`, { key_id });
    res.setHeader('ETag', `"${k.revision}"`);
    return keyView(k);
  }

  @Patch(':key_id')
  @AdminWrite()
  @ApiOperation({ summary: 'Update label and/or metadata (agent_id, team_id and the other terms are fixed at creation)' })
  @ApiBody({ schema: jsonSchema(UpdateApiKeyBody) })
  async update(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown, @Body() body: unknown) {
    const { key_id } = parseInput(ApiKeyParams, params, 'params');
    const b = parseInput(UpdateApiKeyBody, body, 'body');
    const r = await this.run(req, res, { type: 'update', key_id, ...(b.label !== undefined ? { label: b.label } : {}), ...(b.metadata !== undefined ? { metadata: b.metadata } : {}) });
    return present(r.key, r.revision);
  }

  @Post(':key_id/rotate')
  @AdminWrite()
  @HttpCode(201)
  @ApiOperation({ summary: 'Rotate: a new key with the same tenant, project, agent, team and scopes; the old one works for grace_seconds (default 86400)' })
  @ApiBody({ schema: jsonSchema(RotateApiKeyBody), required: false })
  async rotate(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown, @Body() body: unknown) {
    const { key_id } = parseInput(ApiKeyParams, params, 'params');
    const b = parseInput(RotateApiKeyBody, body ?? {}, 'body');
    const r = await this.run(req, res, { type: 'rotate', key_id, grace_seconds: b.grace_seconds ?? GRACE_DEFAULT_SECONDS, ...(b.label !== undefined ? { label: b.label } : {}) });
    const key = present(r.key, r.revision);
    res.setHeader('Location', `/v1/admin/control/api-keys/${key.key_id}`);
    const prev = r.predecessor && r.predecessor.exists ? keyView({ ...r.predecessor, revision: 0 }) : null;
    return { key, api_key: r.plaintext, previous: prev ? { key_id: prev.key_id, state: prev.state, grace_until: prev.grace_until, successor_key_id: prev.successor_key_id } : null };
  }

  @Post(':key_id/revoke')
  @AdminWrite()
  @HttpCode(200)
  @ApiOperation({ summary: 'Revoke: refused by every API instance within seconds (at once by this one)' })
  @ApiBody({ schema: jsonSchema(RevokeApiKeyBody), required: false })
  async revoke(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown, @Body() body: unknown) {
    const { key_id } = parseInput(ApiKeyParams, params, 'params');
    const b = parseInput(RevokeApiKeyBody, body ?? {}, 'body');
    const r = await this.run(req, res, { type: 'revoke', key_id, reason: b.reason ?? null });
    return present(r.key, r.revision);
  }
}
