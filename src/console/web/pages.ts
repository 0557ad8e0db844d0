import { call, get } from './api.js';
import { AUDIT_RESOURCE_TYPES } from './audit-resources.js';
import { lineChart } from './chart.js';
import { type Child, empty, errorBox, fmtInt, fmtMs, fmtPct, fmtTime, h, replace, table } from './dom.js';
import { renderMarkdown } from './markdown.js';

const A = '/v1/admin/control';

// ---- overview ---------------------------------------------------------------------------------

interface OverviewItem {
  tenant_id: string;
  display_name: string;
  status: string;
  tier: string;
  requests: number;
  errors: number;
  error_rate: number;
  p95_ms: number | null;
  outbox_backlog: number;
  dead_letters: number;
  /** Every alert firing for the tenant (the endpoint counts them all, not a page of them). */
  firing_alerts: number;
  quota: { operations_used: number; operations_limit: number; ratio: number } | null;
}
interface OverviewPage {
  items: OverviewItem[];
  total: number;
  next_cursor: string | null;
  generated_at: string;
}
interface Alert {
  alert_id: string;
  rule: string;
  tenant_id: string | null;
  severity: string;
  state: 'firing' | 'resolved';
  fired_at: string;
  resolved_at: string | null;
  runbook_url: string | null;
  console_url: string;
  numbers?: Record<string, unknown>;
  resolved_numbers?: Record<string, unknown> | null;
}

/** The alerts the service evaluated (GET /v1/admin/control/alerts: docs/alerting.md). */
const alerts = (query: Record<string, string | undefined>): Promise<{ items: Alert[]; next_cursor: string | null }> => get<{ items: Alert[]; next_cursor: string | null }>(`${A}/alerts`, query);

const state = { q: '', status: '', tier: '', attention: '', sort: 'tenant_id', order: 'asc', cursors: [] as string[], cursor: '' };

