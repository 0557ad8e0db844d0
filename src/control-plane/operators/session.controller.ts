import { Controller, Delete, Get, HttpCode, Inject, Post, Req, Res, UseGuards } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config';
import { SECRETS, type Secrets } from '../../platform/config/secrets';
import { AppError } from '../../platform/errors/app-error';
import { ApiContract, named } from '../../platform/http/openapi';
import { contextOf } from '../../platform/http/request-context';
import { commandContext } from '../shared/http';
import { AdminAuthGuard } from './admin-auth.guard';
import { OPERATOR_ROLES, type OperatorRole } from './operator.domain';
import { ExecuteSessionCommand, type SessionResult } from './session.commands';
import { clearSessionCookie, csrfToken, sessionCookie, setSessionCookie } from './session-credentials';

const SessionOperator = z.object({ operator_id: z.string(), display_name: z.string(), role: z.enum(OPERATOR_ROLES) });
const SessionSchema = named(
  'ConsoleSession',
  z.object({
    operator: SessionOperator,
    session: z
      .object({
        csrf_token: z.string().describe('send in X-CSRF-Token with every change made with the session cookie'),
        expires_at: z.string().nullable().describe('absolute expiry (null when not known to this request)'),
        idle_timeout_seconds: z.number().int(),
      })
      .nullable()
      .describe('null when the request was authenticated by a token, not a session cookie'),
  }),
);

/**
 * Console sessions (docs/console.md): an operator token, presented once in the Authorization
 * header, is exchanged for an HttpOnly, SameSite=Strict session cookie (Secure over TLS) and a
 * CSRF token. The token never travels in a URL and the console never stores it.
 */
@ApiTags('operators')
@Controller('v1/admin/session')
@UseGuards(AdminAuthGuard)
export class SessionController {
  constructor(
    private readonly commands: CommandBus,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(SECRETS) private readonly secrets: Secrets,
  ) {}

  private operatorOf(req: Request): { operator_id: string; display_name: string; role: OperatorRole } {
    const ctx = contextOf(req);
    if (!ctx.actor) throw new Error('no authenticated operator');
    return { operator_id: ctx.actor.id, display_name: ctx.actor.display ?? ctx.actor.id, role: ctx.operatorRole as OperatorRole };
  }

  @Post()
  @HttpCode(201)
  @ApiContract({
    summary: 'Sign in to the console: exchange the operator token (Authorization: Bearer) for a session cookie and its CSRF token',
    description: 'Sets `aionis_session` (HttpOnly; SameSite=Strict; Secure over TLS; Path=/). Records OperatorSignedIn. Every role may sign in.',
    auth: 'operator',
    response: { status: 201, description: 'The session (its cookie is in Set-Cookie)', schema: SessionSchema },
    example: {},
  })
  async signIn(@Req() req: Request, @Res({ passthrough: true }) res: Response) {
    if (contextOf(req).sessionHash) throw new AppError('unauthorized', 'sign in with an operator token (Authorization: Bearer), not a session');
    const operator = this.operatorOf(req);
    const r: SessionResult = await this.commands.execute(new ExecuteSessionCommand({ type: 'sign-in', operator_id: operator.operator_id, role: operator.role }, commandContext(req)));
    if (!r.session_id || !r.csrf_token) throw new Error('sign-in issued no session');
    setSessionCookie(req, res, r.session_id, this.config.console.sessionMaxMs);
    res.setHeader('Cache-Control', 'no-store');
    return { operator, session: { csrf_token: r.csrf_token, expires_at: r.expires_at, idle_timeout_seconds: Math.round(this.config.console.sessionIdleMs / 1000) } };
  }

  @Get()
  @ApiContract({ summary: 'Who is signed in: the operator and, with a session cookie, its CSRF token', auth: 'operator', response: { status: 200, description: 'The operator and session', schema: SessionSchema } })
  current(@Req() req: Request, @Res({ passthrough: true }) res: Response) {
    res.setHeader('Cache-Control', 'no-store');
    const id = contextOf(req).sessionHash ? sessionCookie(req) : undefined;
    return {
      operator: this.operatorOf(req),
      session: id ? { csrf_token: csrfToken(this.secrets.keyPepper, id), expires_at: null, idle_timeout_seconds: Math.round(this.config.console.sessionIdleMs / 1000) } : null,
    };
  }

  @Delete()
  @HttpCode(200)
  @ApiContract({
    summary: 'Sign out: the session ends on the server (its cookie stops working) and the cookie is cleared; records OperatorSignedOut',
    auth: 'operator',
    response: { status: 200, description: 'Signed out (false: the request had no session, e.g. a bearer token)', schema: z.object({ signed_out: z.boolean() }) },
    example: {},
  })
  async signOut(@Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<{ signed_out: boolean }> {
    const hash = contextOf(req).sessionHash;
    const r: SessionResult | undefined = hash ? await this.commands.execute(new ExecuteSessionCommand({ type: 'sign-out', session_hash: hash }, commandContext(req))) : undefined;
    clearSessionCookie(req, res);
    res.setHeader('Cache-Control', 'no-store');
    return { signed_out: r?.session_key !== null && r !== undefined };
  }
}
