import type { CommandContext } from '../../platform/event-store/command-context';
import { type CloseSummary, summarizeClose, type TenantCloseOutcome, tenantsInScope } from './month-close';
import { SloCloseEventsRepository } from './slo-close-events.repository';
import { type IssueDeps, issueStatement } from './slo-statements';

/**
 * Closes a month: issues the statement of every tenant that existed during it, one after the
 * other, through the same issue as the API (signed bundle + SloStatementIssued; an identical
 * statement already issued is not issued again). A tenant that fails is recorded with its error
 * and the others still run. Used by the scheduler and `npm run slo:statement -- --all-tenants`.
 */
export async function closeMonth(deps: IssueDeps, month: string, ctx: CommandContext, command: string, onTenant: (o: TenantCloseOutcome) => void = () => undefined): Promise<CloseSummary> {
  const tenants = tenantsInScope(await new SloCloseEventsRepository(deps.database).tenantCreations(), month);
  const outcomes: TenantCloseOutcome[] = [];
  for (const tenant_id of tenants) {
    let o: TenantCloseOutcome;
    try {
      const r = await issueStatement(deps, tenant_id, month, ctx, command, '--month');
      o = { tenant_id, outcome: r.issued ? 'issued' : 'already_issued', bundle_id: r.issue.bundle_id };
    } catch (err) {
      o = { tenant_id, outcome: 'failed', error: (err instanceof Error ? err.message : String(err)).slice(0, 500) };
    }
    outcomes.push(o);
    onTenant(o);
  }
  return summarizeClose(month, outcomes);
}
