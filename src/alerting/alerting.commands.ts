import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandContext, CommandPath, type SettledOutcome } from '../control-plane/shared/command-handling';
import type { Tier } from '../control-plane/tenants/tenant.domain';
import { type AlertRouteCommand, alertRouteDecider, type AlertRouteState, alertRouteStreamId } from './alert-route.domain';
import { type ClearTenantSloOverrides, type SetTenantSloOverrides, sloDecider, type SloState, sloStreamId } from './slo-override.domain';

export interface SloCommandResult extends SettledOutcome<SloState> {
  readonly tier: Tier | null;
}
export type SloRequest = Omit<SetTenantSloOverrides, 'tenant_exists'> | Omit<ClearTenantSloOverrides, 'tenant_exists'>;

export class ExecuteSloCommand extends Command<SloCommandResult> {
  constructor(
    readonly request: SloRequest,
    readonly context: CommandContext,
  ) {
    super();
  }
}

/** SLO overrides: whether the tenant exists (and its tier) comes from its stream, not a read model. */
@CommandHandler(ExecuteSloCommand)
export class SloCommandHandler implements ICommandHandler<ExecuteSloCommand, SloCommandResult> {
  constructor(private readonly commands: CommandPath) {}

  execute({ request, context }: ExecuteSloCommand): Promise<SloCommandResult> {
    const target = { streamId: sloStreamId(request.tenant_id), tenantId: request.tenant_id };
    return this.commands.handleForTenant('tenant_slos', sloDecider, target, (exists) => ({ ...request, tenant_exists: exists }), context);
  }
}

export type AlertRouteCommandResult = SettledOutcome<AlertRouteState>;

export class ExecuteAlertRouteCommand extends Command<AlertRouteCommandResult> {
  constructor(
    readonly command: AlertRouteCommand,
    readonly context: CommandContext,
  ) {
    super();
  }
}

/** Alert routes: platform streams (no tenant), one per route. */
@CommandHandler(ExecuteAlertRouteCommand)
export class AlertRouteCommandHandler implements ICommandHandler<ExecuteAlertRouteCommand, AlertRouteCommandResult> {
  constructor(private readonly commands: CommandPath) {}

  execute({ command, context }: ExecuteAlertRouteCommand): Promise<AlertRouteCommandResult> {
    return this.commands.handle('alert_routes', alertRouteDecider, { streamId: alertRouteStreamId(command.route_id), tenantId: null }, command, context);
  }
}
