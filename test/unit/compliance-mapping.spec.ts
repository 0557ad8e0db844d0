import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ControlsReport } from '../../src/governance/compliance/compliance';
import {
  CATEGORIES,
  type ComplianceMapping,
  type EvidenceSource,
  gateCheckNames,
  knownEventTypes,
  loadComplianceMapping,
  MAPPING_FILE,
  OPERATIONAL_EVENT_TYPES,
  parseComplianceMapping,
  RECORDED_GATES,
  sourceKey,
  weeklyReportCheckNames,
} from '../../src/governance/compliance/mapping';
import { buildAssessmentResults, uuidV5 } from '../../src/governance/compliance/oscal';
import { asOfFor, parsePeriod, periodBetween } from '../../src/governance/compliance/period';
import { controlStatus, evaluateControl, evaluateSource, type LatestEvidence, summarize } from '../../src/governance/compliance/status';

const ROOT = join(__dirname, '../..');
const raw = (): Record<string, unknown> & { controls: Record<string, unknown>[] } => JSON.parse(readFileSync(join(ROOT, MAPPING_FILE), 'utf8'));

/** Every .ts file under src/, for "does the code really write/record this" checks. */
function sourceFiles(dir = join(ROOT, 'src')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? sourceFiles(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []));
}

describe('the compliance control mapping (compliance/controls.v1.json)', () => {
  const mapping = loadComplianceMapping();
  const sources = mapping.controls.flatMap((c) => c.evidence);

  it('loads and validates: version 1, at least 15 controls, every one of the six areas covered', () => {
    expect(mapping.version).toBe(1);
    expect(mapping.controls.length).toBeGreaterThanOrEqual(15);
    for (const cat of CATEGORIES) expect(mapping.controls.filter((c) => c.category === cat).length).toBeGreaterThanOrEqual(2);
    expect(new Set(mapping.controls.map((c) => c.id)).size).toBe(mapping.controls.length);
  });

  it('maps every control to both SOC 2 and ISO/IEC 27001:2022 criteria that are in its catalogue', () => {
    for (const c of mapping.controls) {
      expect(c.frameworks.soc2.length).toBeGreaterThan(0);
      expect(c.frameworks.iso27001.length).toBeGreaterThan(0);
      for (const id of c.frameworks.soc2) expect(mapping.frameworks.soc2.criteria[id]).toBeDefined();
      for (const id of c.frameworks.iso27001) expect(mapping.frameworks.iso27001.criteria[id]).toBeDefined();
    }
  });

  it('every runbook a control asks a drill of exists in runbooks/', () => {
    const runbooks = sources.flatMap((s) => (s.kind === 'runbook_drill' ? [s.runbook] : []));
    expect(runbooks.length).toBeGreaterThan(0);
    for (const r of runbooks) expect(existsSync(join(ROOT, r))).toBe(true);
  });

  it('every event type is one the code writes', () => {
    const code = sourceFiles()
      .filter((f) => !f.includes(join('governance', 'compliance', 'mapping.ts')))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    for (const t of OPERATIONAL_EVENT_TYPES) expect(code).toMatch(new RegExp(`['"\`]${t}['"\`]`));
    for (const s of sources) if (s.kind === 'event_type') expect(knownEventTypes().has(s.type)).toBe(true);
  });

  it('every gate is one whose CLI records its run, and every gate check is in that gate exported check list', () => {
    const cli = sourceFiles(join(ROOT, 'src/ops/cli')).map((f) => readFileSync(f, 'utf8'));
    for (const gate of RECORDED_GATES) {
      const file = cli.find((text) => text.includes(`summarise('${gate}'`));
      expect({ gate, found: file !== undefined }).toEqual({ gate, found: true });
      expect(file).toContain('record:');
    }
    for (const s of sources) {
      if (s.kind !== 'gate' || !s.check) continue;
      expect(gateCheckNames(s.gate)).toContain(s.check);
    }
  });

  it('every weekly-report check is a check the weekly report builder produces', () => {
    const names = weeklyReportCheckNames();
    for (const s of sources) if (s.kind === 'weekly_report_check') expect(names).toContain(s.check);
  });

  it('a bad mapping is refused with every problem listed, not just the first', () => {
    const doc = raw();
    const [first, second, third] = doc.controls as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
    second.id = first.id; // duplicate id
    first.evidence = [
      { kind: 'event_type', type: 'ApiKeyTeleported', max_age_days: 30 },
      { kind: 'weekly_report_check', check: 'moon_phase_ok', max_age_days: 8 },
      { kind: 'gate', gate: 'preflight', check: 'database_reachable', max_age_days: 7 },
      { kind: 'gate', gate: 'scope', check: 'not_a_scope_check', max_age_days: 7 },
    ];
    third.frameworks = { soc2: ['CC9.9'], iso27001: [] };
    const r = parseComplianceMapping(doc);
    expect(r.ok).toBe(false);
    const problems = r.ok ? [] : r.problems;
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining('duplicate control id'),
        expect.stringContaining('ApiKeyTeleported'),
        expect.stringContaining('moon_phase_ok'),
        expect.stringContaining('gate preflight has no exported check list'),
        expect.stringContaining('not_a_scope_check'),
        expect.stringContaining('CC9.9'),
      ]),
    );
    // Shape errors: all of them, with their paths.
    const bad = raw();
    (bad.controls[0] as Record<string, unknown>).evidence = [{ kind: 'runbook_drill', runbook: '../etc/passwd', max_age_days: 0 }, { kind: 'ticket', max_age_days: 1 }];
    (bad.controls[1] as Record<string, unknown>).category = 'vibes';
    const shape = parseComplianceMapping(bad);
    expect(shape.ok).toBe(false);
    expect(shape.ok ? [] : shape.problems.length).toBeGreaterThanOrEqual(3);
    expect(parseComplianceMapping({ ...raw(), controls: raw().controls.slice(0, 10) }).ok).toBe(false);
  });
});

