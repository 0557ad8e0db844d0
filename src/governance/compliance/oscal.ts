import { createHash } from 'node:crypto';
import type { ControlsReport } from './compliance';
import type { EvidenceSource } from './mapping';
import type { Period } from './period';
import type { EvaluatedSource } from './status';

/**
 * The compliance report as an OSCAL 1.1.2 assessment-results document (the shape, not a full
 * catalog/plan toolchain): one result for the period, one finding per control (target
 * objective-id = the control id; state satisfied only when the control is), one observation per
 * evidence source citing the evidence. Every uuid is a UUIDv5 of the period, log position and
 * "as of", so the same inputs always give byte-identical JSON.
 */
export const OSCAL_VERSION = '1.1.2';
/** Namespace of this system's UUIDv5 names. */
const NAMESPACE = '3f2c2625-f04e-4af6-94ab-833fd444e319';
const PROP_NS = 'https://aionis.dev/ns/oscal';

export function uuidV5(name: string, namespace = NAMESPACE): string {
  const h = createHash('sha1').update(Buffer.from(namespace.replace(/-/g, ''), 'hex')).update(name, 'utf8').digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export function describeSource(s: EvidenceSource): string {
  switch (s.kind) {
    case 'event_type':
      return `latest ${s.type} event in the log`;
    case 'gate':
      return s.check ? `check ${s.check} of the latest ${s.gate} gate run that reported it` : `latest ${s.gate} gate run (GateRunRecorded)`;
    case 'weekly_report_check':
      return `check ${s.check} of the latest archived governance weekly report`;
    case 'bundle':
      return `latest archived ${s.bundle_kind} evidence bundle (verified)`;
    case 'runbook_drill':
      return `latest recorded drill of ${s.runbook}`;
  }
}

/** An evidence ref as a URI reference: `urn:aionis:event:<id>`, `urn:aionis:bundle:<kind>/<id>...`. */
function hrefOf(ref: string): string {
  return `urn:aionis:${ref}`;
}

function observationDescription(e: EvaluatedSource): string {
  const limit = `max age ${e.source.max_age_days} day(s)`;
  if (!e.latest) return `${describeSource(e.source)}: no evidence recorded (${limit}).`;
  return `${describeSource(e.source)}: ${e.latest.detail}; ${e.age_days} day(s) old (${limit}); status ${e.status}.`;
}

export function buildAssessmentResults(report: ControlsReport, period: Period, opts: { subjectUuid: string | null; producerVersion: string; mappingHref: string }) {
  const docName = `assessment-results|${period.label}|${period.start}|${period.end}|${report.log_position}|${report.as_of}|mapping-v${report.mapping_version}`;
  const docUuid = uuidV5(docName);
  const subject = { 'subject-uuid': opts.subjectUuid ?? uuidV5(`deployment|${docUuid}`), type: 'component', title: 'Aionis Hosted deployment (its event log and evidence archive)' };
  const observations: Record<string, unknown>[] = [];
  const findings: Record<string, unknown>[] = [];
  for (const c of report.controls) {
    const related: { 'observation-uuid': string }[] = [];
    c.evidence.forEach((e, i) => {
      const uuid = uuidV5(`observation|${docUuid}|${c.id}|${i}`);
      related.push({ 'observation-uuid': uuid });
      observations.push({
        uuid,
        title: `${c.id} evidence ${i + 1}: ${e.source.kind}`,
        description: observationDescription(e),
        props: [
          { name: 'evidence-status', ns: PROP_NS, value: e.status },
          { name: 'evidence-kind', ns: PROP_NS, value: e.source.kind },
        ],
        methods: ['AUTOMATED'],
        subjects: [subject],
        collected: e.latest?.at ?? report.as_of,
        ...(e.latest ? { 'relevant-evidence': [{ href: hrefOf(e.latest.ref), description: e.latest.detail }] } : {}),
      });
    });
    const satisfied = c.status === 'satisfied';
    findings.push({
      uuid: uuidV5(`finding|${docUuid}|${c.id}`),
      title: `${c.id} ${c.title}`,
      description: `${c.description} Mapped to ${c.frameworks.map((f) => `${f.framework === 'soc2' ? 'SOC 2' : 'ISO/IEC 27001:2022'} ${f.id}`).join(', ')}. Status ${c.status}.`,
      props: [
        { name: 'control-status', ns: PROP_NS, value: c.status },
        ...c.frameworks.map((f) => ({ name: 'mapped-criterion', ns: PROP_NS, class: f.framework, value: f.id })),
      ],
      target: {
        type: 'objective-id',
        'target-id': c.id,
        status: { state: satisfied ? 'satisfied' : 'not-satisfied', reason: satisfied ? 'pass' : c.status === 'failing' ? 'fail' : 'other' },
      },
      'related-observations': related,
    });
  }
  return {
    'assessment-results': {
      uuid: docUuid,
      metadata: {
        title: `Aionis Hosted compliance assessment, period ${period.label}`,
        'last-modified': report.as_of,
        version: `mapping-v${report.mapping_version}`,
        'oscal-version': OSCAL_VERSION,
        props: [
          { name: 'log-position', ns: PROP_NS, value: report.log_position },
          { name: 'producer-version', ns: PROP_NS, value: opts.producerVersion },
        ],
      },
      'import-ap': { href: opts.mappingHref, remarks: 'The control mapping (compliance/controls.v1.json) stands in for an assessment plan: which evidence is assessed for which control, and how old it may be.' },
      results: [
        {
          uuid: uuidV5(`result|${docUuid}`),
          title: `Automated evidence assessment ${period.label}`,
          description: `Each control's latest evidence from the event log and the evidence archive, as of ${report.as_of} at log position ${report.log_position}. ${report.summary.satisfied} satisfied, ${report.summary.stale} stale, ${report.summary.failing} failing, ${report.summary.no_evidence} without evidence; ${report.system.tenants} tenant(s).`,
          start: period.start,
          end: report.as_of,
          'reviewed-controls': { 'control-selections': [{ 'include-controls': report.controls.map((c) => ({ 'control-id': c.id })) }] },
          observations,
          findings,
        },
      ],
    },
  };
}
