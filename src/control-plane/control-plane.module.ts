import { Module } from '@nestjs/common';
import { CqrsModule } from '@nestjs/cqrs';
import { AdminAuthGuard } from './operators/admin-auth.guard';
import { OperatorsRepository } from './operators/operators.repository';
import { ProjectCommandHandler } from './projects/project.commands';
import { GetProjectHandler, ListProjectsHandler, ProjectsRepository } from './projects/project.queries';
import { ProjectsController } from './projects/projects.controller';
import { TenantCommandHandler } from './tenants/tenant.commands';
import { GetTenantHandler, ListTenantsHandler, TenantsRepository } from './tenants/tenant.queries';
import { TenantsController } from './tenants/tenants.controller';

/**
 * The control plane: tenants and operators (projects, keys, quotas follow). @nestjs/cqrs is used
 * only to dispatch commands and queries in-process; events never travel on its bus.
 */
@Module({
  imports: [CqrsModule.forRoot()],
  controllers: [TenantsController, ProjectsController],
  providers: [
    TenantCommandHandler,
    GetTenantHandler,
    ListTenantsHandler,
    TenantsRepository,
    ProjectCommandHandler,
    GetProjectHandler,
    ListProjectsHandler,
    ProjectsRepository,
    OperatorsRepository,
    AdminAuthGuard,
  ],
})
export class ControlPlaneModule {}
