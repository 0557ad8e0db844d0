import { FINALIZE_GRACE_MS } from './statement';

/**
 * The month close (docs/slo.md "Issued automatically"): which month a run closes and which
 * tenants it issues statements for. Pure; the scheduler, the CLI and the missed-run alert use it.
 */

const monthLabel = (ms: number): string => new Date(ms).toISOString().slice(0, 7);

/** `[start, end)` of a calendar month YYYY-MM (UTC), in ms. */
export function monthBounds(month: string): { start: number; end: number } {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return { start: Date.UTC(y, m - 1, 1), end: Date.UTC(y, m, 1) };
}

/** The month a fire of the schedule closes: the calendar month before the fire's. */
export function monthClosedBy(fire: Date): string {
  return monthLabel(Date.UTC(fire.getUTCFullYear(), fire.getUTCMonth() - 1, 1));
}

/** When a month's statement stops being provisional (its end + FINALIZE_GRACE_MS): the earliest a close may run. */
export const monthClosesAt = (month: string): number => monthBounds(month).end + FINALIZE_GRACE_MS;

/** Whether a month is closed at `now` (its statement is final). */
export const isMonthClosed = (month: string, now: number): boolean => now >= monthClosesAt(month);

/** The claim stream of one month's close (one scheduled run across every instance); the missed-run alert reads it. */
export const sloCloseStreamId = (month: string): string => `slo-close-${month.replace('-', '')}`;

export interface TenantCreation {
  readonly tenant_id: string;
  /** When its TenantCreated occurred. */
  readonly created_at: string;
}

/**
 * The tenants a month's close issues statements for: every tenant that existed during the month
 * (created before its end; active or suspended: tenants are never deleted), sorted by id. A tenant
 * created after the month had no traffic in it and gets none.
 */
export function tenantsInScope(tenants: readonly TenantCreation[], month: string): string[] {
  const end = monthBounds(month).end;
  return tenants
    .filter((t) => Date.parse(t.created_at) < end)
    .map((t) => t.tenant_id)
    .sort();
}

/** One tenant's outcome in a close. */
export type TenantCloseOutcome =
  | { readonly tenant_id: string; readonly outcome: 'issued' | 'already_issued'; readonly bundle_id: string }
  | { readonly tenant_id: string; readonly outcome: 'failed'; readonly error: string };

export interface CloseSummary {
  readonly month: string;
  readonly tenants: number;
  readonly issued: number;
  readonly already_issued: number;
  /** Tenants whose statement could not be issued, and why (the others were issued regardless). */
  readonly failed: readonly { readonly tenant_id: string; readonly error: string }[];
}

export function summarizeClose(month: string, outcomes: readonly TenantCloseOutcome[]): CloseSummary {
  const failed = outcomes.flatMap((o) => (o.outcome === 'failed' ? [{ tenant_id: o.tenant_id, error: o.error }] : []));
  return {
    month,
    tenants: outcomes.length,
    issued: outcomes.filter((o) => o.outcome === 'issued').length,
    already_issued: outcomes.filter((o) => o.outcome === 'already_issued').length,
    failed,
  };
}

/** The events of a month-close claim stream (`slo-close-<YYYYMM>`): claimed, then completed (every tenant issued) or failed (a tenant, or the run, failed). */
export type SloCloseEvent =
  | { readonly type: 'SloStatementCloseClaimed'; readonly data: { readonly month: string; readonly fire: string; readonly instance: string; readonly tenants: number } }
  | { readonly type: 'SloStatementCloseCompleted'; readonly data: CloseSummary & { readonly fire: string } }
  | { readonly type: 'SloStatementCloseFailed'; readonly data: Partial<CloseSummary> & { readonly month: string; readonly fire: string; readonly error: string } };

/** The outcome of a scheduled close, from the last event of its claim stream. */
export type SloCloseRunOutcome = 'none' | 'claimed' | 'completed' | 'failed';
export const SLO_CLOSE_OUTCOMES: Readonly<Record<SloCloseEvent['type'], SloCloseRunOutcome>> = {
  SloStatementCloseClaimed: 'claimed',
  SloStatementCloseCompleted: 'completed',
  SloStatementCloseFailed: 'failed',
};

/** How far back a missed fire is still run (or alerted on): a month and a day. */
export const SLO_CLOSE_LOOKBACK_DAYS = 32;
