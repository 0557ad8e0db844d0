import type { EventContext } from '../../src/control-plane/shared/decider';
import {
  type CreateProject,
  evolve,
  type ProjectArchived,
  type ProjectCreated,
  projectDecider,
  type ProjectEvent,
  type ProjectState,
  requireActiveTenant,
} from '../../src/control-plane/projects/project.domain';
import { AppError } from '../../src/platform/errors/app-error';
import { deciderSpec, foldEvents, TEST_CONTEXT } from './support/decider-spec';

const given = deciderSpec(projectDecider);

const create: CreateProject = {
  type: 'CreateProject',
  project_id: 'web',
  tenant: { tenant_id: 'acme', exists: true, status: 'active' },
  display_name: 'Web app',
  metadata: { env: 'prod', owners: { lead: 'ann' } },
};
const created: ProjectCreated = {
  type: 'ProjectCreated',
  data: { project_id: 'web', tenant_id: 'acme', display_name: 'Web app', metadata: { env: 'prod', owners: { lead: 'ann' } } },
};
const archived: ProjectArchived = { type: 'ProjectArchived', data: { project_id: 'web', tenant_id: 'acme', reason: 'sunset' } };

const at = (occurredAt: string, actorId = 'op_test'): EventContext => ({ occurredAt, actorId });

function projectOf(state: ProjectState): Extract<ProjectState, { exists: true }> {
  if (!state.exists) throw new Error('expected the project to exist');
  return state;
}

describe('project decider', () => {
  describe('CreateProject', () => {
    it('creates a project under an active tenant', () => {
      given([]).when(create).then([created]);
    });

    it('rejects a missing tenant with tenant_not_found', () => {
      const err = given([])
        .when({ ...create, tenant: { tenant_id: 'ghost', exists: false, status: null } })
        .thenThrows('tenant_not_found');
      expect(err.details).toMatchObject({ tenant_id: 'ghost' });
    });

    it('rejects a suspended tenant with tenant_suspended', () => {
      const err = given([])
        .when({ ...create, tenant: { tenant_id: 'acme', exists: true, status: 'suspended' } })
        .thenThrows('tenant_suspended');
      expect(err.details).toMatchObject({ tenant_id: 'acme' });
    });

    it('rejects a duplicate with project_already_exists (active or archived)', () => {
      const err = given([created]).when(create).thenThrows('project_already_exists');
      expect(err.details).toMatchObject({ project_id: 'web' });
      given([created, archived]).when(create).thenThrows('project_already_exists');
    });

    it('reports the duplicate even when the tenant is now suspended', () => {
      given([created])
        .when({ ...create, tenant: { tenant_id: 'acme', exists: true, status: 'suspended' } })
        .thenThrows('project_already_exists');
    });
  });

  describe('UpdateProject', () => {
    it('emits only the display name when only it changes', () => {
      given([created])
        .when({ type: 'UpdateProject', project_id: 'web', display_name: 'Website' })
        .then([{ type: 'ProjectUpdated', data: { project_id: 'web', tenant_id: 'acme', display_name: 'Website' } }]);
    });

    it('emits only the metadata when only it changes', () => {
      given([created])
        .when({ type: 'UpdateProject', project_id: 'web', display_name: 'Web app', metadata: { env: 'staging' } })
        .then([{ type: 'ProjectUpdated', data: { project_id: 'web', tenant_id: 'acme', metadata: { env: 'staging' } } }]);
    });

    it('emits both when both change', () => {
      given([created])
        .when({ type: 'UpdateProject', project_id: 'web', display_name: 'W', metadata: {} })
        .then([{ type: 'ProjectUpdated', data: { project_id: 'web', tenant_id: 'acme', display_name: 'W', metadata: {} } }]);
    });

    it('emits nothing for a no-op update (same values, or no fields)', () => {
      given([created]).when({ type: 'UpdateProject', project_id: 'web', display_name: 'Web app', metadata: { env: 'prod', owners: { lead: 'ann' } } }).then([]);
      given([created]).when({ type: 'UpdateProject', project_id: 'web' }).then([]);
    });

    it('treats metadata differing only in key order as unchanged', () => {
      given([created]).when({ type: 'UpdateProject', project_id: 'web', metadata: { owners: { lead: 'ann' }, env: 'prod' } }).then([]);
    });

    it('rejects updating an archived project with project_archived', () => {
      const err = given([created, archived]).when({ type: 'UpdateProject', project_id: 'web', display_name: 'x' }).thenThrows('project_archived');
      expect(err.details).toMatchObject({ project_id: 'web' });
    });

    it('rejects even a no-op update of an archived project', () => {
      given([created, archived]).when({ type: 'UpdateProject', project_id: 'web' }).thenThrows('project_archived');
    });

    it('rejects updating a missing project with project_not_found', () => {
      const err = given([]).when({ type: 'UpdateProject', project_id: 'ghost', display_name: 'x' }).thenThrows('project_not_found');
      expect(err.details).toMatchObject({ project_id: 'ghost' });
    });
  });

  describe('ArchiveProject', () => {
    it('archives an active project with its reason', () => {
      given([created]).when({ type: 'ArchiveProject', project_id: 'web', reason: 'sunset' }).then([archived]);
      given([created])
        .when({ type: 'ArchiveProject', project_id: 'web', reason: null })
        .then([{ type: 'ProjectArchived', data: { project_id: 'web', tenant_id: 'acme', reason: null } }]);
    });

    it('rejects archiving twice with project_already_archived', () => {
      const err = given([created, archived]).when({ type: 'ArchiveProject', project_id: 'web', reason: 'again' }).thenThrows('project_already_archived');
      expect(err.details).toMatchObject({ project_id: 'web' });
    });

    it('rejects archiving a missing project with project_not_found', () => {
      given([]).when({ type: 'ArchiveProject', project_id: 'ghost', reason: null }).thenThrows('project_not_found');
    });
  });
});

