import { csrfMatches, csrfToken, sessionCookie, sessionHash, sessionKey } from '../../src/control-plane/operators/session-credentials';
import { type OperatorSignedIn, sessionDecider, type SignIn } from '../../src/control-plane/operators/session.domain';
import { deciderSpec } from './support/decider-spec';

const given = deciderSpec(sessionDecider);
const signIn: SignIn = { type: 'SignIn', session_key: 'k1', operator_id: 'op_alice', role: 'operator', idle_timeout_seconds: 1800, expires_at: '2026-01-01T12:00:00.000Z' };
const signedIn: OperatorSignedIn = { type: 'OperatorSignedIn', data: { session_key: 'k1', operator_id: 'op_alice', role: 'operator', idle_timeout_seconds: 1800, expires_at: '2026-01-01T12:00:00.000Z' } };

describe('console session decider', () => {
  it('signs in on a new session stream, without the command type in the data', () => {
    given([]).when(signIn).then([signedIn]);
  });
  it('never reopens a session id', () => {
    given([signedIn]).when(signIn).thenThrows('concurrency_conflict');
  });
  it('signs out an open session once; again, or by another operator, records nothing', () => {
    const out = { type: 'SignOut', session_key: 'k1', operator_id: 'op_alice' } as const;
    given([signedIn]).when(out).then([{ type: 'OperatorSignedOut', data: { session_key: 'k1', operator_id: 'op_alice' } }]);
    given([signedIn, { type: 'OperatorSignedOut', data: { session_key: 'k1', operator_id: 'op_alice' } }]).when(out).then([]);
    given([signedIn]).when({ ...out, operator_id: 'op_bob' }).then([]);
    given([]).when(out).then([]);
  });
});

describe('console session credentials', () => {
  const pepper = 'p'.repeat(32);
  it('keeps only digests: the hash and key reveal nothing of the id, and differ per pepper', () => {
    const h = sessionHash(pepper, 'abc');
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(sessionHash('q'.repeat(32), 'abc')).not.toBe(h);
    expect(sessionKey(h)).toBe(h.slice(0, 32));
  });
  it('accepts only the CSRF token of this session', () => {
    const token = csrfToken(pepper, 'id-1');
    expect(csrfMatches(pepper, 'id-1', token)).toBe(true);
    expect(csrfMatches(pepper, 'id-2', token)).toBe(false);
    expect(csrfMatches(pepper, 'id-1', undefined)).toBe(false);
    expect(csrfMatches(pepper, 'id-1', `${token}x`)).toBe(false);
    expect(csrfMatches(pepper, 'id-1', 'x'.repeat(500))).toBe(false);
  });
  it('reads the session cookie only when well-formed', () => {
    const id = 'A'.repeat(43);
    const req = (cookie?: string) => ({ header: (n: string) => (n === 'cookie' ? cookie : undefined) }) as never;
    expect(sessionCookie(req(`other=1; aionis_session=${id}`))).toBe(id);
    expect(sessionCookie(req('aionis_session=short'))).toBeUndefined();
    expect(sessionCookie(req(undefined))).toBeUndefined();
  });
});
