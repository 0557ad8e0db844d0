import { sql, type Kysely, type Transaction } from 'kysely';
import { PERF_MARKER, PERF_TENANT_PREFIX } from '../../control-plane/tenants/tenant.domain';
import type { DB } from '../../platform/db/schema';
import type { Checkpoint } from '../../platform/event-store/event-store';
import { bundlePrefix, verifyBundle } from '../evidence/bundles';
import type { ArchivedEventData } from '../evidence/evidence-archive';
import type { EvidenceStore } from '../evidence/evidence-store';
import type { BundleKind } from '../evidence/manifest';
import { parseIsoWeek } from '../reports/iso-week';
import { DRILL_STREAM, type DrillRecordedData } from './drills';
import { type EvidenceSource, sourceKey } from './mapping';
import type { LatestEvidence } from './status';

type Executor = Kysely<DB> | Transaction<DB>;

/**
 * Finds the latest evidence of each source in the event log (up to a log position AND recorded at
 * or before "as of") and, for bundles, in the evidence archive (verified against the manifest the
 * log names). Events of perf tenants (gate:core:prod's load run) never count as evidence.
 */
export interface EvidenceWindow {
  readonly position: Checkpoint;
  readonly asOf: string;
}

interface Row {
  event_id: string;
  stream_id: string;
  stream_position: number | string;
  recorded_at: Date | string;
  data: unknown;
  type: string;
  actor: unknown;
}

const iso = (d: Date | string) => new Date(d).toISOString();
const json = <T>(v: unknown): T => (typeof v === 'string' ? JSON.parse(v) : v) as T;

function within(w: EvidenceWindow) {
  return sql`(transaction_id, global_position) <= (${w.position.transactionId}::xid8, ${w.position.globalPosition}::bigint) AND recorded_at <= ${w.asOf}::timestamptz`;
}

const notPerfTenant = sql`(e.tenant_id IS NULL OR NOT EXISTS (
  SELECT 1 FROM es_events t WHERE t.type = 'TenantCreated' AND t.data->>'tenant_id' = e.tenant_id
    AND left(e.tenant_id, ${PERF_TENANT_PREFIX.length}) = ${PERF_TENANT_PREFIX} AND t.data->'metadata'->>'purpose' = ${PERF_MARKER.purpose}))`;

/** Tenants that exist at the window (perf tenants excluded): a report on zero tenants proves nothing. */
export async function countTenants(db: Executor, w: EvidenceWindow): Promise<number> {
  const r = await sql<{ n: number }>`
    SELECT count(DISTINCT e.data->>'tenant_id')::int AS n FROM es_events e
    WHERE e.type = 'TenantCreated' AND ${within(w)}
      AND NOT (left(e.data->>'tenant_id', ${PERF_TENANT_PREFIX.length}) = ${PERF_TENANT_PREFIX} AND e.data->'metadata'->>'purpose' = ${PERF_MARKER.purpose})`.execute(db);
  return r.rows[0]?.n ?? 0;
}

const actorOf = (v: unknown): string => {
  const m = json<{ actor?: { type?: string; id?: string } }>(v);
  return m.actor ? `${m.actor.type ?? '?'}:${m.actor.id ?? '?'}` : 'unknown';
};

async function latestEventsOfTypes(db: Executor, types: readonly string[], w: EvidenceWindow): Promise<Map<string, LatestEvidence>> {
  const out = new Map<string, LatestEvidence>();
  if (types.length === 0) return out;
  const r = await sql<Row>`
    SELECT DISTINCT ON (e.type) e.type, e.event_id::text AS event_id, e.stream_id, e.stream_position, e.recorded_at, NULL AS data, e.metadata AS actor
    FROM es_events e
    WHERE e.type IN (${sql.join(types)}) AND ${within(w)} AND ${notPerfTenant}
    ORDER BY e.type, e.transaction_id DESC, e.global_position DESC`.execute(db);
  for (const row of r.rows) {
    out.set(row.type, { at: iso(row.recorded_at), ref: `event:${row.event_id}`, passed: true, detail: `${row.type} on ${row.stream_id} by ${actorOf(row.actor)}` });
  }
  return out;
}

interface GateRunData {
  gate: string;
  ok: boolean;
  strict_warnings?: boolean;
  errors: number;
  warnings: number;
  failing: string[];
  checks?: { name: string; severity: string; pass: boolean; count: number }[];
}

