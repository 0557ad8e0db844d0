import type { SealKey } from '../../platform/config/seal-key';
import type { Database } from '../../platform/db/database';
import type { Actor } from '../../platform/event-store/event-store';
import type { PostgresEventStore } from '../../platform/event-store/postgres-event-store';
import { deploymentId } from '../../ops/preflight/runtime-facts';
import type { StoredBundle } from '../evidence/bundles';
import { archiveBundle } from '../evidence/evidence-archive';
import type { EvidenceStore } from '../evidence/evidence-store';
import { type ControlsReport, evaluateCompliance } from './compliance';
import type { ComplianceMapping } from './mapping';
import { buildAssessmentResults, describeSource } from './oscal';
import { asOfFor, type Period } from './period';

/**
 * The compliance report of a period (npm run compliance:report): controls.json (the endpoint's
 * document as of the period's end, or now while it runs), assessment-results.json (OSCAL),
 * COMPLIANCE_REPORT.md and mapping.json (the mapping it was evaluated against), archived as a
 * signed `compliance` bundle labelled {period}.
 */
export interface ComplianceReportFiles {
  readonly period: Period;
  readonly report: ControlsReport;
  readonly status: 'passed' | 'passed_with_warnings' | 'failed';
  readonly files: readonly { path: string; content: Buffer }[];
}

const COUNT_WORD = { satisfied: 'satisfied', stale: 'stale', failing: 'failing', no_evidence: 'without evidence' } as const;

export function renderComplianceMarkdown(r: ControlsReport, period: Period): string {
  const lines: string[] = [];
  const s = r.summary;
  lines.push(`# Compliance report ${period.label}`, '');
  lines.push(`- Period: ${period.start} to ${period.end} (UTC); evaluated as of ${r.as_of}`);
  lines.push(`- Event-log position: \`${r.log_position}\`; mapping version ${r.mapping_version}; ${r.system.tenants} tenant(s)`);
  lines.push(`- **${r.controls.length} controls: ${(Object.keys(COUNT_WORD) as (keyof typeof COUNT_WORD)[]).map((k) => `${s[k]} ${COUNT_WORD[k]}`).join(', ')}**`, '');
  lines.push('| control | title | SOC 2 | ISO/IEC 27001:2022 | status |', '| --- | --- | --- | --- | --- |');
  for (const c of r.controls) {
    const refs = (fw: string) => c.frameworks.filter((f) => f.framework === fw).map((f) => f.id).join(', ') || '-';
    lines.push(`| ${c.id} | ${c.title} | ${refs('soc2')} | ${refs('iso27001')} | ${c.status === 'satisfied' ? 'satisfied' : `**${c.status}**`} |`);
  }
  lines.push('', '## Evidence per control', '');
  for (const c of r.controls) {
    lines.push(`### ${c.id} ${c.title}: ${c.status}`, '', c.description, '');
    for (const e of c.evidence) {
      const what = `${describeSource(e.source)} (max ${e.source.max_age_days} d)`;
      lines.push(e.latest ? `- ${e.status}: ${what}: ${e.latest.detail}; ${e.age_days} d old, at ${e.latest.at} (\`${e.latest.ref}\`)` : `- ${e.status}: ${what}: nothing recorded`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

const jsonBytes = (v: unknown) => Buffer.from(`${JSON.stringify(v, null, 2)}\n`, 'utf8');

export async function generateComplianceReport(
  deps: { database: Database; archive: EvidenceStore; version: string },
  mapping: ComplianceMapping,
  opts: { period: Period; position?: string; now?: Date },
): Promise<ComplianceReportFiles> {
  const report = await evaluateCompliance(deps, mapping, { asOf: asOfFor(opts.period, opts.now ?? new Date()), ...(opts.position ? { position: opts.position } : {}) });
  const oscal = buildAssessmentResults(report, opts.period, { subjectUuid: await deploymentId(deps.database.db), producerVersion: deps.version, mappingHref: 'mapping.json' });
  const status = report.summary.failing > 0 ? 'failed' : report.summary.stale + report.summary.no_evidence > 0 ? 'passed_with_warnings' : 'passed';
  return {
    period: opts.period,
    report,
    status,
    files: [
      { path: 'controls.json', content: jsonBytes(report) },
      { path: 'assessment-results.json', content: jsonBytes(oscal) },
      { path: 'COMPLIANCE_REPORT.md', content: Buffer.from(renderComplianceMarkdown(report, opts.period), 'utf8') },
      { path: 'mapping.json', content: jsonBytes(mapping) },
    ],
  };
}

/** Archive generated files as a signed `compliance` bundle (files first, then the manifest, then its signature). */
export function archiveComplianceReport(
  deps: { database: Database; eventStore: PostgresEventStore; archive: EvidenceStore; key: SealKey; version: string },
  files: ComplianceReportFiles,
  actor: Actor,
  command = 'compliance:report',
): Promise<StoredBundle> {
  return archiveBundle(deps.database, deps.eventStore, deps.archive, deps.key, {
    kind: 'compliance',
    labels: { period: files.period.label, status: files.status, as_of: files.report.as_of },
    files: [...files.files],
    logPosition: files.report.log_position,
    actor,
    command,
    version: deps.version,
  });
}
