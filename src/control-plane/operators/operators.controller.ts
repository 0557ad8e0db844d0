import { Body, Controller, Get, HttpCode, Param, Patch, Post, Query, Req, Res, UseGuards } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { z } from 'zod';
import type { OperatorRow } from '../../../projections/operators.projection';
import { AppError } from '../../platform/errors/app-error';
import { parseInput, reasonSchema } from '../../platform/http/validation';
import { commandContext } from '../shared/http';
import { AdminAuthGuard, AdminOwner } from './admin-auth.guard';
import { ExecuteOperatorCommand, type OperatorCommandResult, type OperatorRequest } from './operator.commands';
import { type Operator, OPERATOR_ROLES, type OperatorState } from './operator.domain';
import { OperatorsRepository } from './operators.repository';
import { afterIdCursor, cursorParam } from '../../platform/http/cursor';
import { ApiContract, named, pageOf } from '../../platform/http/openapi';

/** The wire shape of an operator (documented members; never its token digests). */
export const OperatorSchema = named(
  'Operator',
  z.looseObject({
    operator_id: z.string(),
    display_name: z.string(),
    role: z.enum(OPERATOR_ROLES),
    status: z.enum(['active', 'disabled']),
    token_hint: z.string(),
    bootstrap: z.boolean(),
    created_at: z.string(),
    updated_at: z.string(),
    revision: z.number().int(),
  }),
);
const IssuedTokenSchema = z.object({ operator: OperatorSchema.schema, token: z.string().describe('the plaintext token: shown in this response only') });

const operatorId = z.string().regex(/^op_[a-z0-9_]{3,60}$/, 'must be op_ followed by 3-60 lowercase letters, digits or _');
const displayName = z.string().trim().min(1).max(200);
export const CreateOperatorBody = z.strictObject({ operator_id: operatorId.optional(), display_name: displayName, role: z.enum(OPERATOR_ROLES) });
export const UpdateOperatorBody = z
  .strictObject({ display_name: displayName.optional(), role: z.enum(OPERATOR_ROLES).optional() })
  .refine((b) => b.display_name !== undefined || b.role !== undefined, { message: 'give display_name and/or role' });
const RotateBody = z.strictObject({ grace_seconds: z.number().int().min(0).max(604_800).optional() });
const DisableBody = z.strictObject({ reason: reasonSchema.optional() });
const Params = z.strictObject({ operator_id: operatorId });
const ListQuery = z.strictObject({
  role: z.enum(OPERATOR_ROLES).optional(),
  status: z.enum(['active', 'disabled']).optional(),
  limit: z.coerce.number().int().min(1).max(200).optional(),
  cursor: cursorParam.optional(),
});

/** Never the token digests. */
function view(o: Operator & { revision: number }) {
  const { token_hash: _t, previous_token_hash: _p, ...rest } = o;
  return rest;
}

/** Operator management: changes by owners only (others get 403, recorded as a security event); every role may read. */
@ApiTags('operators')
@Controller('v1/admin/control/operators')
@UseGuards(AdminAuthGuard)
export class OperatorsController {
  constructor(
    private readonly commands: CommandBus,
    private readonly operators: OperatorsRepository,
  ) {}

  private async run(req: Request, res: Response, request: OperatorRequest) {
    if ((request.type === 'create' || request.type === 'rotate-token') && req.header('idempotency-key') !== undefined) {
      throw new AppError('validation_failed', 'Idempotency-Key is not supported where a new token is issued (create, rotate-token): the token is shown only once', {
        errors: [{ field: 'header.idempotency-key', message: 'not supported on this endpoint' }],
      });
    }
    const r: OperatorCommandResult = await this.commands.execute(new ExecuteOperatorCommand(request, commandContext(req)));
    const state: OperatorState = r.state;
    if (!state.exists) throw new Error('command left no operator');
    const { exists: _e, ...op } = state;
    res.setHeader('ETag', `"${r.revision}"`);
    res.setHeader('Cache-Control', 'no-store');
    if (!r.readModelCurrent) res.setHeader('X-Aionis-Read-Model', 'stale');
    return { operator: view({ ...op, revision: r.revision }), token: r.token };
  }

