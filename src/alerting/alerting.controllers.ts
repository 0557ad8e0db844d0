import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Patch, Post, Put, Query, Req, Res, UseGuards } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { SECRETS, type Secrets } from '../platform/config/secrets';
import { AppError } from '../platform/errors/app-error';
import { cursorCodec, cursorParam, cursorText, afterIdCursor } from '../platform/http/cursor';
import { ApiContract, named, pageOf } from '../platform/http/openapi';
import { parseInput } from '../platform/http/validation';
import { AdminAuthGuard, AdminOwner, AdminWrite } from '../control-plane/operators/admin-auth.guard';
import { commandContext } from '../control-plane/shared/http';
import { TENANT_ID_PATTERN, TENANT_ID_RULE } from '../control-plane/shared/ids';
import { isTier } from '../control-plane/quotas/tiers';
import { routeSigningSecret } from './alert-delivery';
import { type AlertRoute, type AlertRouteCommand, ROUTE_KINDS } from './alert-route.domain';
import { AlertRoutesRepository } from './alert-routes.repository';
import { openRouteUrl, routeUrlKey, routeUrlOrigin, SealedUrlError, sealRouteUrl } from './route-url';
import { AlertsRepository, type AlertView } from './alerts.repository';
import { ExecuteAlertRouteCommand, ExecuteSloCommand, type SloRequest } from './alerting.commands';
import { SEVERITIES } from './burn-rate';
import { ALERT_RULE_NAMES } from './rules';
import { effectiveSlo, type EffectiveSlo, SLO_FIELDS, type SloOverrides } from './slo';
import { sloOverridesOf } from './slo-override.domain';
import { TenantSlosRepository } from './tenant-slos.repository';
import { TELEMETRY_BOUNDS_MS } from '../data-plane/telemetry/telemetry';

const tenantId = z.string().regex(TENANT_ID_PATTERN, `must be ${TENANT_ID_RULE}`);

// ------------------------------------------------------------------ alerts

const AlertSchema = named(
  'Alert',
  z.object({
    alert_id: z.string(),
    rule: z.string(),
    tenant_id: z.string().nullable().describe('null for a platform alert'),
    severity: z.enum(['page', 'ticket']),
    state: z.enum(['firing', 'resolved']),
    fired_at: z.string(),
    resolved_at: z.string().nullable(),
    runbook_url: z.string(),
    console_url: z.string(),
    numbers: z.record(z.string(), z.unknown()).describe('the numbers that fired it'),
    resolved_numbers: z.record(z.string(), z.unknown()).nullable(),
  }),
);
const AlertsQuery = z.strictObject({
  state: z.enum(['firing', 'resolved']).optional(),
  tenant_id: tenantId.optional(),
  rule: z.enum(ALERT_RULE_NAMES as [string, ...string[]]).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  cursor: cursorParam.optional(),
});
const AlertParams = z.strictObject({ alert_id: z.uuid() });
const alertsCursor = cursorCodec({ at: z.iso.datetime().refine((s) => !s.startsWith('0000'), { message: 'year out of range' }), id: cursorText });

@ApiTags('alerts')
@Controller('v1/admin/control/alerts')
@UseGuards(AdminAuthGuard)
export class AlertsController {
  constructor(private readonly alerts: AlertsRepository) {}

  @Get()
  @ApiContract({
    summary: 'Alerts, newest first (filters: state, tenant, rule; cursor paging); each with its runbook and console links and the numbers that fired it',
    auth: 'operator',
    query: AlertsQuery,
    response: { status: 200, description: 'A page of alerts', schema: pageOf(AlertSchema.schema) },
    example: { query: { state: 'firing' } },
  })
  async list(@Query() query: unknown): Promise<{ items: AlertView[]; next_cursor: string | null }> {
    const q = parseInput(AlertsQuery, query, 'query');
    const limit = q.limit ?? 50;
    let after: { firedAt: string; alertId: string } | undefined;
    if (q.cursor) {
      const c = alertsCursor.decode(q.cursor);
      after = { firedAt: c.at, alertId: c.id };
    }
    const rows = await this.alerts.list({ limit: limit + 1, ...(q.state ? { state: q.state } : {}), ...(q.tenant_id ? { tenantId: q.tenant_id } : {}), ...(q.rule ? { rule: q.rule } : {}), ...(after ? { after } : {}) });
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return { items, next_cursor: rows.length > limit && last ? alertsCursor.encode({ at: last.fired_at, id: last.alert_id }) : null };
  }