describe('requireActiveTenant', () => {
  it('passes an active tenant and throws AppErrors otherwise', () => {
    expect(() => requireActiveTenant({ tenant_id: 'acme', exists: true, status: 'active' })).not.toThrow();
    const codeOf = (fn: () => void): string | undefined => {
      try {
        fn();
      } catch (err) {
        expect(err).toBeInstanceOf(AppError);
        return (err as AppError).code;
      }
      return undefined;
    };
    expect(codeOf(() => requireActiveTenant({ tenant_id: 'acme', exists: false, status: null }))).toBe('tenant_not_found');
    expect(codeOf(() => requireActiveTenant({ tenant_id: 'acme', exists: true, status: 'suspended' }))).toBe('tenant_suspended');
    // An existing tenant with an unknown status is not treated as active.
    expect(codeOf(() => requireActiveTenant({ tenant_id: 'acme', exists: true, status: null }))).toBe('tenant_suspended');
  });
});

describe('project evolve', () => {
  it('starts with no project', () => {
    expect(projectDecider.initialState).toStrictEqual({ exists: false });
  });

  it('builds an active project from ProjectCreated and the event context', () => {
    expect(given([created]).state).toStrictEqual({
      exists: true,
      project_id: 'web',
      tenant_id: 'acme',
      display_name: 'Web app',
      metadata: { env: 'prod', owners: { lead: 'ann' } },
      status: 'active',
      created_at: TEST_CONTEXT.occurredAt,
      updated_at: TEST_CONTEXT.occurredAt,
      archived_at: null,
      archive_reason: null,
      created_by: TEST_CONTEXT.actorId,
    });
  });

  it('an update changes only the given fields and moves updated_at', () => {
    const s0 = evolve(projectDecider.initialState, created, at('2026-01-01T00:00:00.000Z', 'op_creator'));
    const s1 = projectOf(evolve(s0, { type: 'ProjectUpdated', data: { project_id: 'web', tenant_id: 'acme', display_name: 'Website' } }, at('2026-01-02T00:00:00.000Z', 'op_x')));
    expect(s1).toMatchObject({ display_name: 'Website', metadata: { env: 'prod', owners: { lead: 'ann' } }, updated_at: '2026-01-02T00:00:00.000Z', created_at: '2026-01-01T00:00:00.000Z', created_by: 'op_creator' });
    const s2 = projectOf(evolve(s1, { type: 'ProjectUpdated', data: { project_id: 'web', tenant_id: 'acme', metadata: {} } }, at('2026-01-03T00:00:00.000Z')));
    expect(s2).toMatchObject({ display_name: 'Website', metadata: {}, updated_at: '2026-01-03T00:00:00.000Z' });
  });

  it('archiving sets status, archived_at (from the context) and archive_reason', () => {
    const s0 = evolve(projectDecider.initialState, created, at('2026-01-01T00:00:00.000Z'));
    const s1 = projectOf(evolve(s0, archived, at('2026-03-03T03:03:03.003Z', 'op_arch')));
    expect(s1).toMatchObject({
      status: 'archived',
      archived_at: '2026-03-03T03:03:03.003Z',
      archive_reason: 'sunset',
      updated_at: '2026-03-03T03:03:03.003Z',
      created_at: '2026-01-01T00:00:00.000Z',
      display_name: 'Web app',
    });
  });

  it('ignores updates and archivals of a project that does not exist', () => {
    const none: ProjectState = { exists: false };
    for (const e of [{ type: 'ProjectUpdated', data: { project_id: 'web', tenant_id: 'acme', display_name: 'x' } }, archived] satisfies ProjectEvent[]) {
      expect(evolve(none, e, TEST_CONTEXT)).toStrictEqual(none);
    }
  });

  it('does not mutate the previous state, and folds a history to the expected state', () => {
    const s0 = evolve(projectDecider.initialState, created, TEST_CONTEXT);
    const snapshot = structuredClone(s0);
    evolve(s0, archived, at('2026-02-01T00:00:00.000Z'));
    expect(s0).toStrictEqual(snapshot);
    const s = projectOf(foldEvents(projectDecider, [created, { type: 'ProjectUpdated', data: { project_id: 'web', tenant_id: 'acme', display_name: 'Z' } }, archived]));
    expect(s).toMatchObject({ display_name: 'Z', status: 'archived', archive_reason: 'sunset' });
  });
});
