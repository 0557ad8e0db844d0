import type { Kysely, Transaction } from 'kysely';
import type { DB } from '../db/schema';

/** Who acted. Every event names one. */
export interface Actor {
  readonly type: 'operator' | 'api_key' | 'system';
  readonly id: string;
  readonly display?: string;
}

/** Envelope metadata: time, ids and the actor arrive with the command, so replay is deterministic. */
export interface EventMetadata {
  readonly actor: Actor;
  readonly occurred_at: string;
  readonly correlation_id: string;
  readonly causation_id: string | null;
  readonly request_id: string | null;
  readonly command_id: string | null;
  readonly source_ip?: string | null;
  readonly user_agent?: string | null;
}

export interface NewEvent {
  readonly type: string;
  readonly data: unknown;
  readonly schemaVersion?: number;
  /** Defaults to a random UUID. */
  readonly eventId?: string;
}

export interface RecordedEvent<Type extends string = string, Data = unknown> {
  readonly globalPosition: number;
  /** xid8 of the writing transaction, as a decimal string. */
  readonly transactionId: string;
  readonly streamId: string;
  /** 1 for the first event of a stream. */
  readonly streamPosition: number;
  readonly tenantId: string | null;
  readonly eventId: string;
  readonly type: Type;
  readonly schemaVersion: number;
  readonly data: Data;
  readonly metadata: EventMetadata;
  /** ISO-8601, millisecond precision, database clock. */
  readonly recordedAt: string;
  readonly prevHash: string;
  readonly hash: string;
}

/**
 * A position in the global log. Gap-safe readers order by (transactionId, globalPosition) and
 * must checkpoint the pair: the global position alone skips events committed out of order.
 */
export interface Checkpoint {
  readonly transactionId: string;
  readonly globalPosition: number;
}

export const START: Checkpoint = Object.freeze({ transactionId: '0', globalPosition: 0 });

export function compareCheckpoints(a: Checkpoint, b: Checkpoint): number {
  const ta = BigInt(a.transactionId);
  const tb = BigInt(b.transactionId);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a.globalPosition === b.globalPosition ? 0 : a.globalPosition < b.globalPosition ? -1 : 1;
}

export function checkpointOf(e: Pick<RecordedEvent, 'transactionId' | 'globalPosition'>): Checkpoint {
  return { transactionId: e.transactionId, globalPosition: e.globalPosition };
}

export function formatCheckpoint(c: Checkpoint): string {
  return `${c.transactionId}:${c.globalPosition}`;
}

export function parseCheckpoint(s: string): Checkpoint {
  const m = /^(\d{1,20}):(\d{1,16})$/.exec(s);
  if (!m) throw new Error(`invalid checkpoint "${s}" (expected <transaction id>:<global position>)`);
  return { transactionId: BigInt(m[1]!).toString(), globalPosition: Number(m[2]) };
}

/** any: no check; no_stream: the stream must not exist; a number: the stream's current revision must equal it. */
export type ExpectedRevision = 'any' | 'no_stream' | number;

export interface AppendOptions {
  readonly expectedRevision: ExpectedRevision;
  /** The tenant the stream belongs to (null for platform streams). Fixed at the stream's first append. */
  readonly tenantId: string | null;
  readonly metadata: EventMetadata;
  /** Run inside the caller's transaction (its commit makes the events visible). */
  readonly trx?: Transaction<DB> | Kysely<DB>;
}

export interface StreamAppend {
  readonly streamId: string;
  readonly events: readonly NewEvent[];
  readonly options: Omit<AppendOptions, 'trx'>;
}

export interface AppendResult {
  readonly streamId: string;
  /** Stream revision after the append (= stream position of its last event). */
  readonly nextRevision: number;
  readonly firstStreamPosition: number;
  readonly globalPositions: readonly number[];
  readonly transactionId: string;
  /** Checkpoint of the last appended event: a reader past it has seen the whole append. */
  readonly position: Checkpoint;
  /** True when this command id had already been appended: nothing new was written. */
  readonly duplicate: boolean;
}

export interface ReadAllOptions {
  readonly after: Checkpoint;
  readonly limit: number;
}

export interface SubscribeOptions {
  readonly from: Checkpoint;
  readonly batchSize?: number;
  readonly pollIntervalMs?: number;
  /** Called with each ordered batch. The subscription advances only after it resolves. */
  readonly handler: (events: readonly RecordedEvent[]) => Promise<void>;
  readonly name?: string;
}

export interface Subscription {
  /** Checkpoint of the last event whose batch the handler finished. */
  readonly position: Checkpoint;
  /** Resolves when stopped; rejects with the handler's error if the handler failed. */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

/** The event-store port. Adapters: PostgreSQL/PGlite (postgres-event-store.ts); EventStoreDB (later). */
export interface EventStore {
  append(streamId: string, events: readonly NewEvent[], options: AppendOptions): Promise<AppendResult>;
  /**
   * Several appends, all or none (one transaction), each with its own expected revision: the way a
   * decision that must hold across aggregates commits against a shared consistency boundary.
   * Streams are locked in the order given; every caller must give shared boundaries first.
   */
  appendAll(appends: readonly StreamAppend[]): Promise<AppendResult[]>;
  /** The ids of the streams whose id starts with `prefix`, in order (authoritative, unlike a read model). */
  streamIds(prefix: string): Promise<string[]>;
  readStream(streamId: string, options?: { fromPosition?: number; limit?: number }): Promise<RecordedEvent[]>;
  readAll(options: ReadAllOptions): Promise<RecordedEvent[]>;
  /** The result of an earlier append with this command id (duplicate: true), if there was one. */
  findAppend(commandId: string, streamId: string): Promise<AppendResult | undefined>;
  subscribe(options: SubscribeOptions): Subscription;
  /** The highest global position written (committed or not yet visible); 0 when empty. */
  headGlobalPosition(): Promise<number>;
}

export const EVENT_STORE = Symbol('EVENT_STORE');
export const GENESIS_HASH = '0'.repeat(64);
export const EVENTS_CHANNEL = 'aionis_events';
