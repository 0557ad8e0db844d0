import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { API_KEY_EVENT_TYPES } from '../../control-plane/api-keys/api-key.domain';
import { OPERATOR_EVENT_TYPES, OWNER_ROSTER_EVENT_TYPES } from '../../control-plane/operators/operator.domain';
import { SESSION_EVENT_TYPES } from '../../control-plane/operators/session.domain';
import { PROJECT_EVENT_TYPES } from '../../control-plane/projects/project.domain';
import { QUOTA_EVENT_TYPES } from '../../control-plane/quotas/quota.domain';
import { TENANT_EVENT_TYPES } from '../../control-plane/tenants/tenant.domain';
import { CROSS_TENANT_CHECKS } from '../../ops/checks/cross-tenant';
import { HEALTH_CHECKS } from '../../ops/checks/health';
import { SCOPE_CHECKS } from '../../ops/checks/scope';
import { projectRoot } from '../../platform/build-info';
import { parseIsoWeek } from '../reports/iso-week';
import { buildWeeklyReport } from '../reports/weekly-report';
import { DRILL_EVENT_TYPE } from './drills';

/**
 * The compliance control mapping (docs/compliance.md): `compliance/controls.v1.json` maps SOC 2
 * criteria and ISO/IEC 27001:2022 Annex A controls to evidence this system produces. Loading it
 * validates the shape (zod) and every reference against the code (event types, gates and their
 * check names, weekly-report checks, bundle kinds), and fails listing every problem at once.
 */
export const MAPPING_FILE = 'compliance/controls.v1.json';

export const CATEGORIES = ['access_control', 'key_management', 'change_management', 'logging_monitoring', 'incident_response', 'backup_recovery'] as const;
export type Category = (typeof CATEGORIES)[number];
/** The id prefix of each category's controls (`AC-01`, `KM-03`, ...). */
export const CATEGORY_PREFIX: Readonly<Record<Category, string>> = {
  access_control: 'AC',
  key_management: 'KM',
  change_management: 'CM',
  logging_monitoring: 'LM',
  incident_response: 'IR',
  backup_recovery: 'BR',
};

export const FRAMEWORKS = ['soc2', 'iso27001'] as const;
export type Framework = (typeof FRAMEWORKS)[number];

/** Gates that record a GateRunRecorded event (`gate` field) when they run against a database. */
export const RECORDED_GATES = ['health', 'cross_tenant', 'scope', 'preflight', 'core_prod'] as const;
export type RecordedGate = (typeof RECORDED_GATES)[number];

/** The check names each gate can report, from the exported check lists (gates without one are mapped whole). */
export function gateCheckNames(gate: RecordedGate): readonly string[] | null {
  switch (gate) {
    case 'health':
      // The health gate runs its own checks, then a consistency set (scope by default, or cross_tenant, or both).
      return [...HEALTH_CHECKS, ...SCOPE_CHECKS, ...CROSS_TENANT_CHECKS];
    case 'scope':
      return SCOPE_CHECKS;
    case 'cross_tenant':
      return CROSS_TENANT_CHECKS;
    case 'preflight':
    case 'core_prod':
      return null;
  }
}

/** Event types written outside the control-plane deciders that a control may cite. */
export const OPERATIONAL_EVENT_TYPES = [
  'AdminActionDenied',
  'OutboxJobsReplayed',
  'OutboxJobsDiscarded',
  'ProjectionRebuildSwapped',
  'ProjectionDeadLettersReplayed',
  'PreflightProbeRecorded',
  'RuleStateChanged',
  DRILL_EVENT_TYPE,
] as const;

/** Every event type an `event_type` evidence source may name. */
export function knownEventTypes(): ReadonlySet<string> {
  return new Set<string>([...API_KEY_EVENT_TYPES, ...OPERATOR_EVENT_TYPES, ...OWNER_ROSTER_EVENT_TYPES, ...SESSION_EVENT_TYPES, ...TENANT_EVENT_TYPES, ...PROJECT_EVENT_TYPES, ...QUOTA_EVENT_TYPES, ...OPERATIONAL_EVENT_TYPES]);
}

