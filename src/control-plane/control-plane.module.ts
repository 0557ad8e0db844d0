import { Module } from '@nestjs/common';
import { CqrsModule } from '@nestjs/cqrs';
import { AuditController } from './audit/audit.controller';
import { AuditRepository } from './audit/audit.repository';
import { AuditPublicKeyController, SealsController } from './audit/seals.controller';
import { ApiKeyAuthGuard } from './api-keys/api-key-auth.guard';
import { ApiKeyCommandHandler } from './api-keys/api-key.commands';
import { ApiKeysRepository, GetApiKeyHandler, ListApiKeysHandler } from './api-keys/api-key.queries';
import { ApiKeysController } from './api-keys/api-keys.controller';
import { KeyVerifier } from './api-keys/key-verifier';
import { WhoamiController } from './api-keys/whoami.controller';
import { AdminAuthGuard } from './operators/admin-auth.guard';
import { OperatorCommandHandler } from './operators/operator.commands';
import { OperatorsController } from './operators/operators.controller';
import { OperatorsRepository } from './operators/operators.repository';
import { OperatorSessionsRepository } from './operators/operator-sessions.repository';
import { SessionCommandHandler } from './operators/session.commands';
import { SessionController } from './operators/session.controller';
import { ProjectCommandHandler } from './projects/project.commands';
import { GetProjectHandler, ListProjectsHandler, ProjectsRepository } from './projects/project.queries';
import { ProjectsController } from './projects/projects.controller';
import { CommandPath } from './shared/command-handling';
import { TenantCommandHandler } from './tenants/tenant.commands';
import { GetTenantHandler, ListTenantsHandler, TenantsRepository } from './tenants/tenant.queries';
import { TenantsController } from './tenants/tenants.controller';

/**
 * The control plane: tenants and operators (projects, keys, quotas follow). @nestjs/cqrs is used
 * only to dispatch commands and queries in-process; events never travel on its bus.
 */
@Module({
  imports: [CqrsModule.forRoot()],
  controllers: [TenantsController, ProjectsController, ApiKeysController, WhoamiController, OperatorsController, SessionController, AuditController, SealsController, AuditPublicKeyController],
  providers: [
    CommandPath,
    TenantCommandHandler,
    GetTenantHandler,
    ListTenantsHandler,
    TenantsRepository,
    ProjectCommandHandler,
    GetProjectHandler,
    ListProjectsHandler,
    ProjectsRepository,
    ApiKeyCommandHandler,
    GetApiKeyHandler,
    ListApiKeysHandler,
    ApiKeysRepository,
    KeyVerifier,
    ApiKeyAuthGuard,
    OperatorCommandHandler,
    AuditRepository,
    OperatorsRepository,
    OperatorSessionsRepository,
    SessionCommandHandler,
    AdminAuthGuard,
  ],
  exports: [CommandPath, KeyVerifier, ApiKeyAuthGuard, AdminAuthGuard, OperatorsRepository, OperatorSessionsRepository, TenantsRepository],
})
export class ControlPlaneModule {}