  /** The page an alert's console_url opens (`<PUBLIC_URL>/console/alerts/<alert_id>`) reads this. */
  @Get(':alert_id')
  @ApiContract({
    summary: 'One alert: rule, tenant, state, the numbers that fired (and resolved) it, runbook and console links',
    auth: 'operator',
    params: AlertParams,
    response: { status: 200, description: 'The alert', schema: AlertSchema },
    example: { params: { alert_id: '00000000-0000-4000-8000-0000000a1e27' } },
  })
  async get(@Param() params: unknown): Promise<AlertView> {
    const { alert_id } = parseInput(AlertParams, params, 'params');
    const alert = await this.alerts.get(alert_id);
    if (!alert) throw new AppError('alert_not_found', `alert ${alert_id} does not exist`, { alert_id });
    return alert;
  }
}

// ------------------------------------------------------------------ SLOs

const bounds = TELEMETRY_BOUNDS_MS as readonly number[];
export const SloOverridesBody = z.strictObject({
  availability_target: z.number().min(0.9).max(0.99999).optional(),
  latency_threshold_ms: z
    .number()
    .refine((v) => bounds.includes(v), { message: `must be one of ${bounds.join(', ')}` })
    .optional(),
  latency_target: z.number().min(0.5).max(0.99999).optional(),
});
const TargetsSchema = z.object(Object.fromEntries(SLO_FIELDS.map((f) => [f, z.number()])) as Record<(typeof SLO_FIELDS)[number], z.ZodNumber>);
const EffectiveSloSchema = named('EffectiveSlo', z.object({ tenant_id: z.string(), tier: z.string(), targets: TargetsSchema, overridden: z.array(z.string()), tier_defaults: TargetsSchema, revision: z.number().int() }));
const TenantParams = z.strictObject({ tenant_id: tenantId });

@ApiTags('slos')
@Controller('v1/admin/control/tenants')
@UseGuards(AdminAuthGuard)
export class SlosController {
  constructor(
    private readonly commands: CommandBus,
    private readonly slos: TenantSlosRepository,
  ) {}

  private async run(req: Request, res: Response, request: SloRequest): Promise<EffectiveSlo> {
    const r = await this.commands.execute(new ExecuteSloCommand(request, commandContext(req)));
    if (r.tier === null) throw new Error('SLO command for a tenant that does not exist');
    res.setHeader('ETag', `"${r.revision}"`);
    if (!r.readModelCurrent) res.setHeader('X-Aionis-Read-Model', 'stale');
    return effectiveSlo(request.tenant_id, r.tier, sloOverridesOf(r.state), r.revision);
  }

  @Get(':tenant_id/slo')
  @ApiContract({ summary: "The tenant's effective SLO: tier targets with overrides applied (ETag = SLO revision)", auth: 'operator', params: TenantParams, response: { status: 200, description: 'The effective SLO', schema: EffectiveSloSchema }, example: { params: { tenant_id: 'acme' } } })
  async get(@Param() params: unknown, @Res({ passthrough: true }) res: Response): Promise<EffectiveSlo> {
    const { tenant_id } = parseInput(TenantParams, params, 'params');
    const s = await this.slos.find(tenant_id);
    if (!s || !isTier(s.tier)) throw new AppError('tenant_not_found', `tenant ${tenant_id} does not exist`, { tenant_id });
    res.setHeader('ETag', `"${s.revision}"`);
    return effectiveSlo(tenant_id, s.tier, s.overrides as SloOverrides, s.revision);
  }

  @Put(':tenant_id/slo')
  @AdminWrite()
  @ApiContract({ summary: 'Replace the SLO override set (fields left out follow the tier; If-Match supported; no event if unchanged)', auth: 'operator', params: TenantParams, body: SloOverridesBody, response: { status: 200, description: 'The effective SLO (ETag)', schema: EffectiveSloSchema }, example: { params: { tenant_id: 'acme' }, body: { availability_target: 0.999 } } })
  async put(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown, @Body() body: unknown): Promise<EffectiveSlo> {
    const { tenant_id } = parseInput(TenantParams, params, 'params');
    const overrides = parseInput(SloOverridesBody, body, 'body');
    return this.run(req, res, { type: 'SetTenantSloOverrides', tenant_id, overrides });
  }

  @Delete(':tenant_id/slo')
  @AdminWrite()
  @HttpCode(200)
  @ApiContract({ summary: 'Clear every SLO override: the tier targets apply (no event if there were none)', auth: 'operator', params: TenantParams, response: { status: 200, description: 'The effective SLO (ETag)', schema: EffectiveSloSchema }, example: { params: { tenant_id: 'acme' } } })
  async clear(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown): Promise<EffectiveSlo> {
    const { tenant_id } = parseInput(TenantParams, params, 'params');
    return this.run(req, res, { type: 'ClearTenantSloOverrides', tenant_id });
  }
}

