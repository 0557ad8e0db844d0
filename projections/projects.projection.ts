import { evolve, type Project, PROJECT_EVENT_TYPES, type ProjectEvent, type ProjectState } from '../src/control-plane/projects/project.domain';
import type { ProjectionDefinition } from '../src/platform/projections/projection';
import { evolveAggregateRow, stringField } from './support';

export type ProjectRow = Project & { readonly revision: number };

/** rm_projects: one row per project, keyed by project id, with its tenant. */
export const projectsProjection: ProjectionDefinition<ProjectRow> = {
  name: 'projects',
  version: 1,
  table: 'rm_projects',
  primaryKey: 'project_id',
  columns: {
    project_id: 'text',
    tenant_id: 'text',
    display_name: 'text',
    metadata: 'jsonb',
    status: 'text',
    created_at: 'timestamptz',
    updated_at: 'timestamptz',
    archived_at: 'timestamptz',
    archive_reason: 'text',
    created_by: 'text',
    revision: 'int',
  },
  ddl: (t) => [
    `CREATE TABLE IF NOT EXISTS ${t} (
      project_id text PRIMARY KEY,
      tenant_id text NOT NULL,
      display_name text NOT NULL,
      metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
      status text NOT NULL CHECK (status IN ('active', 'archived')),
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      archived_at timestamptz,
      archive_reason text,
      created_by text NOT NULL,
      revision integer NOT NULL
    )`,
    `CREATE INDEX IF NOT EXISTS ${t.replace('.', '_')}_tenant ON ${t} (tenant_id, project_id)`,
  ],
  handles: PROJECT_EVENT_TYPES,
  keyOf: (e) => stringField(e, 'project_id'),
  evolve: (row, e) => evolveAggregateRow<ProjectRow, ProjectState, ProjectEvent>(row, e, evolve, 'project'),
};
