import { Inject } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { APP_CONFIG, type AppConfig } from '../platform/config/config';
import { EVENT_STORE, type EventStore } from '../platform/event-store/event-store';
import { ProjectionsService } from '../platform/projections/projections.service';
import { type CommandContext, type CommandOutcome, handleCommand, loadAggregate } from '../control-plane/shared/command-handling';
import { tenantStreamId } from '../control-plane/shared/ids';
import { type Tier, tenantDecider } from '../control-plane/tenants/tenant.domain';
import { type AlertRouteCommand, alertRouteDecider, type AlertRouteState, alertRouteStreamId } from './alert-route.domain';
import { type ClearTenantSloOverrides, type SetTenantSloOverrides, type SloCommand, sloDecider, type SloState, sloStreamId } from './slo-override.domain';

export interface SloCommandResult extends CommandOutcome<SloState> {
  readonly tier: Tier | null;
  readonly readModelCurrent: boolean;
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
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly projections: ProjectionsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async execute({ request, context }: ExecuteSloCommand): Promise<SloCommandResult> {
    const { state: tenant } = await loadAggregate(this.store, tenantDecider, tenantStreamId(request.tenant_id));
    const command: SloCommand = { ...request, tenant_exists: tenant.exists };
    const outcome = await handleCommand(this.store, sloDecider, { streamId: sloStreamId(request.tenant_id), tenantId: request.tenant_id }, command, context);
    const readModelCurrent = outcome.position ? await this.projections.waitForWrite('tenant_slos', outcome.position, this.config.http.commandWaitMs) : true;
    return { ...outcome, tier: tenant.exists ? tenant.tier : null, readModelCurrent };
  }
}

export interface AlertRouteCommandResult extends CommandOutcome<AlertRouteState> {
  readonly readModelCurrent: boolean;
}

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
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly projections: ProjectionsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async execute({ command, context }: ExecuteAlertRouteCommand): Promise<AlertRouteCommandResult> {
    const outcome = await handleCommand(this.store, alertRouteDecider, { streamId: alertRouteStreamId(command.route_id), tenantId: null }, command, context);
    const readModelCurrent = outcome.position ? await this.projections.waitForWrite('alert_routes', outcome.position, this.config.http.commandWaitMs) : true;
    return { ...outcome, readModelCurrent };
  }
}