// ------------------------------------------------------------------ alert routes

const routeId = z.string().regex(TENANT_ID_PATTERN, `must be ${TENANT_ID_RULE}`);
const url = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2000);
const RouteSettingsShape = {
  kind: z.enum(ROUTE_KINDS as [string, ...string[]]),
  url,
  severities: z.array(z.enum(SEVERITIES as [string, ...string[]])).max(2).optional(),
  tenant_ids: z.array(tenantId).max(1000).optional(),
  include_platform: z.boolean().optional(),
};
export const CreateRouteBody = z.strictObject({ route_id: routeId, ...RouteSettingsShape });
export const UpdateRouteBody = z.strictObject({
  url: url.optional(),
  severities: RouteSettingsShape.severities,
  tenant_ids: RouteSettingsShape.tenant_ids,
  include_platform: RouteSettingsShape.include_platform,
});
const RouteParams = z.strictObject({ route_id: routeId });
const RoutesQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(500).optional(), cursor: cursorParam.optional() });
const RouteSchema = named(
  'AlertRoute',
  z.object({
    route_id: z.string(),
    kind: z.enum(['webhook', 'slack']),
    url: z.string().describe('a Slack URL is shown as its origin only (the path is its credential)'),
    severities: z.array(z.string()),
    tenant_ids: z.array(z.string()),
    include_platform: z.boolean(),
    enabled: z.boolean(),
    created_at: z.string(),
    updated_at: z.string(),
    updated_by: z.string(),
    revision: z.number().int(),
  }),
);
const CreatedRouteSchema = named('CreatedAlertRoute', z.object({ route: RouteSchema.schema, signing_secret: z.string().describe('HMAC key of X-Aionis-Signature (docs/alerting.md)') }));
const SecretSchema = named('AlertRouteSigningSecret', z.object({ route_id: z.string(), signing_secret: z.string() }));

type RouteView = AlertRoute & { revision: number };
/** A Slack URL is its own credential: shown as its origin only; a webhook URL in full (to owners and operators who manage it). */
function routeView(r: RouteView, key: Buffer): RouteView {
  if (r.kind === 'slack') return { ...r, url: routeUrlOrigin(r.url) };
  try {
    return { ...r, url: openRouteUrl(key, r.url) };
  } catch (err) {
    if (err instanceof SealedUrlError) return { ...r, url: `${routeUrlOrigin(r.url)} (sealed under another KEY_PEPPER: set the URL again)` };
    throw err;
  }
}

@ApiTags('alert-routes')
@Controller('v1/admin/control/alert-routes')
@UseGuards(AdminAuthGuard)
export class AlertRoutesController {
  constructor(
    private readonly commands: CommandBus,
    private readonly routes: AlertRoutesRepository,
    @Inject(SECRETS) private readonly secrets: Secrets,
  ) {}

  private get urlKey(): Buffer {
    return routeUrlKey(this.secrets.keyPepper);
  }

  private async run(req: Request, res: Response, command: AlertRouteCommand): Promise<RouteView> {
    const r = await this.commands.execute(new ExecuteAlertRouteCommand(command, commandContext(req)));
    if (!r.state.exists) throw new Error('alert route command left no route');
    res.setHeader('ETag', `"${r.revision}"`);
    if (!r.readModelCurrent) res.setHeader('X-Aionis-Read-Model', 'stale');
    const { exists: _e, ...route } = r.state;
    return routeView({ ...route, revision: r.revision }, this.urlKey);
  }

  @Post()
  @AdminOwner()
  @HttpCode(201)
  @ApiContract({
    summary: 'Create an alert route (owner): a signed webhook or a Slack-compatible incoming webhook, filtered by severity and tenant',
    auth: 'operator',
    body: CreateRouteBody,
    response: { status: 201, description: 'The route and its signing secret', schema: CreatedRouteSchema },
    example: { body: { route_id: 'oncall-slack', kind: 'slack', url: 'https://hooks.slack.example/services/T000/B000/XXXX', severities: ['page'] } },
  })
  async create(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown) {
    const b = parseInput(CreateRouteBody, body, 'body');
    const route = await this.run(req, res, {
      type: 'CreateAlertRoute',
      route_id: b.route_id,
      kind: b.kind as AlertRoute['kind'],
      url: sealRouteUrl(this.urlKey, b.url),
      severities: (b.severities ?? []) as AlertRoute['severities'],
      tenant_ids: b.tenant_ids ?? [],
      include_platform: b.include_platform ?? true,
    });
    return { route, signing_secret: routeSigningSecret(this.secrets.keyPepper, b.route_id) };
  }

