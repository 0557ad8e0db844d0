import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { metricNamesIn } from './promql';

/** The shipped Prometheus rules and Grafana dashboard (deploy/), read for the tests. */
export const ROOT = join(__dirname, '../..');
export const ALERTS_FILE = 'deploy/prometheus/alerts.yml';
export const DASHBOARD_FILE = 'deploy/grafana/aionis-dashboard.json';

export interface Rule {
  readonly alert?: unknown;
  readonly record?: unknown;
  readonly expr?: unknown;
  readonly for?: unknown;
  readonly labels?: Record<string, unknown>;
  readonly annotations?: Record<string, unknown>;
  readonly [key: string]: unknown;
}

export interface RuleGroup {
  readonly name: unknown;
  readonly rules: readonly Rule[];
}

export function loadRuleGroups(): RuleGroup[] {
  const doc = parse(readFileSync(join(ROOT, ALERTS_FILE), 'utf8')) as { groups?: unknown };
  if (!Array.isArray(doc.groups)) throw new Error(`${ALERTS_FILE}: no groups list`);
  return doc.groups as RuleGroup[];
}

export interface DashboardPanel {
  readonly id?: unknown;
  readonly type?: unknown;
  readonly title?: unknown;
  readonly targets?: readonly { expr?: unknown; refId?: unknown }[];
  readonly panels?: readonly DashboardPanel[];
}

export function loadDashboard(): { uid?: unknown; title?: unknown; panels: DashboardPanel[]; templating?: { list?: { name?: unknown; type?: unknown }[] } } {
  return JSON.parse(readFileSync(join(ROOT, DASHBOARD_FILE), 'utf8')) as ReturnType<typeof loadDashboard>;
}

/** Every panel, rows' nested panels included. */
export const allPanels = (panels: readonly DashboardPanel[]): DashboardPanel[] => panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);

/** Every PromQL expression of the shipped files, with where it comes from. */
export function shippedExpressions(): { where: string; expr: string }[] {
  const rules = loadRuleGroups().flatMap((g) => g.rules.map((r) => ({ where: `${ALERTS_FILE}: ${String(r.alert ?? r.record)}`, expr: String(r.expr) })));
  const panels = allPanels(loadDashboard().panels).flatMap((p) => (p.targets ?? []).map((t) => ({ where: `${DASHBOARD_FILE}: ${String(p.title)} ${String(t.refId)}`, expr: String(t.expr) })));
  return [...rules, ...panels];
}

/** The metric names the shipped files read, minus the recording rules alerts.yml defines; each with the places that read it. */
export function referencedMetrics(): Map<string, string[]> {
  const recorded = new Set(loadRuleGroups().flatMap((g) => g.rules.map((r) => r.record).filter((x): x is string => typeof x === 'string')));
  const out = new Map<string, string[]>();
  for (const { where, expr } of shippedExpressions()) {
    for (const name of metricNamesIn(expr)) {
      if (recorded.has(name)) continue;
      out.set(name, [...(out.get(name) ?? []), where]);
    }
  }
  return out;
}
