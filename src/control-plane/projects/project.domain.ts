import { AppError } from '../../platform/errors/app-error';
import { canonicalJson } from '../../platform/event-store/canonical-json';
import type { Decider, DomainEvent, EventContext } from '../shared/decider';
import type { Metadata } from '../tenants/tenant.domain';

/**
 * Projects: a tenant's unit of isolation for keys and data. A project belongs to one tenant
 * forever; nothing is created under a suspended tenant or an archived project.
 */
export type ProjectStatus = 'active' | 'archived';

export type ProjectCreated = DomainEvent<'ProjectCreated', { project_id: string; tenant_id: string; display_name: string; metadata: Metadata }>;
export type ProjectUpdated = DomainEvent<'ProjectUpdated', { project_id: string; tenant_id: string; display_name?: string; metadata?: Metadata }>;
export type ProjectArchived = DomainEvent<'ProjectArchived', { project_id: string; tenant_id: string; reason: string | null }>;
export type ProjectEvent = ProjectCreated | ProjectUpdated | ProjectArchived;
export const PROJECT_EVENT_TYPES: readonly ProjectEvent['type'][] = ['ProjectCreated', 'ProjectUpdated', 'ProjectArchived'];

/** What the command side knows of the owning tenant when the command is decided. */
export interface TenantSnapshot {
  readonly tenant_id: string;
  readonly exists: boolean;
  readonly status: 'active' | 'suspended' | null;
}

export type CreateProject = { type: 'CreateProject'; project_id: string; tenant: TenantSnapshot; display_name: string; metadata: Metadata };
export type UpdateProject = { type: 'UpdateProject'; project_id: string; display_name?: string; metadata?: Metadata };
export type ArchiveProject = { type: 'ArchiveProject'; project_id: string; reason: string | null };
export type ProjectCommand = CreateProject | UpdateProject | ArchiveProject;

export interface Project {
  readonly project_id: string;
  readonly tenant_id: string;
  readonly display_name: string;
  readonly metadata: Metadata;
  readonly status: ProjectStatus;
  readonly created_at: string;
  readonly updated_at: string;
  readonly archived_at: string | null;
  readonly archive_reason: string | null;
  readonly created_by: string;
}
export type ProjectState = { readonly exists: false } | ({ readonly exists: true } & Project);

export function requireActiveTenant(tenant: TenantSnapshot): void {
  if (!tenant.exists) throw new AppError('tenant_not_found', `tenant ${tenant.tenant_id} does not exist`, { tenant_id: tenant.tenant_id });
  if (tenant.status !== 'active') throw new AppError('tenant_suspended', `tenant ${tenant.tenant_id} is suspended: nothing can be created under it`, { tenant_id: tenant.tenant_id });
}

function existing(state: ProjectState, projectId: string): Project {
  if (!state.exists) throw new AppError('project_not_found', `project ${projectId} does not exist`, { project_id: projectId });
  return state;
}

export function decide(command: ProjectCommand, state: ProjectState): ProjectEvent[] {
  switch (command.type) {
    case 'CreateProject': {
      if (state.exists) throw new AppError('project_already_exists', `project ${command.project_id} already exists`, { project_id: command.project_id });
      requireActiveTenant(command.tenant);
      return [
        {
          type: 'ProjectCreated',
          data: { project_id: command.project_id, tenant_id: command.tenant.tenant_id, display_name: command.display_name, metadata: command.metadata },
        },
      ];
    }
    case 'UpdateProject': {
      const p = existing(state, command.project_id);
      if (p.status === 'archived') throw new AppError('project_archived', `project ${p.project_id} is archived`, { project_id: p.project_id });
      const data: ProjectUpdated['data'] = { project_id: p.project_id, tenant_id: p.tenant_id };
      let changed = false;
      if (command.display_name !== undefined && command.display_name !== p.display_name) {
        data.display_name = command.display_name;
        changed = true;
      }
      if (command.metadata !== undefined && canonicalJson(command.metadata) !== canonicalJson(p.metadata)) {
        data.metadata = command.metadata;
        changed = true;
      }
      return changed ? [{ type: 'ProjectUpdated', data }] : [];
    }
    case 'ArchiveProject': {
      const p = existing(state, command.project_id);
      if (p.status === 'archived') throw new AppError('project_already_archived', `project ${p.project_id} is already archived`, { project_id: p.project_id });
      return [{ type: 'ProjectArchived', data: { project_id: p.project_id, tenant_id: p.tenant_id, reason: command.reason } }];
    }
  }
}

export function evolve(state: ProjectState, event: ProjectEvent, ctx: EventContext): ProjectState {
  switch (event.type) {
    case 'ProjectCreated':
      return {
        exists: true,
        project_id: event.data.project_id,
        tenant_id: event.data.tenant_id,
        display_name: event.data.display_name,
        metadata: event.data.metadata,
        status: 'active',
        created_at: ctx.occurredAt,
        updated_at: ctx.occurredAt,
        archived_at: null,
        archive_reason: null,
        created_by: ctx.actorId,
      };
    case 'ProjectUpdated':
      if (!state.exists) return state;
      return {
        ...state,
        ...(event.data.display_name !== undefined ? { display_name: event.data.display_name } : {}),
        ...(event.data.metadata !== undefined ? { metadata: event.data.metadata } : {}),
        updated_at: ctx.occurredAt,
      };
    case 'ProjectArchived':
      if (!state.exists) return state;
      return { ...state, status: 'archived', archived_at: ctx.occurredAt, archive_reason: event.data.reason, updated_at: ctx.occurredAt };
  }
}

export const projectDecider: Decider<ProjectCommand, ProjectEvent, ProjectState> = { initialState: { exists: false }, decide, evolve };