  @Get()
  @ApiContract({ summary: 'List alert routes', auth: 'operator', query: RoutesQuery, response: { status: 200, description: 'A page of alert routes', schema: pageOf(RouteSchema.schema) }, example: { query: { limit: '20' } } })
  async list(@Query() query: unknown) {
    const q = parseInput(RoutesQuery, query, 'query');
    const limit = q.limit ?? 100;
    const after = q.cursor ? afterIdCursor.decode(q.cursor).after : undefined;
    const rows = await this.routes.list(after, limit + 1);
    const items = rows.slice(0, limit).map((r) => routeView(r, this.urlKey));
    const last = items.at(-1);
    return { items, next_cursor: rows.length > limit && last ? afterIdCursor.encode({ after: last.route_id }) : null };
  }

  @Get(':route_id')
  @ApiContract({ summary: 'One alert route', auth: 'operator', params: RouteParams, response: { status: 200, description: 'The route (ETag)', schema: RouteSchema }, example: { params: { route_id: 'oncall' } } })
  async get(@Param() params: unknown, @Res({ passthrough: true }) res: Response) {
    const { route_id } = parseInput(RouteParams, params, 'params');
    const r = await this.routes.get(route_id);
    if (!r) throw new AppError('alert_route_not_found', `alert route ${route_id} does not exist`, { route_id });
    res.setHeader('ETag', `"${r.revision}"`);
    return routeView(r, this.urlKey);
  }

  @Patch(':route_id')
  @AdminOwner()
  @ApiContract({ summary: 'Change a route (owner): url, filters (If-Match supported; no event if unchanged)', auth: 'operator', params: RouteParams, body: UpdateRouteBody, response: { status: 200, description: 'The route (ETag)', schema: RouteSchema }, example: { params: { route_id: 'oncall' }, body: { severities: ['page', 'ticket'] } } })
  async update(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown, @Body() body: unknown) {
    const { route_id } = parseInput(RouteParams, params, 'params');
    const b = parseInput(UpdateRouteBody, body, 'body');
    const changes: Partial<AlertRoute> = {
      ...(b.url !== undefined ? { url: sealRouteUrl(this.urlKey, b.url) } : {}),
      ...(b.severities !== undefined ? { severities: b.severities as AlertRoute['severities'] } : {}),
      ...(b.tenant_ids !== undefined ? { tenant_ids: b.tenant_ids } : {}),
      ...(b.include_platform !== undefined ? { include_platform: b.include_platform } : {}),
    };
    return this.run(req, res, { type: 'UpdateAlertRoute', route_id, changes });
  }

  @Post(':route_id/disable')
  @AdminOwner()
  @HttpCode(200)
  @ApiContract({ summary: 'Disable a route (owner): queued deliveries to it are skipped; no event if already disabled', auth: 'operator', params: RouteParams, response: { status: 200, description: 'The route (ETag)', schema: RouteSchema }, example: { params: { route_id: 'oncall' } } })
  disable(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown) {
    const { route_id } = parseInput(RouteParams, params, 'params');
    return this.run(req, res, { type: 'DisableAlertRoute', route_id });
  }

  @Post(':route_id/enable')
  @AdminOwner()
  @HttpCode(200)
  @ApiContract({ summary: 'Enable a disabled route again (owner); no event if enabled', auth: 'operator', params: RouteParams, response: { status: 200, description: 'The route (ETag)', schema: RouteSchema }, example: { params: { route_id: 'oncall' } } })
  enable(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown) {
    const { route_id } = parseInput(RouteParams, params, 'params');
    return this.run(req, res, { type: 'EnableAlertRoute', route_id });
  }

  @Get(':route_id/signing-secret')
  @AdminOwner()
  @ApiContract({ summary: "The route's webhook signing secret (owner; derived from KEY_PEPPER, never stored)", auth: 'operator', params: RouteParams, response: { status: 200, description: 'The secret', schema: SecretSchema }, example: { params: { route_id: 'oncall' } } })
  async secret(@Param() params: unknown) {
    const { route_id } = parseInput(RouteParams, params, 'params');
    if (!(await this.routes.get(route_id))) throw new AppError('alert_route_not_found', `alert route ${route_id} does not exist`, { route_id });
    return { route_id, signing_secret: routeSigningSecret(this.secrets.keyPepper, route_id) };
  }
}