let weeklyChecks: readonly string[] | undefined;
/** The check names of the governance weekly report, taken from the report builder itself. */
export function weeklyReportCheckNames(): readonly string[] {
  weeklyChecks ??= buildWeeklyReport({
    week: parseIsoWeek('2026-W01'),
    position: '0:0',
    rotationPolicyDays: 90,
    events: [],
    chain: { events: 0, breaks: [] },
    seals: null,
    outboxDeadLetters: [],
    propagation: [],
    lagIncidents: [],
    policy: [],
  }).checks.map((c) => c.name);
  return weeklyChecks;
}

/** Evidence kinds an archived bundle may be cited as (compliance bundles are this feature's own output). */
export const EVIDENCE_BUNDLE_KINDS = ['governance-weekly', 'release'] as const;

const MaxAge = z.number().int().min(1).max(3650);
const RUNBOOK = /^runbooks\/[a-z0-9][a-z0-9-]*\.md$/;

const EvidenceSourceSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('event_type'), type: z.string().regex(/^[A-Z][A-Za-z]+$/, 'an event type such as ApiKeyRotated'), max_age_days: MaxAge }),
  z.strictObject({ kind: z.literal('gate'), gate: z.enum(RECORDED_GATES), check: z.string().regex(/^[a-z][a-z0-9_]*$/).optional(), max_age_days: MaxAge }),
  z.strictObject({ kind: z.literal('weekly_report_check'), check: z.string().regex(/^[a-z][a-z0-9_]*$/), max_age_days: MaxAge }),
  z.strictObject({ kind: z.literal('bundle'), bundle_kind: z.enum(EVIDENCE_BUNDLE_KINDS), max_age_days: MaxAge }),
  z.strictObject({ kind: z.literal('runbook_drill'), runbook: z.string().regex(RUNBOOK, 'a runbook path such as runbooks/key-compromise.md'), max_age_days: MaxAge }),
]);
export type EvidenceSource = z.infer<typeof EvidenceSourceSchema>;
export type EvidenceKind = EvidenceSource['kind'];

const Catalogue = (idPattern: RegExp) =>
  z.strictObject({
    name: z.string().min(3).max(200),
    version: z.string().min(1).max(100),
    criteria: z.record(z.string().regex(idPattern), z.string().min(3).max(120)),
  });

const ControlSchema = z.strictObject({
  id: z.string().regex(/^[A-Z]{2}-\d{2}$/, 'an id such as AC-01'),
  title: z.string().min(5).max(120),
  category: z.enum(CATEGORIES),
  description: z.string().min(10).max(800),
  frameworks: z.strictObject({ soc2: z.array(z.string()), iso27001: z.array(z.string()) }),
  evidence: z.array(EvidenceSourceSchema).min(1),
});
export type ControlDefinition = z.infer<typeof ControlSchema>;

const MappingSchema = z.strictObject({
  $comment: z.string().optional(),
  version: z.literal(1),
  title: z.string().min(3).max(200),
  frameworks: z.strictObject({
    soc2: Catalogue(/^(CC\d\.\d{1,2}|A1\.\d|C1\.\d|PI1\.\d|P\d\.\d)$/),
    iso27001: Catalogue(/^A\.[5-8]\.\d{1,2}$/),
  }),
  controls: z.array(ControlSchema).min(15),
});
export type ComplianceMapping = z.infer<typeof MappingSchema>;

/** A stable key for one evidence source (its kind and parameters, not its age limit). */
export function sourceKey(s: EvidenceSource): string {
  switch (s.kind) {
    case 'event_type':
      return `event_type:${s.type}`;
    case 'gate':
      return `gate:${s.gate}${s.check ? `#${s.check}` : ''}`;
    case 'weekly_report_check':
      return `weekly_report_check:${s.check}`;
    case 'bundle':
      return `bundle:${s.bundle_kind}`;
    case 'runbook_drill':
      return `runbook_drill:${s.runbook}`;
  }
}

