import {
  commandIdOf,
  eventMetadata,
  idempotentCommandId,
  naturalCommandId,
  newCommandId,
  requestCommandContext,
  systemCommandContext,
} from '../../src/platform/event-store/command-context';
import type { Actor } from '../../src/platform/event-store/event-store';
import * as shared from '../../src/control-plane/shared/command-handling';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}';
const alice: Actor = { type: 'operator', id: 'op_alice', display: 'Alice' };
const scheduler: Actor = { type: 'system', id: 'governance-scheduler' };
const instant = new Date('2026-02-03T04:05:06.789Z');

describe('systemCommandContext', () => {
  it('builds a full context for a command the service issues itself', () => {
    // given an actor, a correlation id and a fixed clock
    // when the service builds its own command context
    const ctx = systemCommandContext({ actor: scheduler, correlationId: 'governance-schedule-20260202T000000000Z', now: () => instant });
    // then it carries them, and nothing a client request would
    expect(ctx).toEqual({
      actor: scheduler,
      requestId: null,
      correlationId: 'governance-schedule-20260202T000000000Z',
      causationId: null,
      idempotencyKey: null,
      expectedRevision: null,
      sourceIp: null,
      userAgent: null,
      now: expect.any(Function),
    });
    expect(ctx.now()).toBe(instant);
    expect(ctx.requestedAt).toBeUndefined();
  });

  it('starts its own correlation and reads the wall clock when given neither', () => {
    // given only an actor
    const before = Date.now();
    // when two contexts are built
    const a = systemCommandContext({ actor: alice });
    const b = systemCommandContext({ actor: alice });
    // then each has a fresh correlation id and the clock is the wall clock
    expect(a.correlationId).toMatch(new RegExp(`^${UUID}$`));
    expect(b.correlationId).not.toBe(a.correlationId);
    expect(a.now().getTime()).toBeGreaterThanOrEqual(before);
    expect(a.now().getTime()).toBeLessThanOrEqual(Date.now());
  });

  it('keeps the request and causation ids a caller passes (an operator action from an HTTP request)', () => {
    // given the ids of the request that caused the command
    // when the context is built with them
    const ctx = systemCommandContext({ actor: alice, requestId: 'req-42', correlationId: 'corr-7', causationId: 'evt-1' });
    // then they end up in the event's metadata
    const m = eventMetadata(ctx, 'cmd:x');
    expect([m.request_id, m.correlation_id, m.causation_id]).toEqual(['req-42', 'corr-7', 'evt-1']);
  });
});

describe('requestCommandContext', () => {
  it('takes the actor, the ids, the source and the arrival time from the request, but no idempotency key or revision', () => {
    // given the facts of an HTTP request
    const request = { requestId: 'req-1', correlationId: 'corr-1', sourceIp: '203.0.113.7', userAgent: 'curl/8.5', receivedAt: instant };
    // when an event it causes gets a context
    const ctx = requestCommandContext(request, alice, { now: () => instant });
    // then
    expect(ctx).toEqual({
      actor: alice,
      requestId: 'req-1',
      correlationId: 'corr-1',
      causationId: null,
      idempotencyKey: null,
      expectedRevision: null,
      sourceIp: '203.0.113.7',
      userAgent: 'curl/8.5',
      now: expect.any(Function),
      requestedAt: instant,
    });
  });
});

describe('eventMetadata', () => {
  it('builds the envelope from the context and the command id, dated by the injected clock', () => {
    // given a request context whose clock is fixed
    const ctx = requestCommandContext({ requestId: 'req-1', correlationId: 'corr-1', sourceIp: '198.51.100.1', userAgent: 'ua' }, alice, { now: () => instant });
    // when the metadata of its events is built
    const m = eventMetadata(ctx, 'cmd:11111111-1111-4111-8111-111111111111');
    // then every field comes from the context
    expect(m).toEqual({
      actor: alice,
      occurred_at: '2026-02-03T04:05:06.789Z',
      correlation_id: 'corr-1',
      causation_id: null,
      request_id: 'req-1',
      command_id: 'cmd:11111111-1111-4111-8111-111111111111',
      source_ip: '198.51.100.1',
      user_agent: 'ua',
    });
  });

  it('asks the clock at each call (a context serves several appends)', () => {
    // given a clock that advances
    let t = instant.getTime();
    const ctx = systemCommandContext({ actor: scheduler, now: () => new Date((t += 1000)) });
    // when two appends take their metadata from it
    const first = eventMetadata(ctx, newCommandId());
    const second = eventMetadata(ctx, newCommandId());
    // then each is dated when it was made, under one correlation id
    expect([first.occurred_at, second.occurred_at]).toEqual(['2026-02-03T04:05:07.789Z', '2026-02-03T04:05:08.789Z']);
    expect(second.correlation_id).toBe(first.correlation_id);
  });

  it('is the same function through the control plane re-export', () => {
    // given the control plane's import path
    // then it names the platform builders
    expect(shared.eventMetadata).toBe(eventMetadata);
    expect(shared.systemCommandContext).toBe(systemCommandContext);
  });
});

describe('command ids', () => {
  it('are cmd:<uuid> for a one-off command, fresh every time', () => {
    // when two ids are made
    const a = newCommandId();
    const b = newCommandId();
    // then
    expect(a).toMatch(new RegExp(`^cmd:${UUID}$`));
    expect(b).not.toBe(a);
  });

  it('are idem:<sha256> for a client Idempotency-Key, scoped to the actor and the command type', () => {
    // given one key used by two actors and for two command types
    const id = idempotentCommandId(alice, 'CreateTenant', 'k-1');
    // then the id is stable for the same triple and differs for any other
    expect(id).toMatch(/^idem:[0-9a-f]{64}$/);
    expect(idempotentCommandId(alice, 'CreateTenant', 'k-1')).toBe(id);
    expect(idempotentCommandId({ ...alice, id: 'op_bob' }, 'CreateTenant', 'k-1')).not.toBe(id);
    expect(idempotentCommandId(alice, 'SuspendTenant', 'k-1')).not.toBe(id);
  });

  it('follow the context: its Idempotency-Key if it has one, else a fresh id', () => {
    // given a context with an Idempotency-Key and one without
    const keyed = { ...requestCommandContext({ requestId: 'r', correlationId: 'c', sourceIp: null, userAgent: null }, alice), idempotencyKey: 'k-1' };
    const plain = systemCommandContext({ actor: alice });
    // then
    expect(commandIdOf(keyed, 'CreateTenant')).toBe(idempotentCommandId(alice, 'CreateTenant', 'k-1'));
    expect(commandIdOf(plain, 'CreateTenant')).toMatch(new RegExp(`^cmd:${UUID}$`));
  });

  it('are <scope>:<key> for work with a natural idempotency key, the same every time', () => {
    // given the scheduler's period
    const period = '2026-02-02T00:00:00.000Z';
    // then its claim has one id, whoever computes it
    expect(naturalCommandId('governance-schedule', `${period}:claim`)).toBe('governance-schedule:2026-02-02T00:00:00.000Z:claim');
    expect(naturalCommandId('governance-schedule', `${period}:claim`)).toBe(naturalCommandId('governance-schedule', `${period}:claim`));
  });

  it('refuse a natural id that could collide with the generated forms', () => {
    expect(() => naturalCommandId('cmd', 'x')).toThrow(/scope/);
    expect(() => naturalCommandId('idem', 'x')).toThrow(/scope/);
    expect(() => naturalCommandId('Bad Scope', 'x')).toThrow(/scope/);
    expect(() => naturalCommandId('governance-schedule', '')).toThrow(/key/);
  });
});
