import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Database } from '../../platform/db/database';
import { canonicalJson } from '../../platform/event-store/canonical-json';
import { type Checkpoint, compareCheckpoints, type RecordedEvent, START } from '../../platform/event-store/event-store';
import { readAllFrom } from '../../platform/event-store/postgres-event-store';
import { verifyChains } from '../../platform/event-store/verify';

export const EXPORT_FORMAT = 'aionis-audit-export/1';

export interface StreamSummary {
  first_position: number;
  last_position: number;
  count: number;
  /** prev_hash of the first exported event (64 zeros for a stream exported from its start). */
  anchor_prev_hash: string;
  head_hash: string;
}

export interface ExportManifest {
  format: typeof EXPORT_FORMAT;
  tenant_id: string;
  from: string | null;
  to: string | null;
  exported_at: string;
  /** The log position the export is complete up to. */
  position: string;
  events: number;
  streams: Record<string, StreamSummary>;
  file_sha256: string;
}

/**
 * Export one tenant's events (gap-safe global order, optionally a recorded_at window) as NDJSON,
 * one canonical JSON event per line, and build the manifest an auditor verifies it against.
 * Calls `write` per line and `progress` every 5,000 events.
 */
export async function exportTenant(
  database: Database,
  opts: { tenantId: string; from?: string; to?: string },
  write: (line: string) => Promise<void> | void,
  progress: (events: number) => void = () => undefined,
): Promise<Omit<ExportManifest, 'file_sha256' | 'exported_at'>> {
  const streams: Record<string, StreamSummary> = {};
  let after: Checkpoint = START;
  let count = 0;
  for (;;) {
    const page = await readAllFrom(database.db, { after, limit: 5000 });
    if (page.length === 0) break;
    for (const e of page) {
      if (e.tenantId !== opts.tenantId) continue;
      if (opts.from && e.recordedAt < opts.from) continue;
      if (opts.to && e.recordedAt >= opts.to) continue;
      await write(`${canonicalJson(e)}\n`);
      count += 1;
      const s = streams[e.streamId];
      if (!s) streams[e.streamId] = { first_position: e.streamPosition, last_position: e.streamPosition, count: 1, anchor_prev_hash: e.prevHash, head_hash: e.hash };
      else {
        s.last_position = e.streamPosition;
        s.count += 1;
        s.head_hash = e.hash;
      }
      if (count % 5000 === 0) progress(count);
    }
    const last = page[page.length - 1]!;
    after = { transactionId: last.transactionId, globalPosition: last.globalPosition };
  }
  progress(count);
  return { format: EXPORT_FORMAT, tenant_id: opts.tenantId, from: opts.from ?? null, to: opts.to ?? null, position: `${after.transactionId}:${after.globalPosition}`, events: count, streams };
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export interface VerifyFinding {
  readonly check: 'file_sha256' | 'parse' | 'order' | 'chain' | 'manifest_streams' | 'manifest_counts' | 'manifest_heads';
  readonly detail: string;
  readonly event_id?: string;
  readonly stream_id?: string;
  readonly stream_position?: number;
  readonly line?: number;
}

/** Verify an export against its manifest, offline: file hash, commit order, hash chains, counts and heads. */
export function verifyExport(lines: readonly string[], fileSha256: string, manifest: ExportManifest): VerifyFinding[] {
  const findings: VerifyFinding[] = [];
  if (fileSha256 !== manifest.file_sha256) findings.push({ check: 'file_sha256', detail: `file SHA-256 ${fileSha256} differs from the manifest's ${manifest.file_sha256}` });
  const events: RecordedEvent[] = [];
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    try {
      events.push(JSON.parse(line) as RecordedEvent);
    } catch {
      findings.push({ check: 'parse', detail: `line ${i + 1} is not JSON`, line: i + 1 });
      return findings;
    }
  }
  for (let i = 1; i < events.length; i++) {
    if (compareCheckpoints(events[i - 1]!, events[i]!) >= 0) {
      const e = events[i]!;
      findings.push({ check: 'order', detail: `line ${i + 1} is out of commit order`, event_id: e.eventId, stream_id: e.streamId, stream_position: e.streamPosition, line: i + 1 });
      break;
    }
  }
  const anchors = new Map(Object.entries(manifest.streams).map(([id, s]) => [id, { position: s.first_position, prevHash: s.anchor_prev_hash }]));
  const { breaks } = verifyChains(events, anchors);
  const first = breaks[0];
  if (first) findings.push({ check: 'chain', detail: `${breaks.length} break(s); first: ${first.reason}`, event_id: first.eventId, stream_id: first.streamId, stream_position: first.streamPosition });
  const seen = new Map<string, { count: number; head: string; last: number }>();
  for (const e of events) {
    const s = seen.get(e.streamId);
    seen.set(e.streamId, { count: (s?.count ?? 0) + 1, head: e.hash, last: e.streamPosition });
  }
  for (const [id, s] of Object.entries(manifest.streams)) {
    const got = seen.get(id);
    if (!got) findings.push({ check: 'manifest_streams', detail: `stream ${id} (${s.count} events) is missing from the file`, stream_id: id });
    else {
      if (got.count !== s.count) findings.push({ check: 'manifest_counts', detail: `stream ${id}: ${got.count} events in the file, ${s.count} in the manifest`, stream_id: id });
      if (got.head !== s.head_hash) findings.push({ check: 'manifest_heads', detail: `stream ${id}: its last event (${got.last}) is not the manifest's head (truncated?)`, stream_id: id, stream_position: got.last });
    }
  }
  for (const id of seen.keys()) if (!manifest.streams[id]) findings.push({ check: 'manifest_streams', detail: `stream ${id} is in the file but not in the manifest`, stream_id: id });
  if (events.length !== manifest.events) findings.push({ check: 'manifest_counts', detail: `${events.length} events in the file, ${manifest.events} in the manifest` });
  return findings;
}