export async function overviewPage(main: HTMLElement): Promise<void> {
  const page = await get<OverviewPage>(`${A}/overview/tenants`, { q: state.q || undefined, status: state.status || undefined, tier: state.tier || undefined, attention: state.attention || undefined, sort: state.sort, order: state.order, limit: '50', cursor: state.cursor || undefined });
  const reload = () => void overviewPage(main).catch((e: unknown) => replace(main, errorBox(e)));
  const q = h('input', { name: 'q', value: state.q, placeholder: 'tenant id or name' });
  const select = (name: string, value: string, options: string[]) => h('select', { name }, options.map((o) => h('option', { value: o, selected: o === value }, o || 'any')));
  const status = select('status', state.status, ['', 'active', 'suspended']);
  const tier = select('tier', state.tier, ['', 'starter', 'growth', 'enterprise']);
  const attention = h('input', { type: 'checkbox', name: 'attention', checked: state.attention === 'true' });
  const filters = h(
    'form',
    {
      class: 'filters',
      'data-testid': 'overview-filters',
      onsubmit: (e: Event) => {
        e.preventDefault();
        Object.assign(state, { q: q.value.trim(), status: status.value, tier: tier.value, attention: attention.checked ? 'true' : '', cursor: '', cursors: [] });
        reload();
      },
    },
    h('label', {}, 'Search', q),
    h('label', {}, 'Status', status),
    h('label', {}, 'Tier', tier),
    h('label', {}, 'Needs attention', attention),
    h('button', { type: 'submit' }, 'Apply'),
  );
  const sortButton = (label: string, key: string) =>
    h(
      'button',
      {
        type: 'button',
        class: 'sort',
        'data-sort': key,
        onclick: () => {
          state.order = state.sort === key ? (state.order === 'asc' ? 'desc' : 'asc') : key === 'tenant_id' ? 'asc' : 'desc';
          state.sort = key;
          state.cursor = '';
          state.cursors = [];
          reload();
        },
      },
      label + (state.sort === key ? (state.order === 'asc' ? ' ▲' : ' ▼') : ''),
    );
  const rows = page.items.map((t): Child[] => [
    h('a', { href: `#/tenants/${t.tenant_id}`, 'data-testid': 'tenant-link' }, t.tenant_id),
    h('span', { class: t.status === 'active' ? 'pill ok' : 'pill bad' }, t.status),
    t.tier,
    fmtInt(t.requests),
    h('span', { class: t.error_rate > 0.01 ? 'bad' : t.error_rate > 0 ? 'warn' : '' }, fmtPct(t.error_rate)),
    fmtMs(t.p95_ms),
    t.quota ? fmtPct(t.quota.ratio, 1) : '–',
    fmtInt(t.outbox_backlog),
    h('span', { class: t.dead_letters > 0 ? 'bad' : '' }, fmtInt(t.dead_letters)),
    h('span', { class: t.firing_alerts > 0 ? 'bad' : '', 'data-testid': 'firing-alerts' }, fmtInt(t.firing_alerts)),
  ]);
  const pager = h(
    'div',
    { class: 'pager' },
    h('button', { type: 'button', disabled: state.cursors.length === 0, onclick: () => ((state.cursor = state.cursors.pop() ?? ''), reload()) }, '← Previous'),
    h('span', { class: 'muted' }, `${page.total.toLocaleString('en-US')} tenants match`),
    h('button', { type: 'button', 'data-testid': 'next-page', disabled: page.next_cursor === null, onclick: () => (state.cursors.push(state.cursor), (state.cursor = page.next_cursor ?? ''), reload()) }, 'Next →'),
  );
  replace(
    main,
    h('h1', {}, 'Overview'),
    h('p', { class: 'muted' }, `Last hour of memory API traffic per tenant · generated ${fmtTime(page.generated_at)}`),
    filters,
    page.items.length === 0
      ? empty('No tenants match these filters.')
      : table(
          [sortButton('Tenant', 'tenant_id'), 'Status', 'Tier', sortButton('Requests (1 h)', 'requests'), sortButton('Error rate', 'error_rate'), sortButton('p95', 'p95_ms'), 'Quota use', sortButton('Outbox backlog', 'outbox_backlog'), sortButton('Dead letters', 'dead_letters'), sortButton('Firing alerts', 'firing_alerts')],
          rows,
          { numeric: [3, 4, 5, 6, 7, 8, 9], testid: 'overview-table' },
        ),
    pager,
  );
}

// ---- tenant ---------------------------------------------------------------------------------

interface Bucket {
  start: string;
  requests: number;
  status: Record<'2xx' | '4xx' | '429' | '5xx', number>;
  error_rate: number;
  latency_ms: { p50: number | string | null; p95: number | string | null; p99: number | string | null };
  error_budget_burn: number;
  outbox_backlog: number;
}
interface BurnBucket {
  start: string;
  availability: { burn: number };
  latency: { burn: number };
}
interface SloBurn {
  targets: { availability_target: number; latency_threshold_ms: number; latency_target: number };
  summary: { availability: { burn: number; budget_consumed: number }; latency: { burn: number; budget_consumed: number } };
  buckets: BurnBucket[];
}
interface Dashboard {
  tenant_id: string;
  status: string | null;
  tier: string;
  slo_target: number;
  keys: { active: number; revoked: number };
  quota: { period: string; operations: { used: number; limit: number }; stored_nodes: { used: number; limit: number } };
  outbox: { pending: number; retrying: number; processing: number; dead_letter: number };
  memory: { nodes: number; edges: number; commits: number };
}
interface AuditEntry {
  event_id: string;
  position: string;
  type: string;
  tenant_id: string | null;
  actor: { type: string; id: string; display?: string };
  occurred_at: string;
  request_id: string | null;
  resource: { type: string | null; id: string | null };
  data: Record<string, unknown>;
}

let tenantWindow: '1h' | '24h' | '7d' | '30d' = '24h';
const ms = (v: number | string | null): number | null => (v === null ? null : typeof v === 'string' ? 5001 : v);

