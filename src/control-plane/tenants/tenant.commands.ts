import { Inject } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config';
import { EVENT_STORE, type EventStore } from '../../platform/event-store/event-store';
import { ProjectionsService } from '../../platform/projections/projections.service';
import { type CommandContext, type CommandOutcome, handleCommand } from '../shared/command-handling';
import { tenantStreamId } from '../shared/ids';
import { type TenantCommand, tenantDecider, type TenantState } from './tenant.domain';

export interface TenantCommandResult extends CommandOutcome<TenantState> {
  /** False when the tenants read model had not caught up within the wait budget. */
  readonly readModelCurrent: boolean;
}

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
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly projections: ProjectionsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async execute({ command, context }: ExecuteTenantCommand): Promise<TenantCommandResult> {
    const outcome = await handleCommand(this.store, tenantDecider, { streamId: tenantStreamId(command.tenant_id), tenantId: command.tenant_id }, command, context);
    // Read-your-writes: a GET right after this response sees the change (bounded wait).
    const readModelCurrent = outcome.position ? await this.projections.waitForWrite('tenants', outcome.position, this.config.http.commandWaitMs) : true;
    return { ...outcome, readModelCurrent };
  }
}
