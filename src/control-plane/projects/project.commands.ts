import { Inject } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config';
import { EVENT_STORE, type EventStore } from '../../platform/event-store/event-store';
import { ProjectionsService } from '../../platform/projections/projections.service';
import { type CommandContext, type CommandOutcome, handleCommand, loadAggregate } from '../shared/command-handling';
import { projectStreamId, tenantStreamId } from '../shared/ids';
import { tenantDecider } from '../tenants/tenant.domain';
import { type ProjectCommand, projectDecider, type ProjectState, type TenantSnapshot } from './project.domain';

export interface ProjectCommandResult extends CommandOutcome<ProjectState> {
  readonly readModelCurrent: boolean;
}

/** Either a full domain command, or a create that still needs the owning tenant's state. */
export type ProjectRequest = Exclude<ProjectCommand, { type: 'CreateProject' }> | (Omit<Extract<ProjectCommand, { type: 'CreateProject' }>, 'tenant'> & { tenant_id: string });

export class ExecuteProjectCommand extends Command<ProjectCommandResult> {
  constructor(
    readonly request: ProjectRequest,
    readonly context: CommandContext,
  ) {
    super();
  }
}

@CommandHandler(ExecuteProjectCommand)
export class ProjectCommandHandler implements ICommandHandler<ExecuteProjectCommand, ProjectCommandResult> {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly projections: ProjectionsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async execute({ request, context }: ExecuteProjectCommand): Promise<ProjectCommandResult> {
    let command: ProjectCommand;
    let tenantId: string;
    if (request.type === 'CreateProject') {
      // The tenant's status is read from its stream (not a read model) when the command is decided.
      const { state } = await loadAggregate(this.store, tenantDecider, tenantStreamId(request.tenant_id));
      const tenant: TenantSnapshot = { tenant_id: request.tenant_id, exists: state.exists, status: state.exists ? state.status : null };
      const { tenant_id: _t, ...rest } = request;
      command = { ...rest, tenant };
      tenantId = request.tenant_id;
    } else {
      const { state } = await loadAggregate(this.store, projectDecider, projectStreamId(request.project_id));
      tenantId = state.exists ? state.tenant_id : '';
      command = request;
    }
    const outcome = await handleCommand(this.store, projectDecider, { streamId: projectStreamId(command.project_id), tenantId: tenantId || null }, command, context);
    const readModelCurrent = outcome.position ? await this.projections.waitForWrite('projects', outcome.position, this.config.http.commandWaitMs) : true;
    return { ...outcome, readModelCurrent };
  }
}
