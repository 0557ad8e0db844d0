import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandContext, CommandPath, type SettledOutcome } from '../shared/command-handling';
import { tenantStreamId } from '../shared/ids';
import { type TenantCommand, tenantDecider, type TenantState } from './tenant.domain';

export type TenantCommandResult = SettledOutcome<TenantState>;

/** The dispatch envelope for every tenant command (@nestjs/cqrs routes by class; the domain command stays a union). */
export class ExecuteTenantCommand extends Command<TenantCommandResult> {
  constructor(
    readonly command: TenantCommand,
    readonly context: CommandContext,
  ) {
    super();
  }
}

@CommandHandler(ExecuteTenantCommand)
export class TenantCommandHandler implements ICommandHandler<ExecuteTenantCommand, TenantCommandResult> {
  constructor(private readonly commands: CommandPath) {}

  execute({ command, context }: ExecuteTenantCommand): Promise<TenantCommandResult> {
    return this.commands.handle('tenants', tenantDecider, { streamId: tenantStreamId(command.tenant_id), tenantId: command.tenant_id }, command, context);
  }
}
