import { type Kysely, sql } from 'kysely';
import type { Database } from '../../platform/db/database';
import type { DB } from '../../platform/db/schema';
import { type Checkpoint, compareCheckpoints, formatCheckpoint, parseCheckpoint } from '../../platform/event-store/event-store';
import { logPosition } from '../evidence/evidence-archive';
import type { EvidenceStore } from '../evidence/evidence-store';
import { collectEvidence, countTenants } from './evidence';
import type { ComplianceMapping } from './mapping';
import { type EvaluatedControl, evaluateControl, type StatusSummary, summarize } from './status';

/**
 * The compliance view: every control of the mapping with its latest evidence, age and status,
 * evaluated at one log position and one instant ("as of"). Deterministic given both: the same
 * position and as_of always give the same document.
 */
export const CONTROLS_SCHEMA = 'aionis-compliance-controls/1';

export interface ControlsReport {
  readonly schema: typeof CONTROLS_SCHEMA;
  readonly mapping_version: number;
  readonly as_of: string;
  readonly log_position: string;
  /** Non-perf tenants that exist at the position: 0 means an empty system, on which nothing is proven. */
  readonly system: { readonly tenants: number };
  readonly controls: readonly EvaluatedControl[];
  readonly summary: StatusSummary;
}

/**
 * The gap-safe head of the log (logPosition), waiting up to `waitMs` until it covers every event
 * already visible when the call began: a transaction still open anywhere in the cluster holds the
 * gap-safe head back, and a caller who has just recorded evidence expects to see it. After the
 * wait the (older) gap-safe head is used; the response's log_position says what it covers.
 */
export async function caughtUpPosition(db: Kysely<DB>, waitMs: number): Promise<string> {
  const r = await sql<{ tx: string; gp: number | string }>`
    SELECT transaction_id::text AS tx, global_position AS gp FROM es_events ORDER BY transaction_id DESC, global_position DESC LIMIT 1`.execute(db);
  const head = r.rows[0];
  const deadline = Date.now() + waitMs;
  for (;;) {
    const position = await logPosition(db);
    if (!head || compareCheckpoints(parseCheckpoint(position), { transactionId: head.tx, globalPosition: Number(head.gp) }) >= 0 || Date.now() >= deadline) return position;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Evaluate the mapping. `position` defaults to the caught-up gap-safe head of the log; `asOf` defaults to
 * the database's clock (the clock events are recorded with) and is capped by it.
 */
export async function evaluateCompliance(deps: { database: Database; archive: EvidenceStore }, mapping: ComplianceMapping, opts: { asOf?: string; position?: string; catchUpMs?: number } = {}): Promise<ControlsReport> {
  const db = deps.database.db;
  const position = opts.position ?? (await caughtUpPosition(db, opts.catchUpMs ?? 5000));
  const now = (await sql<{ now: Date | string }>`SELECT clock_timestamp() AS now`.execute(db)).rows[0]?.now;
  const dbNow = new Date(now ?? Date.now()).toISOString();
  const given = opts.asOf ? new Date(opts.asOf).toISOString() : undefined;
  const asOf = given && given < dbNow ? given : dbNow;
  const checkpoint: Checkpoint = parseCheckpoint(position);
  const window = { position: checkpoint, asOf };
  const latest = await collectEvidence(db, deps.archive, mapping.controls.flatMap((c) => c.evidence), window);
  const tenants = await countTenants(db, window);
  const controls = mapping.controls.map((c) => evaluateControl(mapping, c, latest, asOf));
  return { schema: CONTROLS_SCHEMA, mapping_version: mapping.version, as_of: asOf, log_position: formatCheckpoint(checkpoint), system: { tenants }, controls, summary: summarize(controls) };
}