export async function tenantPage(main: HTMLElement, tenantId: string): Promise<void> {
  const t = encodeURIComponent(tenantId);
  const bucket = tenantWindow === '1h' ? 'minute' : 'hour';
  const [d, series, burn, keys, projects, audit] = await Promise.all([
    get<Dashboard>(`${A}/dashboard/tenants/${t}`),
    get<{ buckets: Bucket[]; bucket: string; slo_target: number }>(`${A}/dashboard/tenants/${t}/timeseries`, { window: tenantWindow, bucket }),
    get<SloBurn>(`${A}/tenants/${t}/slo/burn`, { window: tenantWindow, bucket }),
    get<{ items: { key_id: string; label: string | null; status: string; project_id: string | null; created_at: string }[] }>(`${A}/api-keys`, { tenant_id: tenantId, limit: '50' }),
    get<{ items: { project_id: string; display_name?: string; status: string }[] }>(`${A}/projects`, { tenant_id: tenantId, limit: '50' }),
    recentAudit(tenantId),
  ]);
  const b = series.buckets;
  const pts = (f: (x: Bucket) => number | null) => b.map((x) => ({ t: x.start, v: f(x) }));
  const windows = h(
    'div',
    { class: 'toolbar window', 'data-testid': 'windows' },
    (['1h', '24h', '7d', '30d'] as const).map((w) =>
      h('button', { type: 'button', class: w === tenantWindow ? 'active' : null, onclick: () => ((tenantWindow = w), void tenantPage(main, tenantId).catch((e: unknown) => replace(main, errorBox(e)))) }, w),
    ),
  );
  const o = d.outbox;
  const recent = audit.slice(-20).reverse();
  replace(
    main,
    h('p', {}, h('a', { href: '#/overview' }, '← Overview')),
    h('h1', {}, `Tenant ${tenantId}`),
    h(
      'div',
      { class: 'stats' },
      stat('Status', d.status ?? '–'),
      stat('Tier', `${d.tier} (SLO ${(d.slo_target * 100).toFixed(1)}%)`),
      stat('Operations this month', `${fmtInt(d.quota.operations.used)} / ${fmtInt(d.quota.operations.limit)}`),
      stat('Stored nodes', `${fmtInt(d.quota.stored_nodes.used)} / ${fmtInt(d.quota.stored_nodes.limit)}`),
      stat('Outbox backlog', fmtInt(o.pending + o.retrying + o.processing)),
      stat('Dead letters', fmtInt(o.dead_letter)),
      stat('Keys', `${d.keys.active} active, ${d.keys.revoked} revoked`),
    ),
    windows,
    h(
      'div',
      { class: 'cards', 'data-testid': 'charts' },
      lineChart('Requests by status class', [
        { label: '2xx', points: pts((x) => x.status['2xx']) },
        { label: '4xx', points: pts((x) => x.status['4xx']) },
        { label: '429', points: pts((x) => x.status['429']) },
        { label: '5xx', points: pts((x) => x.status['5xx']) },
      ], { testid: 'chart-requests', integer: true }),
      lineChart('Error rate', [{ label: 'error rate (5xx + 429)', points: pts((x) => x.error_rate) }], { unit: (v) => `${(v * 100).toFixed(1)}%`, testid: 'chart-errors' }),
      lineChart('Latency (histogram bucket bounds)', [
        { label: 'p50', points: pts((x) => ms(x.latency_ms.p50)) },
        { label: 'p95', points: pts((x) => ms(x.latency_ms.p95)) },
        { label: 'p99', points: pts((x) => ms(x.latency_ms.p99)) },
      ], { unit: (v) => `${Math.round(v)} ms`, testid: 'chart-latency' }),
      lineChart('Outbox backlog (jobs open at the end of each bucket)', [{ label: 'backlog', points: pts((x) => x.outbox_backlog) }], { unit: (v) => fmtInt(v), testid: 'chart-backlog', integer: true }),
      lineChart(
        `Error-budget burn (1 = spending exactly the budget; SLO ${(burn.targets.availability_target * 100).toFixed(2)}% available, ${(burn.targets.latency_target * 100).toFixed(1)}% within ${burn.targets.latency_threshold_ms} ms)`,
        [
          { label: 'availability burn', points: burn.buckets.map((x) => ({ t: x.start, v: x.availability.burn })) },
          { label: 'latency burn', points: burn.buckets.map((x) => ({ t: x.start, v: x.latency.burn })) },
        ],
        { testid: 'chart-burn' },
      ),
    ),
    h(
      'p',
      { class: 'muted', 'data-testid': 'budget-consumed' },
      `Over this window: ${(burn.summary.availability.budget_consumed * 100).toFixed(2)}% of the 30-day availability budget and ${(burn.summary.latency.budget_consumed * 100).toFixed(2)}% of the latency budget consumed. Outbox now: ${o.pending} pending, ${o.retrying} retrying, ${o.processing} processing, ${o.dead_letter} dead letters.`,
    ),
    h('h2', {}, 'Projects'),
    projects.items.length === 0 ? empty('No projects.') : table(['Project', 'Status'], projects.items.map((p) => [p.project_id, p.status])),
    h('h2', {}, 'API keys'),
    keys.items.length === 0 ? empty('No keys.') : table(['Key', 'Label', 'Project', 'Status', 'Created'], keys.items.map((k) => [k.key_id, k.label ?? '', k.project_id ?? '', k.status, fmtTime(k.created_at)])),
    h('h2', {}, 'Recent audit events'),
    recent.length === 0 ? empty('No audit events in the last 7 days.') : auditTable(recent),
  );
}

