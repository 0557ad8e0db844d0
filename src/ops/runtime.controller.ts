import { Controller, Get, Inject, Res, UseGuards } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { AdminAuthGuard } from '../control-plane/operators/admin-auth.guard';
import { OperatorsRepository } from '../control-plane/operators/operators.repository';
import { EMBEDDING_PROVIDER, type EmbeddingProvider } from '../data-plane/embeddings/embedding-provider';
import { APP_CONFIG, type AppConfig } from '../platform/config/config';
import { SECRETS, type Secrets } from '../platform/config/secrets';
import { DATABASE, type Database } from '../platform/db/database';
import { pendingMigrations } from '../platform/db/migrations';
import { pepperPolicy } from './preflight/pepper-policy';
import { deploymentId, type RuntimeFacts, serviceCommit, serviceVersion } from './preflight/runtime-facts';
import { ApiContract, objectResponse } from '../platform/http/openapi';

/**
 * `GET /v1/admin/ops/runtime`: the facts preflight checks, as this server process has them
 * (effective configuration, not anyone's shell). Every role may read it. Secrets appear only as
 * verdicts: the pepper's source and whether it meets the policy, never its value or length.
 */
@ApiTags('operations')
@Controller('v1/admin/ops')
@UseGuards(AdminAuthGuard)
export class RuntimeController {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(SECRETS) private readonly secrets: Secrets,
    @Inject(DATABASE) private readonly database: Database,
    @Inject(EMBEDDING_PROVIDER) private readonly embeddings: EmbeddingProvider | null,
    private readonly operators: OperatorsRepository,
  ) {}

  @Get('runtime')
  @ApiContract({ summary: "The server's effective configuration and state, for preflight (every role; no secret values)", auth: 'operator', response: { status: 200, description: 'Configuration and state', schema: objectResponse("runtime facts (docs/operations.md, preflight)") } })
  async runtime(@Res({ passthrough: true }) res: Response): Promise<RuntimeFacts> {
    res.setHeader('Cache-Control', 'no-store');
    const pending = await pendingMigrations(this.database.db);
    const owners = await this.operators.list({ role: 'owner', status: 'active', limit: 200 });
    const verdict = pepperPolicy(this.secrets.keyPepper);
    const model = this.embeddings?.model ?? 'none';
    const provider = this.config.embeddings.provider;
    const n = this.config.network;
    return {
      version: serviceVersion(),
      commit: serviceCommit(),
      roles: [...this.config.roles],
      database: { kind: this.database.kind, deployment_id: await deploymentId(this.database.db), migrations_current: pending.length === 0, pending_migrations: pending },
      pepper: { source: this.secrets.keyPepperSource, meets_policy: verdict.meets_policy, problems: verdict.problems },
      auth: { admin: 'operator_credentials', api_keys: 'required' },
      // Token buckets in the database (rate_limit_buckets), enforced on every memory request; there is no switch to turn them off.
      rate_limits: { enforced: true, store: 'database', endpoint_classes: ['write', 'recall'] },
      // The local provider hashes n-grams and the fake one is the open core's test embedder: placeholders with no
      // semantic recall; without a provider recall_text is refused.
      embeddings: { provider, model, placeholder: provider !== 'openai', dimension: this.config.embeddings.dimension },
      network: {
        tls: n.tls ? { client_auth: n.tls.clientAuth } : null,
        admin_listener: n.admin ? { host: n.admin.host, port: n.admin.port, tls: n.admin.tls ? { client_auth: n.admin.tls.clientAuth } : null } : null,
        private_endpoints: n.privateEndpoints.map((p) => ({ name: p.name, tenant_id: p.tenantId, host: p.host, port: p.port, allowed_cidrs: p.allowedCidrs })),
      },
      owners: { active_owner_ids: owners.map((o) => o.operator_id), only_bootstrap: owners.length > 0 && owners.every((o) => o.bootstrap) },
      server_time: new Date().toISOString(),
    };
  }
}
