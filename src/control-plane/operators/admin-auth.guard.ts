import { type CanActivate, type ExecutionContext, Inject, Injectable, Logger, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { SECRETS, type Secrets } from '../../platform/config/secrets';
import { eventMetadata, newCommandId, requestCommandContext } from '../../platform/event-store/command-context';
import { EVENT_STORE, type EventStore } from '../../platform/event-store/event-store';
import { AppError } from '../../platform/errors/app-error';
import { AuthThrottle } from '../../platform/http/auth-throttle';
import { contextOf } from '../../platform/http/request-context';
import { ProjectionsService } from '../../platform/projections/projections.service';
import { digestsEqual, hashToken } from './credentials';
import { type AdminAccess, type OperatorRole, roleAllows } from './operator.domain';
import { OperatorsRepository } from './operators.repository';
import { OperatorSessionsRepository } from './operator-sessions.repository';
import { CSRF_HEADER, csrfMatches, SAFE_METHODS, sessionCookie, sessionHash } from './session-credentials';

export const ADMIN_ACCESS = 'aionis:admin-access';
/** Mark a handler as a write (mutation): auditors may not call it. Reads are the default. */
export const AdminWrite = () => SetMetadata(ADMIN_ACCESS, 'write');
/** Mark a handler as owner-only (operator management). */
export const AdminOwner = () => SetMetadata(ADMIN_ACCESS, 'owner');
/** Platform stream where refused admin actions are recorded. */
export const SECURITY_STREAM = 'security-admin';

function presentedToken(req: Request): string | undefined {
  const auth = req.header('authorization');
  if (auth) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m?.[1];
  }
  return req.header('x-admin-token')?.trim() || undefined;
}

/**
 * Admin authentication: an operator's own token (Authorization: Bearer, or X-Admin-Token), or
 * without one a console session cookie (plus its CSRF token on every change; docs/console.md).
 * A token is HMAC'd with the pepper, looked up by digest and compared in constant time. The operator
 * becomes the actor of every event the request causes.
 */
@Injectable()
export class AdminAuthGuard implements CanActivate {
  private readonly logger = new Logger('AdminAuth');

  constructor(
    private readonly operators: OperatorsRepository,
    @Inject(SECRETS) private readonly secrets: Secrets,
    private readonly reflector: Reflector,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly projections: ProjectionsService,
    private readonly throttle: AuthThrottle,
    private readonly sessions: OperatorSessionsRepository,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<Request>();
    const ctx = contextOf(req);
    const token = presentedToken(req);
    // One answer for every failure (missing, malformed, unknown, disabled): the reason goes to the log only.
    // Each failure counts against the source address, which gets 429 once over its limit; a valid token is always served.
    const refuse = (reason?: 'operator_disabled' | 'unknown_token' | 'unknown_session') => {
      const throttled = this.throttle.refusal(ctx.sourceIp, 'operator_token');
      if (reason && !throttled) this.logger.warn({ msg: 'admin authentication failed', security: true, reason, ip: ctx.sourceIp });
      return throttled ?? new AppError('unauthorized', 'a valid operator token is required (Authorization: Bearer <token>)');
    };
    let op: { operator_id: string; display_name: string; role: OperatorRole; status: string } | undefined;
    const sessionId = token === undefined ? sessionCookie(req) : undefined;
    if (sessionId !== undefined) {
      // A console session (docs/console.md): open, within its idle and absolute expiry, its operator still active.
      const hash = sessionHash(this.secrets.keyPepper, sessionId);
      const live = await this.sessions.touch(hash);
      op = live ? await this.operators.get(live.operator_id) : undefined;
      if (!live || !op || op.status !== 'active') throw refuse(op ? 'operator_disabled' : 'unknown_session');
      // Every change made with the cookie carries the session's CSRF token (a cross-site form cannot know it).
      if (!SAFE_METHODS.has(req.method) && !csrfMatches(this.secrets.keyPepper, sessionId, req.header(CSRF_HEADER))) {
        this.logger.warn({ msg: 'console request without a valid CSRF token refused', security: true, operator_id: op.operator_id, ip: ctx.sourceIp });
        throw new AppError('forbidden', 'changes made with a console session need its CSRF token in the X-CSRF-Token header');
      }
      ctx.sessionHash = hash;
    } else {
      if (!token || token.length > 512) throw refuse();
      const digest = hashToken(this.secrets.keyPepper, token);
      const found = await this.operators.findByTokenHash(digest);
      if (!found || !digestsEqual(found.matched_hash, digest) || found.status !== 'active') throw refuse(found ? 'operator_disabled' : 'unknown_token');
      op = found;
    }
    const access = this.reflector.get<AdminAccess | undefined>(ADMIN_ACCESS, context.getHandler()) ?? 'read';
    if (!roleAllows(op.role, access)) {
      // The refusal itself is part of the audit trail.
      const denied = await this.store.append(
        SECURITY_STREAM,
        [{ type: 'AdminActionDenied', data: { operator_id: op.operator_id, role: op.role, required: access, method: req.method, path: req.path } }],
        {
          expectedRevision: 'any',
          tenantId: null,
          // Not the client's command (its Idempotency-Key and If-Match are for the refused action): a fresh command id.
          metadata: eventMetadata(requestCommandContext(ctx, { type: 'operator', id: op.operator_id, display: op.display_name }), newCommandId()),
        },
      );
      await this.projections.waitFor('audit', denied.position, 2000);
      this.logger.warn({ msg: 'admin action denied', security: true, operator_id: op.operator_id, role: op.role, required: access });
      throw new AppError('forbidden', `the ${op.role} role may not perform this action`, { role: op.role });
    }
    ctx.actor = { type: 'operator', id: op.operator_id, display: op.display_name };
    ctx.operatorRole = op.role;
    return true;
  }
}