  @Post()
  @AdminOwner()
  @HttpCode(201)
  @ApiContract({ summary: 'Create an operator; its token is in this response only', auth: 'operator', body: CreateOperatorBody, response: { status: 201, description: 'The operator and its token (once)', schema: IssuedTokenSchema }, example: { body: { operator_id: 'op_carol', display_name: 'Carol', role: 'auditor' } } })
  async create(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown) {
    const b = parseInput(CreateOperatorBody, body, 'body');
    return this.run(req, res, { type: 'create', operator_id: b.operator_id ?? null, display_name: b.display_name, role: b.role });
  }

  @Get()
  @ApiContract({ summary: 'List operators (every role may read)', auth: 'operator', query: ListQuery, response: { status: 200, description: 'A page of operators', schema: pageOf(OperatorSchema.schema) }, example: { query: { role: 'owner' } } })
  async list(@Query() query: unknown) {
    const q = parseInput(ListQuery, query, 'query');
    const limit = q.limit ?? 50;
    const after = q.cursor ? afterIdCursor.decode(q.cursor).after : undefined;
    const rows: OperatorRow[] = await this.operators.list({ limit: limit + 1, ...(after !== undefined ? { after } : {}), ...(q.role ? { role: q.role } : {}), ...(q.status ? { status: q.status } : {}) });
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return { items: page.map(view), next_cursor: rows.length > limit && last ? afterIdCursor.encode({ after: last.operator_id }) : null };
  }

  @Get(':operator_id')
  @ApiContract({ summary: 'Get an operator (every role may read)', auth: 'operator', params: Params, response: { status: 200, description: 'The operator (ETag)', schema: OperatorSchema }, example: { params: { operator_id: 'op_alice' } } })
  async get(@Param() params: unknown, @Res({ passthrough: true }) res: Response) {
    const { operator_id } = parseInput(Params, params, 'params');
    const o = await this.operators.get(operator_id);
    if (!o) throw new AppError('operator_not_found', `operator ${operator_id} does not exist`, { operator_id });
    res.setHeader('ETag', `"${o.revision}"`);
    return view(o);
  }

  @Patch(':operator_id')
  @AdminOwner()
  @ApiContract({ summary: 'Rename an operator or change its role (the last owner cannot be demoted)', auth: 'operator', params: Params, body: UpdateOperatorBody, response: { status: 200, description: 'The operator (ETag)', schema: OperatorSchema }, example: { params: { operator_id: 'op_alice' }, body: { display_name: 'Alice Liddell' } } })
  async update(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown, @Body() body: unknown) {
    const { operator_id } = parseInput(Params, params, 'params');
    const b = parseInput(UpdateOperatorBody, body, 'body');
    return (await this.run(req, res, { type: 'update', operator_id, ...(b.display_name !== undefined ? { display_name: b.display_name } : {}), ...(b.role ? { role: b.role } : {}) })).operator;
  }

  @Post(':operator_id/rotate-token')
  @AdminOwner()
  @HttpCode(201)
  @ApiContract({ summary: 'Issue a new token; the previous one works for grace_seconds (default 0)', auth: 'operator', params: Params, body: RotateBody, bodyRequired: false, response: { status: 201, description: 'The operator and its new token (once)', schema: IssuedTokenSchema }, example: { params: { operator_id: 'op_alice' }, body: { grace_seconds: 60 } } })
  async rotate(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown, @Body() body: unknown) {
    const { operator_id } = parseInput(Params, params, 'params');
    const b = parseInput(RotateBody, body ?? {}, 'body');
    return this.run(req, res, { type: 'rotate-token', operator_id, grace_seconds: b.grace_seconds ?? 0 });
  }

  @Post(':operator_id/disable')
  @AdminOwner()
  @HttpCode(200)
  @ApiContract({ summary: 'Disable an operator: its tokens stop working at once (the last owner cannot be disabled)', auth: 'operator', params: Params, body: DisableBody, bodyRequired: false, response: { status: 200, description: 'The disabled operator', schema: OperatorSchema }, example: { params: { operator_id: 'op_bob' }, body: { reason: 'left the team' } } })
  async disable(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown, @Body() body: unknown) {
    const { operator_id } = parseInput(Params, params, 'params');
    const b = parseInput(DisableBody, body ?? {}, 'body');
    return (await this.run(req, res, { type: 'disable', operator_id, reason: b.reason ?? null })).operator;
  }
}