async function latestGateRun(db: Executor, source: Extract<EvidenceSource, { kind: 'gate' }>, w: EvidenceWindow): Promise<LatestEvidence | null> {
  const withCheck = source.check ? sql`AND data->'checks' @> ${JSON.stringify([{ name: source.check }])}::jsonb` : sql``;
  const r = await sql<Row>`
    SELECT type, event_id::text AS event_id, stream_id, stream_position, recorded_at, data, metadata AS actor FROM es_events
    WHERE stream_id = 'gate-runs' AND type = 'GateRunRecorded' AND data->>'gate' = ${source.gate} ${withCheck} AND ${within(w)}
    ORDER BY stream_position DESC LIMIT 1`.execute(db);
  const row = r.rows[0];
  if (!row) return null;
  const d = json<GateRunData>(row.data);
  const base = { at: iso(row.recorded_at), ref: `event:${row.event_id}` };
  if (source.check) {
    const c = d.checks?.find((x) => x.name === source.check);
    if (!c) return { ...base, passed: false, detail: `check ${source.check} missing from the ${source.gate} run` };
    return { ...base, passed: c.pass, detail: `check ${c.name} (${c.severity}) ${c.pass ? 'passed' : `FAILED (${c.count})`} in the ${source.gate} gate run by ${actorOf(row.actor)}` };
  }
  const failing = d.failing.length ? `; failing: ${d.failing.join(', ')}` : '';
  return { ...base, passed: d.ok === true, detail: `${source.gate} gate ${d.ok ? 'passed' : 'FAILED'}${d.strict_warnings ? ' (strict warnings)' : ''}: ${d.errors} error(s), ${d.warnings} warning(s)${failing}, run by ${actorOf(row.actor)}` };
}

async function latestDrill(db: Executor, runbook: string, w: EvidenceWindow): Promise<LatestEvidence | null> {
  const r = await sql<Row>`
    SELECT type, event_id::text AS event_id, stream_id, stream_position, recorded_at, data, metadata AS actor FROM es_events
    WHERE stream_id = ${DRILL_STREAM} AND data->>'runbook' = ${runbook} AND ${within(w)}
    ORDER BY stream_position DESC LIMIT 1`.execute(db);
  const row = r.rows[0];
  if (!row) return null;
  const d = json<DrillRecordedData>(row.data);
  const notes = d.notes ? `: ${d.notes.length > 160 ? `${d.notes.slice(0, 157)}...` : d.notes}` : '';
  return { at: iso(row.recorded_at), ref: `event:${row.event_id}`, passed: d.outcome === 'passed', detail: `drill of ${runbook} ${d.outcome} (recorded by ${actorOf(row.actor)})${notes}` };
}

export interface BundleCandidate {
  readonly data: ArchivedEventData;
  /** When the bundle's evidence holds: archived time, or the end of its week if that is earlier. */
  readonly at: string;
}

/** Archived bundles of a kind in the window, newest evidence first (then newest sequence). */
async function bundleCandidates(db: Executor, kind: BundleKind, w: EvidenceWindow): Promise<BundleCandidate[]> {
  const r = await sql<Row>`
    SELECT type, event_id::text AS event_id, stream_id, stream_position, recorded_at, data, NULL AS actor FROM es_events
    WHERE stream_id = ${`evidence-${kind}`} AND type = 'EvidenceBundleArchived' AND ${within(w)}
    ORDER BY stream_position DESC LIMIT 1000`.execute(db);
  return r.rows
    .map((row) => {
      const data = json<ArchivedEventData>(row.data);
      let at = iso(row.recorded_at);
      if (data.labels.week) {
        try {
          const end = parseIsoWeek(data.labels.week).end;
          if (end < at) at = end;
        } catch {
          // an unreadable week label: the archive time stands
        }
      }
      return { data, at };
    })
    .sort((a, b) => (a.at === b.at ? b.data.sequence - a.data.sequence : a.at < b.at ? 1 : -1));
}

/**
 * The latest evidence of every source. One REPEATABLE READ snapshot for the log; archive reads
 * after it. Each cited bundle is verified (manifest hash = the id the log names, signature, every
 * file): a bundle that does not verify is evidence that failed.
 */
