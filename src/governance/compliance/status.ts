import type { ComplianceMapping, ControlDefinition, EvidenceSource, Framework } from './mapping';
import { FRAMEWORKS, sourceKey } from './mapping';

/**
 * Control statuses, a pure function of (the latest evidence of each source, the time "as of").
 * Per source: no evidence -> `no_evidence`; the latest evidence failed -> `failing` (however old);
 * older than max_age_days (whole days, floored) -> `stale`; else `satisfied`. Every source of a
 * control is required: the control takes its worst source, in the order
 * failing > no_evidence > stale > satisfied.
 */
export const STATUSES = ['satisfied', 'stale', 'failing', 'no_evidence'] as const;
export type ControlStatus = (typeof STATUSES)[number];

const SEVERITY: Readonly<Record<ControlStatus, number>> = { satisfied: 0, stale: 1, no_evidence: 2, failing: 3 };
const DAY = 86_400_000;

export interface LatestEvidence {
  /** When the evidence was produced (ISO-8601, the log's clock). */
  readonly at: string;
  /** Where it is: `event:<event id>`, `bundle:<kind>/<bundle id>`, `bundle:governance-weekly/<id>/report.json#<check>`. */
  readonly ref: string;
  readonly passed: boolean;
  /** One line for humans: what the evidence says. */
  readonly detail: string;
}

export interface EvaluatedSource {
  readonly source: EvidenceSource;
  readonly latest: LatestEvidence | null;
  readonly age_days: number | null;
  readonly status: ControlStatus;
}

export interface EvaluatedControl {
  readonly id: string;
  readonly title: string;
  readonly category: ControlDefinition['category'];
  readonly description: string;
  readonly frameworks: readonly { framework: Framework; id: string; title: string }[];
  readonly status: ControlStatus;
  readonly evidence: readonly EvaluatedSource[];
}

export type StatusSummary = Record<ControlStatus, number>;

/** Whole days from `at` to `asOf`, floored (never negative). */
export function ageDays(at: string, asOf: string): number {
  return Math.max(0, Math.floor((Date.parse(asOf) - Date.parse(at)) / DAY));
}

export function evaluateSource(source: EvidenceSource, latest: LatestEvidence | null, asOf: string): EvaluatedSource {
  if (!latest) return { source, latest: null, age_days: null, status: 'no_evidence' };
  const age = ageDays(latest.at, asOf);
  const status: ControlStatus = !latest.passed ? 'failing' : age > source.max_age_days ? 'stale' : 'satisfied';
  return { source, latest, age_days: age, status };
}

/** The worst of the sources' statuses (a control without sources has no evidence). */
export function controlStatus(statuses: readonly ControlStatus[]): ControlStatus {
  if (statuses.length === 0) return 'no_evidence';
  return statuses.reduce((worst, s) => (SEVERITY[s] > SEVERITY[worst] ? s : worst), 'satisfied' as ControlStatus);
}

export function evaluateControl(mapping: ComplianceMapping, control: ControlDefinition, latest: ReadonlyMap<string, LatestEvidence | null>, asOf: string): EvaluatedControl {
  const evidence = control.evidence.map((s) => evaluateSource(s, latest.get(sourceKey(s)) ?? null, asOf));
  return {
    id: control.id,
    title: control.title,
    category: control.category,
    description: control.description,
    frameworks: FRAMEWORKS.flatMap((fw) => control.frameworks[fw].map((id) => ({ framework: fw, id, title: mapping.frameworks[fw].criteria[id] ?? '' }))),
    status: controlStatus(evidence.map((e) => e.status)),
    evidence,
  };
}

export function summarize(controls: readonly { status: ControlStatus }[]): StatusSummary {
  const out: StatusSummary = { satisfied: 0, stale: 0, failing: 0, no_evidence: 0 };
  for (const c of controls) out[c.status]++;
  return out;
}
