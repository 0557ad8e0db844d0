import { Inject, Injectable } from '@nestjs/common';
import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { projectsProjection } from '../../../projections/projects.projection';
import type { ProjectRow } from '../../../projections/projects.projection';
import { DATABASE, type Database } from '../../platform/db/database';
import { normaliseRow } from '../../platform/projections/projection-store';
import type { ProjectStatus } from './project.domain';

export interface ProjectFilter {
  readonly tenantId?: string;
  readonly status?: ProjectStatus;
  readonly after?: string;
  readonly limit: number;
}

/** Read side of projects (rm_projects). SQL only. */
@Injectable()
export class ProjectsRepository {
  constructor(@Inject(DATABASE) private readonly database: Database) {}

  async get(projectId: string): Promise<ProjectRow | undefined> {
    const row = await this.database.db.selectFrom('rm_projects').selectAll().where('project_id', '=', projectId).executeTakeFirst();
    return row ? (normaliseRow(projectsProjection, row as unknown as Record<string, unknown>) as unknown as ProjectRow) : undefined;
  }

  async list(filter: ProjectFilter): Promise<ProjectRow[]> {
    let q = this.database.db.selectFrom('rm_projects').selectAll().orderBy('project_id').limit(filter.limit);
    if (filter.tenantId !== undefined) q = q.where('tenant_id', '=', filter.tenantId);
    if (filter.status) q = q.where('status', '=', filter.status);
    if (filter.after !== undefined) q = q.where('project_id', '>', filter.after);
    const rows = await q.execute();
    return rows.map((r) => normaliseRow(projectsProjection, r as unknown as Record<string, unknown>) as unknown as ProjectRow);
  }
}

export class GetProjectQuery extends Query<ProjectRow | undefined> {
  constructor(readonly projectId: string) {
    super();
  }
}

export class ListProjectsQuery extends Query<ProjectRow[]> {
  constructor(readonly filter: ProjectFilter) {
    super();
  }
}

@QueryHandler(GetProjectQuery)
export class GetProjectHandler implements IQueryHandler<GetProjectQuery, ProjectRow | undefined> {
  constructor(private readonly repo: ProjectsRepository) {}
  execute(q: GetProjectQuery): Promise<ProjectRow | undefined> {
    return this.repo.get(q.projectId);
  }
}

@QueryHandler(ListProjectsQuery)
export class ListProjectsHandler implements IQueryHandler<ListProjectsQuery, ProjectRow[]> {
  constructor(private readonly repo: ProjectsRepository) {}
  execute(q: ListProjectsQuery): Promise<ProjectRow[]> {
    return this.repo.list(q.filter);
  }
}