/** Problems the schema cannot see: references to the code, ids, coverage. */
export function referenceProblems(m: ComplianceMapping): string[] {
  const problems: string[] = [];
  const events = knownEventTypes();
  const weekly = new Set(weeklyReportCheckNames());
  const seen = new Set<string>();
  const usedRefs: Record<Framework, Set<string>> = { soc2: new Set(), iso27001: new Set() };
  for (const c of m.controls) {
    const at = `control ${c.id}`;
    if (seen.has(c.id)) problems.push(`${at}: duplicate control id`);
    seen.add(c.id);
    if (!c.id.startsWith(`${CATEGORY_PREFIX[c.category]}-`)) problems.push(`${at}: a ${c.category} control's id starts with ${CATEGORY_PREFIX[c.category]}-`);
    if (c.frameworks.soc2.length + c.frameworks.iso27001.length === 0) problems.push(`${at}: maps to no framework criterion`);
    for (const fw of FRAMEWORKS) {
      for (const ref of c.frameworks[fw]) {
        usedRefs[fw].add(ref);
        if (!(ref in m.frameworks[fw].criteria)) problems.push(`${at}: ${fw} criterion ${ref} is not in frameworks.${fw}.criteria`);
      }
      if (new Set(c.frameworks[fw]).size !== c.frameworks[fw].length) problems.push(`${at}: a ${fw} criterion is listed twice`);
    }
    const keys = new Set<string>();
    for (const s of c.evidence) {
      const key = sourceKey(s);
      if (keys.has(key)) problems.push(`${at}: evidence ${key} is listed twice`);
      keys.add(key);
      if (s.kind === 'event_type' && !events.has(s.type)) problems.push(`${at}: event type ${s.type} is not one this system writes`);
      if (s.kind === 'weekly_report_check' && !weekly.has(s.check)) problems.push(`${at}: ${s.check} is not a check of the governance weekly report (${[...weekly].join(', ')})`);
      if (s.kind === 'gate' && s.check !== undefined) {
        const names = gateCheckNames(s.gate);
        if (!names) problems.push(`${at}: gate ${s.gate} has no exported check list: map the whole gate (omit "check")`);
        else if (!names.includes(s.check)) problems.push(`${at}: ${s.check} is not a check the ${s.gate} gate reports`);
      }
    }
  }
  for (const fw of FRAMEWORKS) {
    for (const ref of Object.keys(m.frameworks[fw].criteria)) if (!usedRefs[fw].has(ref)) problems.push(`frameworks.${fw}.criteria.${ref}: listed but no control maps to it`);
  }
  for (const cat of CATEGORIES) if (!m.controls.some((c) => c.category === cat)) problems.push(`no control of category ${cat}`);
  return problems;
}

/** Validate a parsed mapping document: the mapping, or every problem found (schema and references). */
export function parseComplianceMapping(raw: unknown): { ok: true; mapping: ComplianceMapping } | { ok: false; problems: string[] } {
  const r = MappingSchema.safeParse(raw);
  if (!r.success) return { ok: false, problems: r.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`) };
  const problems = referenceProblems(r.data);
  return problems.length ? { ok: false, problems } : { ok: true, mapping: r.data };
}

export function mappingPath(): string {
  return join(projectRoot(), MAPPING_FILE);
}

const cache = new Map<string, ComplianceMapping>();

/** Load and validate the mapping file (cached per path). Throws listing every problem. */
export function loadComplianceMapping(path = mappingPath()): ComplianceMapping {
  const hit = cache.get(path);
  if (hit) return hit;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`compliance mapping ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const r = parseComplianceMapping(raw);
  if (!r.ok) throw new Error(`compliance mapping ${path} is invalid (${r.problems.length} problem(s)):\n  - ${r.problems.join('\n  - ')}`);
  cache.set(path, r.mapping);
  return r.mapping;
}

/** The runbooks the mapping asks drills of (what POST .../compliance/drills accepts). */
export function drillRunbooks(m: ComplianceMapping): string[] {
  return [...new Set(m.controls.flatMap((c) => c.evidence.flatMap((s) => (s.kind === 'runbook_drill' ? [s.runbook] : []))))].sort();
}
