import { z } from 'zod';
import { Body, Controller, Get, HttpCode, Param, Patch, Post, Query, Req, Res, UseGuards } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { AppError } from '../../platform/errors/app-error';
import { parseInput } from '../../platform/http/validation';
import { AdminAuthGuard, AdminWrite } from '../operators/admin-auth.guard';
import { commandContext } from '../shared/http';
import { type ApiKey, type ApiKeyState, effectiveEnd, GRACE_DEFAULT_SECONDS, keyUnusableReason, SCOPES } from './api-key.domain';
import { type ApiKeyCommandResult, type ApiKeyRequest, ExecuteApiKeyCommand } from './api-key.commands';
import { type ApiKeyRecord, GetApiKeyQuery, ListApiKeysQuery } from './api-key.queries';
import { ApiKeyParams, CreateApiKeyBody, ListApiKeysQueryParams, RevokeApiKeyBody, RotateApiKeyBody, UpdateApiKeyBody } from './api-key.schemas';
import { afterIdCursor } from '../../platform/http/cursor';
import { ApiContract, named, pageOf } from '../../platform/http/openapi';

/** The wire shape of an API key (documented members; never its secret). */
export const ApiKeySchema = named(
  'ApiKey',
  z.looseObject({
    key_id: z.string(),
    tenant_id: z.string(),
    project_id: z.string().nullable(),
    agent_id: z.string().nullable(),
    team_id: z.string().nullable(),
    label: z.string(),
    scopes: z.array(z.string()),
    allowed_cidrs: z.array(z.string()),
    allowed_client_identities: z.array(z.string()).describe('client-certificate identities the key is restricted to (cn:, dns:, uri:, sha256:); [] = none'),
    status: z.enum(['active', 'revoked']),
    state: z.string().describe('active, in_grace, or why the key is unusable'),
    expires_at: z.string().nullable(),
    usable_until: z.string().nullable(),
    last_used_at: z.string().nullable(),
    display: z.string(),
    created_at: z.string(),
    revision: z.number().int(),
  }),
);
const IssuedKeySchema = z.object({ key: ApiKeySchema.schema, api_key: z.string().describe('the plaintext key: shown in this response only') });

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
  @ApiContract({ summary: 'Create an API key, optionally bound to an agent_id and/or team_id; the plaintext key is in this response only', auth: 'operator', body: CreateApiKeyBody, response: { status: 201, description: 'The key and its plaintext (once)', schema: IssuedKeySchema }, example: { body: { tenant_id: 'acme', label: 'booking bot', agent_id: 'agent-booker', scopes: ['memory:read', 'memory:write'], allowed_client_identities: ['dns:booker.agents.acme.example', 'uri:spiffe://acme.example/agent/booker'] } } })
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
      allowed_client_identities: b.allowed_client_identities ?? [],
      metadata: b.metadata ?? {},
    });
    const key = present(r.key, r.revision);
    res.setHeader('Location', `/v1/admin/control/api-keys/${key.key_id}`);
    return { key, api_key: r.plaintext };
  }

  @Get()
  @ApiContract({ summary: 'List API keys (filters: tenant, project, status; cursor pagination)', auth: 'operator', query: ListApiKeysQueryParams, response: { status: 200, description: 'A page of keys', schema: pageOf(ApiKeySchema.schema) }, example: { query: { tenant_id: 'acme', status: 'active' } } })
  async list(@Query() query: unknown) {
    const q = parseInput(ListApiKeysQueryParams, query, 'query');
    const limit = q.limit ?? 50;
    const after = q.cursor ? afterIdCursor.decode(q.cursor).after : undefined;
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
    return { items: page.map((k) => keyView(k)), next_cursor: rows.length > limit && last ? afterIdCursor.encode({ after: last.key_id }) : null };
  }

  @Get(':key_id')
  @ApiContract({ summary: 'Get an API key (never its secret)', auth: 'operator', params: ApiKeyParams, response: { status: 200, description: 'The key (ETag)', schema: ApiKeySchema }, example: { params: { key_id: 'key_0123456789abcdef' } } })
  async get(@Param() params: unknown, @Res({ passthrough: true }) res: Response) {
    const { key_id } = parseInput(ApiKeyParams, params, 'params');
    const k: ApiKeyRecord | undefined = await this.queries.execute(new GetApiKeyQuery(key_id));
    if (!k) throw new AppError('api_key_not_found', `API key ${key_id} does not exist`, { key_id });
    res.setHeader('ETag', `"${k.revision}"`);
    return keyView(k);
  }

  @Patch(':key_id')
  @AdminWrite()
  @ApiContract({ summary: 'Update label, metadata and/or allowed_client_identities (agent_id, team_id and the other terms are fixed at creation)', auth: 'operator', params: ApiKeyParams, body: UpdateApiKeyBody, response: { status: 200, description: 'The key (ETag)', schema: ApiKeySchema }, example: { params: { key_id: 'key_0123456789abcdef' }, body: { label: 'booking bot (prod)', allowed_client_identities: [] } } })
  async update(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown, @Body() body: unknown) {
    const { key_id } = parseInput(ApiKeyParams, params, 'params');
    const b = parseInput(UpdateApiKeyBody, body, 'body');
    const r = await this.run(req, res, {
      type: 'update',
      key_id,
      ...(b.label !== undefined ? { label: b.label } : {}),
      ...(b.metadata !== undefined ? { metadata: b.metadata } : {}),
      ...(b.allowed_client_identities !== undefined ? { allowed_client_identities: b.allowed_client_identities } : {}),
    });
    return present(r.key, r.revision);
  }

  @Post(':key_id/rotate')
  @AdminWrite()
  @HttpCode(201)
  @ApiContract({ summary: 'Rotate: a new key with the same tenant, project, agent, team and scopes; the old one works for grace_seconds (default 86400)', auth: 'operator', params: ApiKeyParams, body: RotateApiKeyBody, bodyRequired: false, response: { status: 201, description: 'The new key, its plaintext (once) and the previous key', schema: IssuedKeySchema.extend({ previous: z.looseObject({ key_id: z.string() }).nullable() }) }, example: { params: { key_id: 'key_0123456789abcdef' }, body: { grace_seconds: 3600 } } })
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
  @ApiContract({ summary: 'Revoke: refused by every API instance within seconds (at once by this one)', auth: 'operator', params: ApiKeyParams, body: RevokeApiKeyBody, bodyRequired: false, response: { status: 200, description: 'The revoked key', schema: ApiKeySchema }, example: { params: { key_id: 'key_fedcba9876543210' }, body: { reason: 'leaked in a log' } } })
  async revoke(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown, @Body() body: unknown) {
    const { key_id } = parseInput(ApiKeyParams, params, 'params');
    const b = parseInput(RevokeApiKeyBody, body ?? {}, 'body');
    const r = await this.run(req, res, { type: 'revoke', key_id, reason: b.reason ?? null });
    return present(r.key, r.revision);
  }
}
