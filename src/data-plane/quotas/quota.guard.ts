import { type CanActivate, type ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Response } from 'express';
import type { KeyRequest } from '../../control-plane/api-keys/api-key-auth.guard';
import { type EndpointClass, QuotaEnforcer } from './quota-enforcer';

export const ENDPOINT_CLASS = 'aionis:endpoint-class';
/** Which rate limit a memory endpoint draws from. */
export const RateLimited = (c: EndpointClass) => SetMetadata(ENDPOINT_CLASS, c);

/**
 * Runs after API-key authentication (so unauthenticated requests are never attributed to a
 * tenant) and before the handler (so a refused request writes nothing). Sets X-RateLimit-* headers.
 */
@Injectable()
export class QuotaGuard implements CanActivate {
  constructor(
    private readonly enforcer: QuotaEnforcer,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const endpointClass = this.reflector.get<EndpointClass | undefined>(ENDPOINT_CLASS, context.getHandler());
    if (!endpointClass) return true;
    const req = context.switchToHttp().getRequest<KeyRequest>();
    const res = context.switchToHttp().getResponse<Response>();
    if (!req.principal) throw new Error('QuotaGuard runs after ApiKeyAuthGuard');
    const a = await this.enforcer.admit(req.principal.tenant_id, endpointClass);
    res.setHeader('X-RateLimit-Limit', String(a.limit));
    res.setHeader('X-RateLimit-Remaining', String(a.remaining));
    res.setHeader('X-RateLimit-Reset', String(a.resetSeconds));
    return true;
  }
}
