import { sql, type Kysely, type Transaction } from 'kysely';
import type { SealKey } from '../../platform/config/seal-key';
import type { Database } from '../../platform/db/database';
import type { DB } from '../../platform/db/schema';
import { eventMetadata, newCommandId, systemCommandContext } from '../../platform/event-store/command-context';
import { type Actor, formatCheckpoint } from '../../platform/event-store/event-store';
import type { PostgresEventStore } from '../../platform/event-store/postgres-event-store';
import { lockKey } from '../../platform/projections/projection-runner';
import { bundlePrefix, type StoredBundle, writeBundle } from './bundles';
import type { EvidenceStore } from './evidence-store';
import { type BundleKind, buildManifest, manifestBytes, signManifest } from './manifest';

type Executor = Kysely<DB> | Transaction<DB>;

export interface ArchivedEventData {
  readonly bundle_id: string;
  readonly kind: BundleKind;
  readonly sequence: number;
  readonly previous_manifest_sha256: string | null;
  readonly location: string;
  readonly labels: Record<string, string>;
  readonly log_position: string;
  readonly key_id: string;
  readonly files: { path: string; sha256: string; size: number }[];
}

const streamOf = (kind: BundleKind) => `evidence-${kind}`;
/** Advisory-lock namespace of archive writers: one writer per kind at a time, across processes. */
const ARCHIVE_LOCK = 0x41_49_45;

async function lastArchived(db: Executor, kind: BundleKind): Promise<{ revision: number; data: ArchivedEventData | null }> {
  const r = await sql<{ stream_position: number; data: unknown }>`
    SELECT stream_position, data FROM es_events WHERE stream_id = ${streamOf(kind)} ORDER BY stream_position DESC LIMIT 1`.execute(db);
  const row = r.rows[0];
  if (!row) return { revision: 0, data: null };
  const data = (typeof row.data === 'string' ? JSON.parse(row.data) : row.data) as ArchivedEventData;
  return { revision: Number(row.stream_position), data };
}

/** The head of the global log as a position string (what a bundle's content reflects). */
export async function logPosition(db: Executor): Promise<string> {
  const r = await sql<{ tx: string | null; gp: number | null }>`
    SELECT transaction_id::text AS tx, global_position AS gp FROM es_events
    WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY transaction_id DESC, global_position DESC LIMIT 1`.execute(db);
  const row = r.rows[0];
  return row?.tx ? formatCheckpoint({ transactionId: row.tx, globalPosition: Number(row.gp) }) : '0:0';
}

/**
 * Archive a signed bundle and record it as an EvidenceBundleArchived event. The chain is made
 * linear by the event stream `evidence-<kind>` (its revision is the bundle's sequence) under an
 * advisory lock, so two processes never archive two bundles claiming the same place. `record`
 * appends the caller's own events about the bundle in the same transaction (e.g. SloStatementIssued).
 */
export async function archiveBundle(
  database: Database,
  eventStore: PostgresEventStore,
  archive: EvidenceStore,
  key: SealKey,
  input: { kind: BundleKind; labels: Record<string, string>; files: { path: string; content: Buffer }[]; logPosition: string; actor: Actor; command: string; version: string },
  record?: (trx: Transaction<DB>, bundle: StoredBundle) => Promise<void>,
): Promise<StoredBundle> {
  return database.db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${ARCHIVE_LOCK}, ${lockKey(`evidence:${input.kind}`)})`.execute(trx);
    const head = await lastArchived(trx, input.kind);
    const manifest = buildManifest({
      kind: input.kind,
      sequence: head.revision + 1,
      previous_manifest_sha256: head.data?.bundle_id ?? null,
      producer: { name: 'aionis-hosted', version: input.version, command: input.command, actor: `${input.actor.type}:${input.actor.id}` },
      created_at: new Date().toISOString(),
      log_position: input.logPosition,
      labels: input.labels,
      files: input.files,
    });
    const signature = signManifest(manifestBytes(manifest), key);
    const stored = await writeBundle(archive, manifest, signature, input.files);
    const data: ArchivedEventData = {
      bundle_id: stored.id,
      kind: input.kind,
      sequence: manifest.sequence,
      previous_manifest_sha256: manifest.previous_manifest_sha256,
      location: `${archive.location}/${bundlePrefix(input.kind, stored.id)}`,
      labels: input.labels,
      log_position: input.logPosition,
      key_id: key.keyId,
      files: [...manifest.files],
    };
    await eventStore.append(streamOf(input.kind), [{ type: 'EvidenceBundleArchived', data }], {
      expectedRevision: head.revision === 0 ? 'no_stream' : head.revision,
      tenantId: null,
      trx,
      // The archive event occurs when the manifest says the bundle was made.
      metadata: eventMetadata(systemCommandContext({ actor: input.actor, now: () => new Date(manifest.created_at) }), newCommandId()),
    });
    if (record) await record(trx, stored);
    return stored;
  });
}

/** Every bundle the log says was archived (newest first), for the admin API and the log-vs-archive check. */
export async function archivedBundles(db: Executor, filter: { kind?: BundleKind; label?: { name: string; value: string }; limit?: number } = {}): Promise<(ArchivedEventData & { archived_at: string; actor: string })[]> {
  const r = await sql<{ data: unknown; metadata: unknown; recorded_at: Date | string }>`
    SELECT data, metadata, recorded_at FROM es_events WHERE type = 'EvidenceBundleArchived'
    ${filter.kind ? sql`AND stream_id = ${streamOf(filter.kind)}` : sql``}
    ${filter.label ? sql`AND data->'labels'->>${filter.label.name} = ${filter.label.value}` : sql``}
    ORDER BY global_position DESC LIMIT ${filter.limit ?? 100}`.execute(db);
  return r.rows.map((row) => {
    const data = (typeof row.data === 'string' ? JSON.parse(row.data) : row.data) as ArchivedEventData;
    const meta = (typeof row.metadata === 'string' ? JSON.parse(row.metadata) : row.metadata) as { actor: Actor };
    return { ...data, archived_at: new Date(row.recorded_at).toISOString(), actor: `${meta.actor.type}:${meta.actor.id}` };
  });
}

