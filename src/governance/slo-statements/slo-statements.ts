import { EffectiveQuotaService } from '../../control-plane/quotas/effective-quota.service';
import { QuotasRepository } from '../../control-plane/quotas/quotas.repository';
import { loadAggregate } from '../../control-plane/shared/command-handling';
import { TelemetryRepository } from '../../data-plane/telemetry/telemetry.repository';
import type { SealKey } from '../../platform/config/seal-key';
import type { Database } from '../../platform/db/database';
import { AppError } from '../../platform/errors/app-error';
import { type CommandContext, eventMetadata, newCommandId } from '../../platform/event-store/command-context';
import type { PostgresEventStore } from '../../platform/event-store/postgres-event-store';
import { bundlePrefix } from '../evidence/bundles';
import { archiveBundle, logPosition } from '../evidence/evidence-archive';
import type { EvidenceStore } from '../evidence/evidence-store';
import { sha256 } from '../evidence/manifest';
import { type IssuedStatement, latestIssue, type SloStatementCommand, sloStatementDecider, sloStatementStreamId, type SloStatementsState } from './slo-statement.domain';
import { SloStatementEventsRepository } from './slo-statement-events.repository';
import { computeSloStatement, monthProblem, renderSloStatementMarkdown, type SloStatement, statementBytes, STATEMENT_EVENT_TYPES, statementPeriod } from './statement';

/**
 * Computing and issuing SLO statements (docs/slo.md), for the admin API and `npm run slo:statement`.
 * Computing reads the tenant's events and rollups and calls the pure `computeSloStatement`;
 * issuing archives statement.json and SLO_STATEMENT.md as a signed `slo-statement` evidence
 * bundle and records SloStatementIssued in the same transaction as the archive event.
 */
export interface ComputedStatementFile {
  readonly statement: SloStatement;
  /** statement.json: canonical JSON and a newline. */
  readonly bytes: Buffer;
  readonly sha256: string;
}

export interface IssueResult {
  /** false: the latest issue of this month already holds exactly this statement; nothing was archived or recorded. */
  readonly issued: boolean;
  readonly issue: IssuedStatement;
  readonly location: string;
  readonly statement: SloStatement;
}

const invalidMonth = (field: string, message: string) => new AppError('validation_failed', `month ${message}`, { errors: [{ field, message }] });

export async function computeStatement(database: Database, tenantId: string, month: string, monthField = 'params.month'): Promise<ComputedStatementFile> {
  const problem = monthProblem(month);
  if (problem) throw invalidMonth(monthField, problem);
  const events = new SloStatementEventsRepository(database.db);
  const now = await events.now();
  let period;
  try {
    period = statementPeriod(month, now);
  } catch (err) {
    throw invalidMonth(monthField, err instanceof Error ? err.message.replace(`month ${month} `, '') : String(err));
  }
  // Nothing that occurred after as_of can change the statement: it is not even read.
  const log = await events.tenantEvents(tenantId, STATEMENT_EVENT_TYPES, period.as_of);
  if (!log.some((e) => e.type === 'TenantCreated')) throw new AppError('tenant_not_found', `tenant ${tenantId} does not exist`, { tenant_id: tenantId });
  // The pruner's own rule (TelemetryRecorder.prune): the tenant's effective retention.
  const quota = await new EffectiveQuotaService(new QuotasRepository(database)).get(tenantId);
  const telemetry = await new TelemetryRepository(database).periodTotals(tenantId, period.start, period.as_of);
  const statement = computeSloStatement({ tenant_id: tenantId, period, now, retention_days: quota?.values.telemetry_retention_days ?? 1, telemetry, events: log });
  const bytes = statementBytes(statement);
  return { statement, bytes, sha256: sha256(bytes) };
}

export interface IssueDeps {
  readonly database: Database;
  readonly eventStore: PostgresEventStore;
  readonly archive: EvidenceStore;
  readonly key: SealKey;
  readonly version: string;
}

/** The statements issued for a tenant, newest first. */
export async function issuedStatements(eventStore: PostgresEventStore, tenantId: string): Promise<IssuedStatement[]> {
  const { state } = await loadAggregate(eventStore, sloStatementDecider, sloStatementStreamId(tenantId));
  return [...state.issued].reverse();
}

export async function issueStatement(deps: IssueDeps, tenantId: string, month: string, ctx: CommandContext, command: string, monthField = 'params.month'): Promise<IssueResult> {
  const computed = await computeStatement(deps.database, tenantId, month, monthField);
  const s = computed.statement;
  const streamId = sloStatementStreamId(tenantId);
  const { state } = await loadAggregate(deps.eventStore, sloStatementDecider, streamId);
  const cmd = (bundleId: string): SloStatementCommand => ({
    type: 'IssueSloStatement',
    tenant_exists: true,
    computable: s.computable,
    tenant_id: tenantId,
    month,
    bundle_id: bundleId,
    statement_sha256: computed.sha256,
    provisional: s.period.provisional,
    as_of: s.period.as_of,
  });
  const locationOf = (id: string) => `${deps.archive.location}/${bundlePrefix('slo-statement', id)}`;
  // Decided before archiving (refusals and "already issued" archive nothing), and again with the bundle's id.
  if (sloStatementDecider.decide(cmd(''), state).length === 0) {
    const latest = latestIssue(state, month)!;
    return { issued: false, issue: latest, location: locationOf(latest.bundle_id), statement: s };
  }
  let issuedState: SloStatementsState = state;
  const bundle = await archiveBundle(
    deps.database,
    deps.eventStore,
    deps.archive,
    deps.key,
    {
      kind: 'slo-statement',
      labels: { tenant_id: tenantId, month, provisional: String(s.period.provisional), statement_sha256: computed.sha256 },
      files: [
        { path: 'statement.json', content: computed.bytes },
        { path: 'SLO_STATEMENT.md', content: Buffer.from(renderSloStatementMarkdown(s), 'utf8') },
      ],
      logPosition: await logPosition(deps.database.db),
      actor: ctx.actor,
      command,
      version: deps.version,
    },
    async (trx, stored) => {
      const events = sloStatementDecider.decide(cmd(stored.id), state);
      const metadata = eventMetadata(ctx, newCommandId());
      // Every slo-statement archive runs under the archive's per-kind lock, so issues of one tenant never interleave here.
      await deps.eventStore.append(streamId, events, { expectedRevision: 'any', tenantId, metadata, trx });
      for (const e of events) issuedState = sloStatementDecider.evolve(issuedState, e, { occurredAt: metadata.occurred_at, actorId: ctx.actor.id });
    },
  );
  return { issued: true, issue: latestIssue(issuedState, month)!, location: locationOf(bundle.id), statement: s };
}
