import { Inject, Injectable } from '@nestjs/common';
import type { Counter } from '@opentelemetry/api';
import type { Request, Response } from 'express';
import type { z } from 'zod';
import type { KeyRequest } from '../../control-plane/api-keys/api-key-auth.guard';
import { OperatorsRepository } from '../../control-plane/operators/operators.repository';
import { digestsEqual, hashToken } from '../../control-plane/operators/credentials';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config';
import { SECRETS, type Secrets } from '../../platform/config/secrets';
import { contextOf } from '../../platform/http/request-context';
import { parseInput } from '../../platform/http/validation';
import { METRICS, type Metrics } from '../../platform/telemetry/metrics';
import { QuotaEnforcer, type EndpointClass } from '../quotas/quota-enforcer';
import { ConcurrencyGate } from './concurrency-gate';
import { checkTenant, ignoredFields, type Principal } from './domain/identity';
import type { RequestFacts } from './write.handler';

export const IGNORED_FIELDS_HEADER = 'x-aionis-ignored-fields';
const IGNORED_REPORTED_MAX = 50;

/**
 * The request pipeline every memory route shares, in the contract's order (§1.6) except that the
 * body is validated before the rate limit on every route (a client mistake costs no token):
 * principal from the key, tenant check and identity injection, validation (unknown fields are
 * dropped and named in x-aionis-ignored-fields), the tenant's bucket and monthly operations, then
 * the per-process concurrency gate.
 */
@Injectable()
export class ContractGateway {
  private readonly gates: Record<EndpointClass, ConcurrencyGate>;
  private readonly ignored: Counter;

  constructor(
    private readonly quota: QuotaEnforcer,
    private readonly operators: OperatorsRepository,
    @Inject(SECRETS) private readonly secrets: Secrets,
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(METRICS) metrics: Metrics,
  ) {
    const m = config.memory;
    this.gates = {
      recall: new ConcurrencyGate('recall', m.recallGate.maxInflight, m.recallGate.maxQueue, m.gateQueueTimeoutMs),
      write: new ConcurrencyGate('write', m.writeGate.maxInflight, m.writeGate.maxQueue, m.gateQueueTimeoutMs),
    };
    this.ignored = metrics.meter.createCounter('aionis_memory_ignored_fields', { description: 'Unknown request fields the memory API ignored (tolerant reader), by route' });
  }

  /** The caller, and a check that any tenant it names (body/query tenant_id, else X-Tenant-Id) is its own. */
  principal(req: Request, raw: unknown): Principal {
    const k = (req as KeyRequest).principal;
    if (!k) throw new Error('ApiKeyAuthGuard did not attach a principal');
    const p: Principal = { tenantId: k.tenant_id, projectKey: k.project_id ?? '', keyId: k.key_id, keyDisplay: k.display, agentId: k.agent_id, teamId: k.team_id };
    checkTenant(p, raw, req.header('x-tenant-id'));
    return p;
  }

  /** Validate; name what was ignored in a header and a metric. */
  parse<S extends z.ZodType>(schema: S, raw: unknown, where: 'body' | 'query', res: Response, route: string): z.infer<S> {
    const parsed = parseInput(schema, raw, where);
    const dropped = ignoredFields(raw, parsed);
    if (dropped.length > 0) {
      const shown = dropped.slice(0, IGNORED_REPORTED_MAX);
      res.setHeader(IGNORED_FIELDS_HEADER, `${shown.join(',')}${dropped.length > shown.length ? `,...(+${dropped.length - shown.length})` : ''}`);
      this.ignored.add(dropped.length, { route });
    }
    return parsed;
  }

  /**
   * Rate limit and monthly operations (headers X-RateLimit-*), then the concurrency gate around
   * the work. A request that fails after admission (a mistake only the handler can see, such as
   * an edge to a missing node; back-pressure; a fault of ours) is refunded: only requests that
   * succeed are charged. `gated: false` for the routes the contract gives a bucket but no gate
   * (§1.6: archive/rehydrate, nodes/activate, feedback, rules/state, tools/feedback).
   */
  async run<T>(p: Principal, res: Response, cls: EndpointClass, work: (waitMs: number) => Promise<T>, opts: { gated: boolean } = { gated: true }): Promise<T> {
    const a = await this.quota.admit(p.tenantId, cls);
    res.setHeader('X-RateLimit-Limit', String(a.limit));
    res.setHeader('X-RateLimit-Remaining', String(a.remaining));
    res.setHeader('X-RateLimit-Reset', String(a.resetSeconds));
    try {
      return opts.gated ? await this.gates[cls].run(work) : await work(0);
    } catch (err) {
      await this.quota.refund(a).catch(() => undefined);
      throw err;
    }
  }

  facts(req: Request): RequestFacts {
    const ctx = contextOf(req);
    return { requestId: ctx.requestId, correlationId: ctx.correlationId, sourceIp: ctx.sourceIp, userAgent: ctx.userAgent, now: new Date() };
  }

  /**
   * Debug embeddings need a privileged caller (contract §3.6): hosted, that is an `X-Admin-Token`
   * holding the token of an active operator (any role: vectors are read, never changed).
   */
  async privileged(req: Request): Promise<boolean> {
    const token = req.header('x-admin-token')?.trim();
    if (!token || token.length > 512) return false;
    const digest = hashToken(this.secrets.keyPepper, token);
    const op = await this.operators.findByTokenHash(digest);
    return op !== undefined && op !== null && digestsEqual(op.matched_hash, digest) && op.status === 'active';
  }
}
