import { evolve, type Project, PROJECT_EVENT_TYPES, type ProjectEvent } from '../src/control-plane/projects/project.domain';
import { type ProjectionDefinition, ProjectionError } from '../src/platform/projections/projection';
import { contextOf, requireSchemaVersion, stringField, withoutExists } from './support';

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
  evolve(row, e) {
    requireSchemaVersion(e, 1);
    const state = row ? { exists: true as const, ...row } : { exists: false as const };
    const next = evolve(state, e as unknown as ProjectEvent, contextOf(e));
    if (!next.exists) throw new ProjectionError('invariant_violation', `${e.type} for a project that was never created`);
    const { revision: _r, ...project } = withoutExists(next) as ProjectRow;
    return { ...project, revision: e.streamPosition };
  },
};
