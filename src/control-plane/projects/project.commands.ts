import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandContext, CommandPath, type SettledOutcome } from '../shared/command-handling';
import { projectStreamId, tenantStreamId } from '../shared/ids';
import { tenantDecider } from '../tenants/tenant.domain';
import { type ProjectCommand, projectDecider, type ProjectState, type TenantSnapshot } from './project.domain';

export type ProjectCommandResult = SettledOutcome<ProjectState>;

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
  constructor(private readonly commands: CommandPath) {}

  async execute({ request, context }: ExecuteProjectCommand): Promise<ProjectCommandResult> {
    let command: ProjectCommand;
    let tenantId: string;
    if (request.type === 'CreateProject') {
      // The tenant's status is read from its stream (not a read model) when the command is decided.
      const { state } = await this.commands.load(tenantDecider, tenantStreamId(request.tenant_id));
      const tenant: TenantSnapshot = { tenant_id: request.tenant_id, exists: state.exists, status: state.exists ? state.status : null };
      const { tenant_id: _t, ...rest } = request;
      command = { ...rest, tenant };
      tenantId = request.tenant_id;
    } else {
      const { state } = await this.commands.load(projectDecider, projectStreamId(request.project_id));
      tenantId = state.exists ? state.tenant_id : '';
      command = request;
    }
    return this.commands.handle('projects', projectDecider, { streamId: projectStreamId(command.project_id), tenantId: tenantId || null }, command, context);
  }
}
