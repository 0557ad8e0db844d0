import { chainHash, hashedEnvelope } from './postgres-event-store';
import { GENESIS_HASH, type RecordedEvent } from './event-store';

export interface ChainBreak {
  readonly streamId: string;
  readonly streamPosition: number;
  readonly eventId: string;
  readonly reason: 'position_gap' | 'prev_hash_mismatch' | 'hash_mismatch';
}

/**
 * Recompute the per-stream hash chains of a set of events (any order, any mix of streams) and
 * report every break: an edited event, a removed or reordered event, a forged link.
 * Pure: an auditor runs it offline on an export.
 */
export function verifyChains(
  events: Iterable<RecordedEvent>,
  /** For exports that start mid-stream: the expected first position and prev_hash per stream. */
  anchors: ReadonlyMap<string, { position: number; prevHash: string }> = new Map(),
): { streams: number; events: number; breaks: ChainBreak[] } {
  const byStream = new Map<string, RecordedEvent[]>();
  let count = 0;
  for (const e of events) {
    count += 1;
    let list = byStream.get(e.streamId);
    if (!list) byStream.set(e.streamId, (list = []));
    list.push(e);
  }
  const breaks: ChainBreak[] = [];
  for (const [streamId, list] of byStream) {
    list.sort((a, b) => a.streamPosition - b.streamPosition);
    const anchor = anchors.get(streamId);
    let prev = anchor?.prevHash ?? GENESIS_HASH;
    let expectedPosition = anchor?.position ?? 1;
    for (const e of list) {
      const at = { streamId, streamPosition: e.streamPosition, eventId: e.eventId };
      if (e.streamPosition !== expectedPosition) breaks.push({ ...at, reason: 'position_gap' });
      if (e.prevHash !== prev) breaks.push({ ...at, reason: 'prev_hash_mismatch' });
      const recomputed = chainHash(e.prevHash, hashedEnvelope(e));
      if (recomputed !== e.hash) breaks.push({ ...at, reason: 'hash_mismatch' });
      prev = e.hash;
      expectedPosition = e.streamPosition + 1;
    }
  }
  return { streams: byStream.size, events: count, breaks };
}
