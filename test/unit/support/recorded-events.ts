import type { EventMetadata, RecordedEvent } from '../../../src/platform/event-store/event-store';
import { GENESIS_HASH } from '../../../src/platform/event-store/event-store';
import { chainHash, hashedEnvelope } from '../../../src/platform/event-store/postgres-event-store';

/** Hand-built RecordedEvent objects for pure tests (no database). */

export function metadataFor(occurredAt = '2026-01-01T00:00:00.000Z', actorId = 'op_test'): EventMetadata {
  return {
    actor: { type: 'operator', id: actorId },
    occurred_at: occurredAt,
    correlation_id: 'corr-1',
    causation_id: null,
    request_id: null,
    command_id: null,
  };
}

export type EventSpec = Partial<RecordedEvent> & Pick<RecordedEvent, 'streamId' | 'streamPosition' | 'globalPosition' | 'type'>;

/** A recorded event with sensible defaults; prevHash/hash are placeholders unless given. */
export function recorded(spec: EventSpec): RecordedEvent {
  return {
    transactionId: String(1000 + spec.globalPosition),
    tenantId: null,
    eventId: `00000000-0000-4000-8000-${String(spec.globalPosition).padStart(12, '0')}`,
    schemaVersion: 1,
    data: {},
    metadata: metadataFor(),
    recordedAt: '2026-01-01T00:00:00.000Z',
    prevHash: GENESIS_HASH,
    hash: GENESIS_HASH,
    ...spec,
  };
}

/** Recompute hash = chainHash(prevHash, envelope) for an event (prevHash as given). */
export function sealed(e: RecordedEvent): RecordedEvent {
  return { ...e, hash: chainHash(e.prevHash, hashedEnvelope(e)) };
}

/**
 * A valid hash chain for one stream: positions 1..n, GENESIS_HASH as the first prev_hash,
 * each event linked to the previous one's hash.
 */
export function buildChain(streamId: string, payloads: readonly unknown[], firstGlobalPosition = 1, tenantId: string | null = null): RecordedEvent[] {
  const out: RecordedEvent[] = [];
  let prev = GENESIS_HASH;
  payloads.forEach((data, i) => {
    const e = sealed(
      recorded({
        streamId,
        streamPosition: i + 1,
        globalPosition: firstGlobalPosition + i,
        type: 'ThingHappened',
        tenantId,
        data,
        recordedAt: `2026-01-01T00:00:0${i % 10}.000Z`,
        prevHash: prev,
      }),
    );
    out.push(e);
    prev = e.hash;
  });
  return out;
}