describe('control status rules', () => {
  const asOf = '2026-11-30T12:00:00.000Z';
  const src: EvidenceSource = { kind: 'gate', gate: 'health', max_age_days: 7 };
  const ev = (daysAgo: number, passed: boolean): LatestEvidence => ({ at: new Date(Date.parse(asOf) - daysAgo * 86_400_000).toISOString(), ref: 'event:x', passed, detail: 'd' });

  it('given no evidence, when evaluated, then the source has no_evidence and no age', () => {
    expect(evaluateSource(src, null, asOf)).toEqual({ source: src, latest: null, age_days: null, status: 'no_evidence' });
  });

  it('given passing evidence within max_age_days (whole days, floored), then it is satisfied; one day more and it is stale', () => {
    expect(evaluateSource(src, ev(0, true), asOf).status).toBe('satisfied');
    expect(evaluateSource(src, ev(7.9, true), asOf)).toMatchObject({ age_days: 7, status: 'satisfied' });
    expect(evaluateSource(src, ev(8, true), asOf)).toMatchObject({ age_days: 8, status: 'stale' });
  });

  it('given the latest evidence failed, then the source is failing however fresh or old it is', () => {
    expect(evaluateSource(src, ev(0, false), asOf).status).toBe('failing');
    expect(evaluateSource(src, ev(400, false), asOf).status).toBe('failing');
  });

  it('given several sources, then the control takes the worst: failing > no_evidence > stale > satisfied', () => {
    expect(controlStatus(['satisfied', 'satisfied'])).toBe('satisfied');
    expect(controlStatus(['satisfied', 'stale'])).toBe('stale');
    expect(controlStatus(['stale', 'no_evidence'])).toBe('no_evidence');
    expect(controlStatus(['no_evidence', 'failing', 'satisfied'])).toBe('failing');
    expect(controlStatus([])).toBe('no_evidence');
  });

  it('given the same latest evidence and as_of, then evaluation is identical (deterministic) and later as_of only ages it', () => {
    const mapping = loadComplianceMapping();
    const control = mapping.controls.find((c) => c.id === 'KM-01')!;
    const latest = new Map<string, LatestEvidence | null>(control.evidence.map((s) => [sourceKey(s), ev(3, true)]));
    const a = evaluateControl(mapping, control, latest, asOf);
    expect(evaluateControl(mapping, control, latest, asOf)).toEqual(a);
    expect(a.status).toBe('satisfied');
    expect(a.frameworks).toEqual(expect.arrayContaining([{ framework: 'soc2', id: 'CC6.1', title: mapping.frameworks.soc2.criteria['CC6.1'] }]));
    const later = new Date(Date.parse(asOf) + 6 * 86_400_000).toISOString();
    expect(evaluateControl(mapping, control, latest, later).status).toBe('stale'); // the weekly check (8 d) is 9 days old
    expect(summarize([a, { status: 'failing' }, { status: 'no_evidence' }])).toEqual({ satisfied: 1, stale: 0, failing: 1, no_evidence: 1 });
  });
});

