import { createHash, randomUUID } from 'node:crypto';
import type { Actor, EventMetadata } from './event-store';

/**
 * The one way an event's envelope metadata is made: every append names a CommandContext (who
 * asked, when by its clock, and the ids that tie the events to a request) and a command id, and
 * `eventMetadata` turns the two into the metadata. Nothing else builds an `occurred_at` (an
 * ESLint rule holds this; see eslint.config.mjs).
 *
 * Contexts come from one of three builders:
 * - an HTTP command handled by a controller: `commandContext(req)` (control-plane/shared/http.ts),
 *   which also carries the client's Idempotency-Key and If-Match;
 * - an event a request causes without being a client command (e.g. a refusal, a drill):
 *   `requestCommandContext(request, actor)` (ids, source ip and user agent from the request);
 * - a command the service or a CLI issues itself: `systemCommandContext({ actor, ... })`; it also
 *   takes a request's ids when only those reach the code (e.g. a dead-letter replay in a transaction).
 *
 * Command ids (the event store's per-append deduplication key, recorded in es_commands):
 * - `cmd:<uuid>` (`newCommandId()`): a one-off command; the default.
 * - `idem:<sha256>` (`idempotentCommandId`): a client's Idempotency-Key, scoped to the actor and
 *   the command type, so a repeated request returns the first append and writes nothing.
 * - `<scope>:<natural key>` (`naturalCommandId`): only where the caller already has a natural
 *   idempotency key and a retry of the same work must be a no-op, e.g. the governance scheduler's
 *   period claim. A repeated append of such an id answers `duplicate: true` instead of writing (or
 *   failing on the expected revision): callers must treat a duplicate as "already done".
 */

/** Who asked, and the ids that tie the resulting events to the request. Built at the edge. */
export interface CommandContext {
  readonly actor: Actor;
  readonly requestId: string | null;
  readonly correlationId: string;
  readonly causationId: string | null;
  /** The client's Idempotency-Key, if any; scoped to the actor before use. */
  readonly idempotencyKey: string | null;
  /** If-Match: the revision the client last saw; a mismatch is a 412. */
  readonly expectedRevision: number | null;
  readonly sourceIp: string | null;
  readonly userAgent: string | null;
  /** The clock, injected so tests and replays are deterministic. */
  readonly now: () => Date;
  /** When the request arrived (absent for commands the service issues itself). */
  readonly requestedAt?: Date;
}

/** The envelope metadata of a command's events: actor, time and ids all from the command's context. */
export function eventMetadata(ctx: CommandContext, commandId: string): EventMetadata {
  return {
    actor: ctx.actor,
    occurred_at: ctx.now().toISOString(),
    correlation_id: ctx.correlationId,
    causation_id: ctx.causationId,
    request_id: ctx.requestId,
    command_id: commandId,
    source_ip: ctx.sourceIp,
    user_agent: ctx.userAgent,
  };
}

const systemClock = (): Date => new Date();

export interface SystemCommandOptions {
  readonly actor: Actor;
  /** Defaults to a fresh UUID (the command starts its own causal chain). */
  readonly correlationId?: string;
  readonly causationId?: string | null;
  readonly requestId?: string | null;
  /** The clock; defaults to the wall clock. Pass `() => instant` to date the events at a known instant. */
  readonly now?: () => Date;
}

/**
 * The context of a command the service or a CLI issues itself (no HTTP request): no
 * Idempotency-Key, no If-Match, no source ip or user agent.
 */
export function systemCommandContext(opts: SystemCommandOptions): CommandContext {
  return {
    actor: opts.actor,
    requestId: opts.requestId ?? null,
    correlationId: opts.correlationId ?? randomUUID(),
    causationId: opts.causationId ?? null,
    idempotencyKey: null,
    expectedRevision: null,
    sourceIp: null,
    userAgent: null,
    now: opts.now ?? systemClock,
  };
}

/** The request facts a context needs (a structural subset of platform/http's RequestContext). */
export interface RequestFacts {
  readonly requestId: string | null;
  readonly correlationId: string;
  readonly sourceIp: string | null;
  readonly userAgent: string | null;
  readonly receivedAt?: Date;
}

/**
 * The context of an event a request causes that is not itself a client command (so the client's
 * Idempotency-Key and If-Match do not apply): actor and ids from the request, wall clock.
 */
export function requestCommandContext(request: RequestFacts, actor: Actor, opts: { now?: () => Date; causationId?: string | null } = {}): CommandContext {
  return {
    actor,
    requestId: request.requestId,
    correlationId: request.correlationId,
    causationId: opts.causationId ?? null,
    idempotencyKey: null,
    expectedRevision: null,
    sourceIp: request.sourceIp,
    userAgent: request.userAgent,
    now: opts.now ?? systemClock,
    ...(request.receivedAt ? { requestedAt: request.receivedAt } : {}),
  };
}

/** A fresh command id for a one-off command: `cmd:<uuid>`. */
export function newCommandId(): string {
  return `cmd:${randomUUID()}`;
}

/** The command id of a client's Idempotency-Key: scoped to the actor and the command type. */
export function idempotentCommandId(actor: Actor, commandType: string, idempotencyKey: string): string {
  return `idem:${createHash('sha256').update(`${actor.type}:${actor.id}:${commandType}:${idempotencyKey}`).digest('hex')}`;
}

/** The command id of a context: its Idempotency-Key's if it has one, else a fresh one. */
export function commandIdOf(ctx: CommandContext, commandType: string): string {
  return ctx.idempotencyKey ? idempotentCommandId(ctx.actor, commandType, ctx.idempotencyKey) : newCommandId();
}

/**
 * A deterministic command id for work with a natural idempotency key: `<scope>:<key>`. The same
 * scope and key always give the same id, so appending it again is a no-op (`duplicate: true`).
 */
export function naturalCommandId(scope: string, key: string): string {
  if (!/^[a-z][a-z0-9-]*$/.test(scope) || scope === 'cmd' || scope === 'idem') throw new Error(`invalid command id scope "${scope}"`);
  if (key.length === 0) throw new Error('a natural command id needs a key');
  return `${scope}:${key}`;
}
