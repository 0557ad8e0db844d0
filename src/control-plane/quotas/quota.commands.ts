import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandContext, CommandPath, type SettledOutcome } from '../shared/command-handling';
import { quotaStreamId } from '../shared/ids';
import type { Tier } from '../tenants/tenant.domain';
import { type ClearTenantQuotaOverrides, quotaDecider, type QuotaState, type SetTenantQuotaOverrides } from './quota.domain';

export interface QuotaCommandResult extends SettledOutcome<QuotaState> {
  /** The tenant's tier when the command was decided (from its stream); null only if it does not exist. */
  readonly tier: Tier | null;
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
  constructor(private readonly commands: CommandPath) {}

  execute({ request, context }: ExecuteQuotaCommand): Promise<QuotaCommandResult> {
    const target = { streamId: quotaStreamId(request.tenant_id), tenantId: request.tenant_id };
    return this.commands.handleForTenant('quotas', quotaDecider, target, (exists) => ({ ...request, tenant_exists: exists }), context);
  }
}