describe('periods and the OSCAL assessment results', () => {
  it('parses quarters, months, ISO weeks, years and explicit windows; as_of is the last instant or now', () => {
    expect(parsePeriod('2026-Q4')).toEqual({ label: '2026-Q4', start: '2026-10-01T00:00:00.000Z', end: '2027-01-01T00:00:00.000Z' });
    expect(parsePeriod('2026-02')).toMatchObject({ start: '2026-02-01T00:00:00.000Z', end: '2026-03-01T00:00:00.000Z' });
    expect(parsePeriod('2026-W01')).toMatchObject({ start: '2025-12-29T00:00:00.000Z' });
    expect(parsePeriod('2026')).toMatchObject({ end: '2027-01-01T00:00:00.000Z' });
    for (const bad of ['2026-Q5', '2026-13', 'Q4', '26-Q1']) expect(() => parsePeriod(bad)).toThrow();
    expect(periodBetween('2026-01-01', '2026-02-01T00:00:00Z').label).toBe('2026-01-01T00:00:00.000Z--2026-02-01T00:00:00.000Z');
    expect(() => periodBetween('2026-02-01', '2026-01-01')).toThrow();
    expect(asOfFor(parsePeriod('2026-Q1'), new Date('2027-01-01T00:00:00Z'))).toBe('2026-03-31T23:59:59.999Z');
    expect(asOfFor(parsePeriod('2026-Q1'), new Date('2026-02-01T00:00:00Z'))).toBe('2026-02-01T00:00:00.000Z');
  });

  it('UUIDv5 matches the RFC construction (the DNS namespace and "python.org" vector)', () => {
    expect(uuidV5('python.org', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe('886313e1-3b8a-5372-9b90-0c9aee199e5d');
  });

  it('has one finding per control with objective-id targets, and identical bytes for the same period, position and as_of', () => {
    const mapping: ComplianceMapping = loadComplianceMapping();
    const asOf = '2026-12-31T23:59:59.999Z';
    const controls = mapping.controls.map((c, i) => evaluateControl(mapping, c, new Map(c.evidence.map((s) => [sourceKey(s), i % 2 ? null : { at: '2026-12-30T00:00:00.000Z', ref: 'event:e', passed: i % 4 !== 0, detail: 'd' }])), asOf));
    const report: ControlsReport = { schema: 'aionis-compliance-controls/1', mapping_version: 1, as_of: asOf, log_position: '900:42', system: { tenants: 2 }, controls, summary: summarize(controls) };
    const period = parsePeriod('2026-Q4');
    const opts = { subjectUuid: null, producerVersion: '0.1.0', mappingHref: 'mapping.json' };
    const doc = buildAssessmentResults(report, period, opts);
    const ar = doc['assessment-results'];
    expect(ar.metadata['oscal-version']).toBe('1.1.2');
    const result = ar.results[0]!;
    expect(result.findings).toHaveLength(mapping.controls.length);
    expect(result.findings.map((f) => (f.target as { 'target-id': string })['target-id'])).toEqual(mapping.controls.map((c) => c.id));
    for (const [i, f] of result.findings.entries()) {
      const state = (f.target as { status: { state: string } }).status.state;
      expect(state).toBe(controls[i]!.status === 'satisfied' ? 'satisfied' : 'not-satisfied');
    }
    expect(result.observations).toHaveLength(mapping.controls.reduce((n, c) => n + c.evidence.length, 0));
    expect(JSON.stringify(buildAssessmentResults(report, period, opts))).toBe(JSON.stringify(doc));
    expect(buildAssessmentResults({ ...report, log_position: '901:43' }, period, opts)['assessment-results'].uuid).not.toBe(ar.uuid);
  });
});
