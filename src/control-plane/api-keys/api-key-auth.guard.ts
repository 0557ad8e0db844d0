import { type CanActivate, type ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { AppError } from '../../platform/errors/app-error';
import { AuthThrottle } from '../../platform/http/auth-throttle';
import { clientCertificateOf } from '../../platform/http/client-certificate';
import { listenerOf } from '../../platform/http/listeners';
import { contextOf } from '../../platform/http/request-context';
import type { Scope } from './api-key.domain';
import { type KeyPrincipal, KeyVerifier } from './key-verifier';

export const REQUIRED_SCOPES = 'aionis:required-scopes';
/** The scopes a data-plane endpoint needs. */
export const RequireScopes = (...scopes: Scope[]) => SetMetadata(REQUIRED_SCOPES, scopes);

export type KeyRequest = Request & { principal?: KeyPrincipal };

function presentedKey(req: Request): string | undefined {
  const header = req.header('x-api-key');
  if (header !== undefined) return header.trim();
  const auth = req.header('authorization');
  const m = auth ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
  return m?.[1];
}

/**
 * API-key authentication (`x-api-key` or `Authorization: Bearer`). Every refusal is the same 401:
 * the reason goes to the security log and the rejection metric, never to the caller. A source
 * address over its failed-authentication limit gets 429 auth_throttled instead (AuthThrottle).
 */
@Injectable()
export class ApiKeyAuthGuard implements CanActivate {
  constructor(
    private readonly verifier: KeyVerifier,
    private readonly reflector: Reflector,
    private readonly throttle: AuthThrottle,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<KeyRequest>();
    const ctx = contextOf(req);
    const v = await this.verifier.verify(presentedKey(req), ctx.sourceIp, new Date(), {
      clientCertificate: clientCertificateOf(req.socket),
      endpointTenantId: listenerOf(req).tenantId,
    });
    // A valid key is served whatever its address did before; a failure counts against the address.
    const throttled = v.ok ? undefined : this.throttle.refusal(ctx.sourceIp, 'api_key');
    this.verifier.recordOutcome(v, ctx.sourceIp, { log: throttled === undefined });
    if (throttled) throw throttled;
    if (!v.ok) throw new AppError('unauthorized', 'a valid API key is required');
    const needed = this.reflector.get<Scope[] | undefined>(REQUIRED_SCOPES, context.getHandler()) ?? [];
    const missing = needed.filter((s) => !v.principal.scopes.includes(s));
    if (missing.length > 0) throw new AppError('forbidden', `this key lacks the scope(s) ${missing.join(', ')}`, { missing_scopes: missing });
    req.principal = v.principal;
    ctx.actor = { type: 'api_key', id: v.principal.key_id, display: v.principal.display };
    ctx.tenantId = v.principal.tenant_id;
    return true;
  }
}