/** The tenant's latest audit events (the trail is in commit order: walk the last 7 days' pages, keep the tail). */
async function recentAudit(tenantId: string): Promise<AuditEntry[]> {
  let tail: AuditEntry[] = [];
  let cursor: string | undefined;
  const from = new Date(Date.now() - 7 * 86_400_000).toISOString();
  for (let i = 0; i < 20; i++) {
    const page = await get<{ items: AuditEntry[]; next_cursor: string | null }>(`${A}/audit-events`, { tenant_id: tenantId, from, limit: '1000', cursor });
    tail = [...tail, ...page.items].slice(-20);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return tail;
}

const stat = (label: string, value: string): HTMLElement => h('div', { class: 'stat' }, h('span', { class: 'muted' }, label), h('b', {}, value));

function auditTable(items: AuditEntry[]): HTMLElement {
  return table(
    ['When', 'Event', 'Tenant', 'Actor', 'Resource', 'Request'],
    items.map((e) => [fmtTime(e.occurred_at), h('code', {}, e.type), e.tenant_id ?? '–', `${e.actor.type}:${e.actor.id}`, `${e.resource.type ?? ''}/${e.resource.id ?? ''}`, h('span', { class: 'muted' }, e.request_id ?? '')]),
    { testid: 'audit-table' },
  );
}

// ---- dead letters -----------------------------------------------------------------------------

interface DeadLetter {
  job_id: string;
  tenant_id: string;
  project_id: string | null;
  type: string;
  attempts: number;
  last_error: string | null;
  scope: string;
  node_count: number;
  created_at: string;
  dead_lettered_at: string;
}
interface Operation {
  dry_run: boolean;
  matched: number;
  affected: number;
  job_ids: string[];
  event_id: string | null;
}

export async function deadLettersPage(main: HTMLElement, write: boolean): Promise<void> {
  const tenant = h('input', { name: 'tenant_id', placeholder: 'tenant id', value: dlTenant });
  const list = await get<{ items: DeadLetter[]; counts_by_tenant: Record<string, number>; next_cursor: string | null }>(`${A}/dead-letters`, { tenant_id: dlTenant || undefined, limit: '100' });
  const result = h('div', { 'data-testid': 'dl-result' });
  const reason = h('input', { name: 'reason', placeholder: 'why (required, recorded in the audit trail)', size: 50, 'data-testid': 'dl-reason' });
  const checks = list.items.map((d) => h('input', { type: 'checkbox', value: d.job_id, 'aria-label': `select ${d.job_id}` }));
  let dryRunFor = '';
  const selection = () => {
    const ids = checks.filter((c) => c.checked).map((c) => c.value);
    return ids.length > 0 ? { ids } : dlTenant ? { tenant_id: dlTenant } : null;
  };
  const key = () => JSON.stringify([selection(), reason.value.trim()]);
  const act = async (kind: 'replay' | 'discard', dry: boolean) => {
    const sel = selection();
    if (!sel) return replace(result, h('div', { class: 'error' }, 'Select dead letters, or filter by a tenant first.'));
    if (reason.value.trim() === '') return replace(result, h('div', { class: 'error' }, 'A reason is required.'));
    try {
      const r = await call<Operation>(`${A}/dead-letters/${kind}`, { method: 'POST', body: { ...sel, reason: reason.value.trim(), dry_run: dry } });
      if (dry) {
        dryRunFor = key();
        replayBtn?.removeAttribute('disabled');
        discardBtn?.removeAttribute('disabled');
        replace(result, h('div', { class: 'notice', 'data-testid': 'dl-dry-run' }, `Dry run: ${r.body.matched} matched; ${r.body.job_ids.length} would be ${kind === 'replay' ? 'replayed' : 'discarded'}. Nothing changed yet.`));
        return;
      }
      const events = r.requestId ? await get<{ items: AuditEntry[] }>(`${A}/audit-events`, { request_id: r.requestId }) : { items: [] };
      replace(
        result,
        h('div', { class: 'notice', 'data-testid': 'dl-done' }, `${kind === 'replay' ? 'Replayed' : 'Discarded'} ${r.body.affected} of ${r.body.matched} matched (request ${r.requestId ?? '?'}). Resulting events:`),
        events.items.length === 0 ? empty('No events recorded.') : auditTable(events.items),
      );
      dryRunFor = '';
      const reloadBtn = h('button', { type: 'button', onclick: () => void deadLettersPage(main, write) }, 'Refresh list');
      result.appendChild(reloadBtn);
    } catch (err) {
      replace(result, errorBox(err));
    }
  };
  const guard = () => {
    if (dryRunFor !== key()) {
      replayBtn?.setAttribute('disabled', '');
      discardBtn?.setAttribute('disabled', '');
    }
  };
  reason.addEventListener('input', guard);
  for (const c of checks) c.addEventListener('change', guard);
  const replayBtn = write ? h('button', { type: 'button', class: 'primary', disabled: true, 'data-testid': 'dl-replay', onclick: () => void act('replay', false) }, 'Replay') : null;
  const discardBtn = write ? h('button', { type: 'button', class: 'danger', disabled: true, 'data-testid': 'dl-discard', onclick: () => void act('discard', false) }, 'Discard') : null;
  replace(
    main,
    h('h1', {}, 'Dead letters'),
    h(
      'form',
      { class: 'filters', onsubmit: (e: Event) => ((e.preventDefault(), (dlTenant = tenant.value.trim())), void deadLettersPage(main, write)) },
      h('label', {}, 'Tenant', tenant),
      h('button', { type: 'submit' }, 'Filter'),
    ),
    h('p', { class: 'muted', 'data-testid': 'dl-counts', 'data-tenant': dlTenant }, `By tenant: ${Object.entries(list.counts_by_tenant).map(([t, n]) => `${t} ${n}`).join(', ') || 'none'}`),
    list.items.length === 0
      ? empty('No dead letters.', 'dl-empty')
      : table(
          [write ? 'Select' : '', 'Job', 'Tenant', 'Project', 'Scope', 'Type', 'Nodes', 'Attempts', 'Last error', 'Dead since'],
          list.items.map((d, i) => [write ? checks[i]! : '', h('code', {}, d.job_id.slice(0, 8)), d.tenant_id, d.project_id ?? '', d.scope, d.type, String(d.node_count), String(d.attempts), h('span', { class: 'muted' }, d.last_error ?? ''), fmtTime(d.dead_lettered_at)]),
          { testid: 'dl-table' },
        ),
    write
      ? h(
          'div',
          { class: 'toolbar', 'data-testid': 'dl-actions' },
          h('label', {}, 'Reason', reason),
          h('button', { type: 'button', 'data-testid': 'dl-dry-replay', onclick: () => void act('replay', true) }, 'Dry run: replay'),
          h('button', { type: 'button', 'data-testid': 'dl-dry-discard', onclick: () => void act('discard', true) }, 'Dry run: discard'),
          replayBtn,
          discardBtn,
        )
      : h('p', { class: 'muted', 'data-testid': 'read-only' }, 'Your role (auditor) may look but not change anything.'),
    result,
  );
}
let dlTenant = '';

// ---- projections ------------------------------------------------------------------------------

export async function projectionsPage(main: HTMLElement): Promise<void> {
  const s = await get<{
    projections: { projection: string; ok: boolean; state: string; reason: string | null; lag_events: number | null; lag_ms: number | null; parked_events: number; parked_streams: number }[];
    rebuilds: { rebuild_id: string; projection: string; status: string; events_read: number; events_applied: number; started_at: string; finished_at: string | null; started_by: string }[];
  }>('/v1/admin/ops/projections');
  replace(
    main,
    h('h1', {}, 'Projections'),
    table(
      ['Read model', 'Health', 'State', 'Lag (events)', 'Lag (ms)', 'Parked events', 'Parked streams', 'Why'],
      s.projections.map((p) => [p.projection, h('span', { class: p.ok ? 'pill ok' : 'pill bad' }, p.ok ? 'ok' : 'not ok'), p.state, fmtInt(p.lag_events), fmtInt(p.lag_ms), h('span', { class: p.parked_events > 0 ? 'bad' : '' }, fmtInt(p.parked_events)), fmtInt(p.parked_streams), p.reason ?? '']),
      { numeric: [3, 4, 5, 6], testid: 'projections-table' },
    ),
    h('h2', {}, 'Rebuilds'),
    s.rebuilds.length === 0
      ? empty('No rebuilds have run. Start one with npm run projections:rebuild (docs/operations.md).')
      : table(['Projection', 'Status', 'Events read', 'Applied', 'Started', 'Finished', 'By'], s.rebuilds.map((r) => [r.projection, r.status, fmtInt(r.events_read), fmtInt(r.events_applied), fmtTime(r.started_at), fmtTime(r.finished_at), r.started_by])),
  );
}

// ---- audit ------------------------------------------------------------------------------------

const auditFilter: Record<string, string> = { tenant_id: '', actor_id: '', type: '', resource_type: '', from: '', to: '' };
let auditCursors: string[] = [];
let auditCursor = '';

export async function auditPage(main: HTMLElement): Promise<void> {
  const query = () => Object.fromEntries(Object.entries(auditFilter).map(([k, v]) => [k, v || undefined]));
  const page = await get<{ items: AuditEntry[]; next_cursor: string | null }>(`${A}/audit-events`, { ...query(), limit: '50', cursor: auditCursor || undefined });
  const inputs = Object.keys(auditFilter).map((k) =>
    k === 'resource_type'
      ? h('select', { name: k }, ['', ...AUDIT_RESOURCE_TYPES].map((o) => h('option', { value: o, selected: o === auditFilter[k] }, o || 'any')))
      : h('input', { name: k, value: auditFilter[k] ?? '', placeholder: k === 'from' || k === 'to' ? '2026-01-01T00:00:00Z' : k === 'type' ? 'TenantCreated,…' : '' }),
  );
  const reload = () => void auditPage(main).catch((e: unknown) => replace(main, errorBox(e)));
  const exportBtn = h(
    'button',
    {
      type: 'button',
      'data-testid': 'audit-export',
      onclick: () =>
        void call<string>(`${A}/audit-events`, { accept: 'application/x-ndjson', query: query() }).then((r) => {
          const url = URL.createObjectURL(new Blob([r.body], { type: 'application/x-ndjson' }));
          const a = h('a', { href: url, download: `audit-${new Date().toISOString().slice(0, 19).replace(/:/g, '')}.ndjson` });
          document.body.appendChild(a);
          a.click();
          a.remove();
          setTimeout(() => URL.revokeObjectURL(url), 10_000);
        }),
    },
    'Export NDJSON',
  );
  replace(
    main,
    h('h1', {}, 'Audit trail'),
    h(
      'form',
      {
        class: 'filters',
        'data-testid': 'audit-filters',
        onsubmit: (e: Event) => {
          e.preventDefault();
          inputs.forEach((el, i) => (auditFilter[Object.keys(auditFilter)[i]!] = (el as HTMLInputElement).value.trim()));
          auditCursor = '';
          auditCursors = [];
          reload();
        },
      },
      Object.keys(auditFilter).map((k, i) => h('label', {}, k, inputs[i]!)),
      h('button', { type: 'submit' }, 'Apply'),
      exportBtn,
    ),
    page.items.length === 0 ? empty('No events match.') : auditTable(page.items),
    h(
      'div',
      { class: 'pager' },
      h('button', { type: 'button', disabled: auditCursors.length === 0, onclick: () => ((auditCursor = auditCursors.pop() ?? ''), reload()) }, '← Previous'),
      h('button', { type: 'button', 'data-testid': 'audit-next', disabled: page.next_cursor === null, onclick: () => (auditCursors.push(auditCursor), (auditCursor = page.next_cursor ?? ''), reload()) }, 'Next →'),
    ),
  );
}

// ---- governance -------------------------------------------------------------------------------

interface Report {
  id: string;
  week?: string;
  status?: string;
  archived_at?: string;
  files?: { path: string; bytes?: number }[];
  [k: string]: unknown;
}

export async function governancePage(main: HTMLElement): Promise<void> {
  const [reports, release, controls] = await Promise.all([
    get<{ items: Report[] }>(`${A}/governance/reports`, { limit: '20' }),
    get<{ items: { id: string; kind: string; labels: Record<string, string>; archived_at: string; actor: string; files: { path: string }[] }[] }>(`${A}/evidence`, { kind: 'release', limit: '20' }),
    get<{ controls: { id: string; title: string; category: string; status: string; frameworks: { framework: string; id: string }[] }[]; summary: Record<string, number> }>(`${A}/compliance/controls`),
  ]);
  const viewer = h('div', { 'data-testid': 'report-view' });
  const show = async (r: Report) => {
    const md = (await call<string>(`${A}/governance/reports/${r.id}`, { query: { format: 'markdown' }, accept: 'text/markdown' })).body;
    replace(
      viewer,
      h('h2', {}, `Weekly report ${r.week ?? ''}`),
      h('p', {}, 'Files: ', (r.files ?? []).map((f) => [h('a', { href: `${A}/governance/reports/${r.id}/files/${encodeURIComponent(f.path)}`, download: f.path.split('/').at(-1) ?? f.path }, f.path), ' '])),
      renderMarkdown(md),
    );
  };
  replace(
    main,
    h('h1', {}, 'Gates and evidence'),
    h('h2', {}, 'Weekly governance reports'),
    reports.items.length === 0
      ? empty('No weekly report yet (the worker runs it on its schedule; operators can run one: POST /v1/admin/control/governance/reports).')
      : table(['Week', 'Status', 'Archived', ''], reports.items.map((r) => [r.week ?? '', statusPill(r.status ?? ''), fmtTime(r.archived_at), h('button', { type: 'button', 'data-testid': 'show-report', onclick: () => void show(r).catch((e: unknown) => replace(viewer, errorBox(e))) }, 'Show')]), { testid: 'reports-table' }),
    viewer,
    h('h2', {}, 'Gate runs and release decisions (release evidence)'),
    release.items.length === 0
      ? empty('No release evidence archived yet (npm run release:gate, npm run audit:decision).')
      : table(['Archived', 'Labels', 'Files', 'By'], release.items.map((b) => [fmtTime(b.archived_at), Object.entries(b.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(', '), String(b.files?.length ?? 0), b.actor])),
    h('h2', {}, 'Compliance controls'),
    h('p', { class: 'muted' }, Object.entries(controls.summary).map(([k, v]) => `${k}: ${v}`).join(' · ')),
    controls.controls.length === 0
      ? empty('No controls mapped.')
      : table(['Control', 'Category', 'Frameworks', 'Status'], controls.controls.map((c) => [`${c.id} — ${c.title}`, c.category, c.frameworks.map((f) => `${f.framework}:${f.id}`).join(', '), statusPill(c.status)]), { testid: 'controls-table' }),
  );
}

const statusPill = (s: string): HTMLElement => h('span', { class: /^(ok|pass|passed|satisfied|green)$/.test(s) ? 'pill ok' : /fail|stale|red|no_evidence/.test(s) ? 'pill bad' : 'pill' }, s);

// ---- alerts -----------------------------------------------------------------------------------

const runbookLink = (a: Alert): Child => (a.runbook_url ? h('a', { href: a.runbook_url, target: '_blank', rel: 'noopener noreferrer', 'data-testid': 'runbook-link' }, 'runbook') : '–');

export async function alertsPage(main: HTMLElement): Promise<void> {
  const [firing, resolved] = await Promise.all([alerts({ state: 'firing' }), alerts({ state: 'resolved' })]);
  const rows = (items: Alert[], testid: string) =>
    table(
      ['Rule', 'Tenant', 'Severity', 'State', 'Fired', 'Resolved', 'Numbers', 'Runbook', 'Alert'],
      items.map((a) => [
        a.rule,
        a.tenant_id ? h('a', { href: `#/tenants/${a.tenant_id}` }, a.tenant_id) : 'platform',
        h('span', { class: a.severity === 'page' || a.severity === 'critical' ? 'pill bad' : 'pill' }, a.severity),
        a.state,
        fmtTime(a.fired_at),
        fmtTime(a.resolved_at),
        h('code', {}, JSON.stringify(a.numbers ?? {})),
        runbookLink(a),
        // The alert's own page, the one its console_url (in every delivery) opens.
        h('a', { href: `#/alerts/${a.alert_id}`, 'data-testid': 'alert-link', 'data-alert-id': a.alert_id }, 'details'),
      ]),
      { testid },
    );
  replace(
    main,
    h('h1', {}, 'Alerts'),
    h('h2', {}, 'Firing'),
    firing.items.length === 0 ? empty('Nothing is firing.', 'alerts-none-firing') : rows(firing.items, 'alerts-firing'),
    h('h2', {}, 'Resolved'),
    resolved.items.length === 0 ? empty('No resolved alerts.') : rows(resolved.items, 'alerts-resolved'),
  );
}

/** An alert's numbers, one per row (the SLO's target, the factor, each window's requests, bad ones and burn rate, ...). */
const numbersTable = (numbers: Record<string, unknown>, testid: string): HTMLElement =>
  h('table', { class: 'numbers', 'data-testid': testid }, h('tbody', {}, ...Object.entries(numbers).map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v === null ? '–' : String(v))))));

