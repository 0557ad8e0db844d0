import { Inject } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config';
import { EVENT_STORE, type EventStore } from '../../platform/event-store/event-store';
import { ProjectionsService } from '../../platform/projections/projections.service';
import { type CommandContext, type CommandOutcome, handleCommand, loadAggregate } from '../shared/command-handling';
import { quotaStreamId, tenantStreamId } from '../shared/ids';
import { type Tier, tenantDecider } from '../tenants/tenant.domain';
import { type ClearTenantQuotaOverrides, type QuotaCommand, quotaDecider, type QuotaState, type SetTenantQuotaOverrides } from './quota.domain';

export interface QuotaCommandResult extends CommandOutcome<QuotaState> {
  /** The tenant's tier when the command was decided (from its stream); null only if it does not exist. */
  readonly tier: Tier | null;
  /** False when the quotas read model had not caught up within the wait budget. */
  readonly readModelCurrent: boolean;
}

/** A quota command as the edge knows it: whether the tenant exists is filled in by the handler. */
export type QuotaRequest = Omit<SetTenantQuotaOverrides, 'tenant_exists'> | Omit<ClearTenantQuotaOverrides, 'tenant_exists'>;

export class ExecuteQuotaCommand extends Command<QuotaCommandResult> {
  constructor(
    readonly request: QuotaRequest,
    readonly context: CommandContext,
  ) {
    super();
  }
}

@CommandHandler(ExecuteQuotaCommand)
export class QuotaCommandHandler implements ICommandHandler<ExecuteQuotaCommand, QuotaCommandResult> {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly projections: ProjectionsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async execute({ request, context }: ExecuteQuotaCommand): Promise<QuotaCommandResult> {
    // Whether the tenant exists (and its tier) is read from its stream, not a read model.
    const { state: tenant } = await loadAggregate(this.store, tenantDecider, tenantStreamId(request.tenant_id));
    const command: QuotaCommand = { ...request, tenant_exists: tenant.exists };
    const outcome = await handleCommand(this.store, quotaDecider, { streamId: quotaStreamId(request.tenant_id), tenantId: request.tenant_id }, command, context);
    // Read-your-writes: a GET right after this response sees the change (bounded wait).
    const readModelCurrent = outcome.position ? await this.projections.waitForWrite('quotas', outcome.position, this.config.http.commandWaitMs) : true;
    return { ...outcome, tier: tenant.exists ? tenant.tier : null, readModelCurrent };
  }
}
