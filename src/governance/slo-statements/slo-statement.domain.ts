import type { Decider, DomainEvent } from '../../control-plane/shared/decider';
import { AppError } from '../../platform/errors/app-error';

/**
 * The SLO statements issued for one tenant (stream `slostatements-<tenant_id>`): each issue is an
 * SloStatementIssued event naming the signed evidence bundle that holds the statement and the
 * SHA-256 of its statement.json. Issuing the statement the latest issue of that month already
 * holds (the same bytes) records nothing. Pure.
 */
export interface SloStatementIssuedData {
  readonly tenant_id: string;
  readonly month: string;
  readonly bundle_id: string;
  readonly statement_sha256: string;
  readonly provisional: boolean;
  readonly as_of: string;
}
export type SloStatementIssued = DomainEvent<'SloStatementIssued', SloStatementIssuedData>;
export type SloStatementEvent = SloStatementIssued;

export type IssueSloStatement = { type: 'IssueSloStatement'; tenant_exists: boolean; computable: boolean } & SloStatementIssuedData;
export type SloStatementCommand = IssueSloStatement;

export interface IssuedStatement extends SloStatementIssuedData {
  readonly issued_at: string;
  readonly issued_by: string;
}

/** Every issue, oldest first. */
export interface SloStatementsState {
  readonly issued: readonly IssuedStatement[];
}
export const NO_STATEMENTS: SloStatementsState = { issued: [] };

/** The latest issue of a month, if any. */
export const latestIssue = (state: SloStatementsState, month: string): IssuedStatement | undefined => state.issued.filter((i) => i.month === month).at(-1);

export function decide(command: SloStatementCommand, state: SloStatementsState): SloStatementEvent[] {
  if (!command.tenant_exists) throw new AppError('tenant_not_found', `tenant ${command.tenant_id} does not exist`, { tenant_id: command.tenant_id });
  if (!command.computable) throw new AppError('slo_statement_not_computable', `the SLO statement of ${command.tenant_id} for ${command.month} cannot be computed`, { tenant_id: command.tenant_id, month: command.month });
  if (latestIssue(state, command.month)?.statement_sha256 === command.statement_sha256) return [];
  const { type: _type, tenant_exists: _exists, computable: _computable, ...data } = command;
  return [{ type: 'SloStatementIssued', data }];
}

export function evolve(state: SloStatementsState, event: SloStatementEvent, ctx: { occurredAt: string; actorId: string }): SloStatementsState {
  return { issued: [...state.issued, { ...event.data, issued_at: ctx.occurredAt, issued_by: ctx.actorId }] };
}

export const sloStatementDecider: Decider<SloStatementCommand, SloStatementEvent, SloStatementsState> = { initialState: NO_STATEMENTS, decide, evolve };
/** `slostatements-` is no prefix of another stream kind (`slo-<tenant>` holds SLO overrides). */
export const sloStatementStreamId = (tenantId: string): string => `slostatements-${tenantId}`;