/** One alert (GET /v1/admin/control/alerts/:alert_id): what a delivery's console_url opens. */
export async function alertPage(main: HTMLElement, alertId: string): Promise<void> {
  const a = await get<Alert>(`${A}/alerts/${alertId}`);
  const field = (name: string, value: Child) => [h('dt', {}, name), h('dd', {}, value)];
  replace(
    main,
    h('h1', {}, `Alert ${a.rule}`),
    h(
      'dl',
      { 'data-testid': 'alert-detail', 'data-state': a.state },
      ...field('Rule', a.rule),
      ...field('Tenant', a.tenant_id ? h('a', { href: `#/tenants/${a.tenant_id}` }, a.tenant_id) : 'platform'),
      ...field('Severity', a.severity),
      ...field('State', h('span', { class: a.state === 'firing' ? 'pill bad' : 'pill ok', 'data-testid': 'alert-state' }, a.state)),
      ...field('Fired', fmtTime(a.fired_at)),
      ...field('Resolved', fmtTime(a.resolved_at)),
      ...field('Numbers when fired', numbersTable(a.numbers ?? {}, 'numbers-fired')),
      ...field('Numbers when resolved', a.resolved_numbers ? numbersTable(a.resolved_numbers, 'numbers-resolved') : '–'),
      ...field('Runbook', runbookLink(a)),
    ),
    h('p', {}, h('a', { href: '#/alerts' }, '← All alerts')),
  );
}