export async function collectEvidence(db: Kysely<DB>, archive: EvidenceStore, sources: readonly EvidenceSource[], w: EvidenceWindow): Promise<Map<string, LatestEvidence | null>> {
  const unique = new Map<string, EvidenceSource>();
  for (const s of sources) unique.set(sourceKey(s), s);
  const all = [...unique.values()];
  const found = new Map<string, LatestEvidence | null>();
  const bundles = new Map<BundleKind, BundleCandidate[]>();

  await db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      const types = all.flatMap((s) => (s.kind === 'event_type' ? [s.type] : []));
      const byType = await latestEventsOfTypes(trx, types, w);
      for (const s of all) {
        switch (s.kind) {
          case 'event_type':
            found.set(sourceKey(s), byType.get(s.type) ?? null);
            break;
          case 'gate':
            found.set(sourceKey(s), await latestGateRun(trx, s, w));
            break;
          case 'runbook_drill':
            found.set(sourceKey(s), await latestDrill(trx, s.runbook, w));
            break;
          case 'bundle':
          case 'weekly_report_check': {
            const kind: BundleKind = s.kind === 'bundle' ? s.bundle_kind : 'governance-weekly';
            if (!bundles.has(kind)) bundles.set(kind, await bundleCandidates(trx, kind, w));
            break;
          }
        }
      }
    });

  const verified = new Map<string, string[]>();
  const verify = async (kind: BundleKind, id: string): Promise<string[]> => {
    const hit = verified.get(id);
    if (hit) return hit;
    const problems = (await verifyBundle(archive, kind, id)).map((f) => f.detail);
    verified.set(id, problems);
    return problems;
  };
  const reports = new Map<string, { checks?: { name: string; severity: string; pass: boolean; count: number }[] } | null>();

  for (const s of all) {
    if (s.kind === 'bundle') {
      const best = bundles.get(s.bundle_kind)?.[0];
      if (!best) {
        found.set(sourceKey(s), null);
        continue;
      }
      const d = best.data;
      const problems = await verify(s.bundle_kind, d.bundle_id);
      const label = Object.entries(d.labels).map(([k, v]) => `${k} ${v}`).join(', ');
      // governance-weekly bundles label {status: failed|...}; release bundles {verdict: pass|fail} (archived whatever the verdict).
      const failedLabel = d.labels.status === 'failed' || d.labels.verdict === 'fail';
      found.set(sourceKey(s), {
        at: best.at,
        ref: `bundle:${s.bundle_kind}/${d.bundle_id}`,
        passed: problems.length === 0 && !failedLabel,
        detail: problems.length
          ? `${s.bundle_kind} bundle #${d.sequence} does NOT verify: ${problems[0]}${problems.length > 1 ? ` (+${problems.length - 1} more)` : ''}`
          : `${s.bundle_kind} bundle #${d.sequence} (${label}) verified${failedLabel ? ', but it records a failed result' : ''}`,
      });
    } else if (s.kind === 'weekly_report_check') {
      const best = bundles.get('governance-weekly')?.[0];
      if (!best) {
        found.set(sourceKey(s), null);
        continue;
      }
      const d = best.data;
      const base = { at: best.at, ref: `bundle:governance-weekly/${d.bundle_id}/report.json#${s.check}` };
      const problems = await verify('governance-weekly', d.bundle_id);
      if (problems.length) {
        found.set(sourceKey(s), { ...base, passed: false, detail: `weekly report ${d.labels.week ?? '?'} bundle does NOT verify: ${problems[0]}` });
        continue;
      }
      if (!reports.has(d.bundle_id)) {
        const content = await archive.get(`${bundlePrefix('governance-weekly', d.bundle_id)}/files/report.json`);
        let parsed: { checks?: { name: string; severity: string; pass: boolean; count: number }[] } | null = null;
        try {
          parsed = content ? (JSON.parse(content.toString('utf8')) as typeof parsed) : null;
        } catch {
          parsed = null;
        }
        reports.set(d.bundle_id, parsed);
      }
      const check = reports.get(d.bundle_id)?.checks?.find((c) => c.name === s.check);
      found.set(
        sourceKey(s),
        check
          ? { ...base, passed: check.pass, detail: `check ${check.name} (${check.severity}) ${check.pass ? 'passed' : `FAILED (${check.count})`} in weekly report ${d.labels.week ?? '?'} at ${d.log_position}` }
          : { ...base, passed: false, detail: `weekly report ${d.labels.week ?? '?'} has no check ${s.check}` },
      );
    }
  }
  return found;
}
