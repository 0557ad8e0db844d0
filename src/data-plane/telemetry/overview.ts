/**
 * The console overview (docs/console.md): every tenant's health over the last hour, filtered,
 * sorted and paged in one pass. Pure; the controller gathers the rows.
 */
export const OVERVIEW_SORTS = ['tenant_id', 'requests', 'error_rate', 'p95_ms', 'outbox_backlog', 'dead_letters', 'firing_alerts'] as const;
export type OverviewSort = (typeof OVERVIEW_SORTS)[number];

export interface OverviewRow {
  readonly tenant_id: string;
  readonly display_name: string;
  readonly status: string;
  readonly tier: string;
  readonly requests: number;
  readonly errors: number;
  readonly error_rate: number;
  /** Upper bound of the histogram bucket holding the 95th percentile; null without traffic; 5001 stands for "over 5000". */
  readonly p95_ms: number | null;
  readonly outbox_backlog: number;
  readonly dead_letters: number;
  /** Alerts firing for the tenant now (every one, not a page of them). */
  readonly firing_alerts: number;
}

export interface OverviewFilter {
  readonly q?: string;
  readonly status?: string;
  readonly tier?: string;
  /** Only tenants with dead letters, errors in the last hour, a firing alert, or not active. */
  readonly attention?: boolean;
  readonly sort: OverviewSort;
  readonly order: 'asc' | 'desc';
  readonly offset: number;
  readonly limit: number;
}

export function needsAttention(r: OverviewRow): boolean {
  return r.dead_letters > 0 || r.errors > 0 || r.firing_alerts > 0 || r.status !== 'active';
}

export function overviewPage(rows: readonly OverviewRow[], f: OverviewFilter): { items: OverviewRow[]; total: number; next_offset: number | null } {
  const q = f.q?.toLowerCase();
  const kept = rows.filter(
    (r) =>
      (!q || r.tenant_id.includes(q) || r.display_name.toLowerCase().includes(q)) &&
      (!f.status || r.status === f.status) &&
      (!f.tier || r.tier === f.tier) &&
      (!f.attention || needsAttention(r)),
  );
  const dir = f.order === 'asc' ? 1 : -1;
  const value = (r: OverviewRow): number | string => (f.sort === 'tenant_id' ? r.tenant_id : (r[f.sort] ?? -1));
  kept.sort((a, b) => {
    const x = value(a);
    const y = value(b);
    const c = x < y ? -1 : x > y ? 1 : 0;
    // Ties in tenant id order, so pages are stable.
    return c !== 0 ? c * dir : a.tenant_id < b.tenant_id ? -1 : a.tenant_id > b.tenant_id ? 1 : 0;
  });
  const items = kept.slice(f.offset, f.offset + f.limit);
  return { items, total: kept.length, next_offset: f.offset + f.limit < kept.length ? f.offset + f.limit : null };
}
