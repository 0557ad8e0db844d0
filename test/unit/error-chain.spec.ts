import { runInNewContext } from 'node:vm';
import { errorChain } from '../../src/platform/errors/error-chain';

/** What Node's fetch throws when nothing listens: "fetch failed", the reason in `cause`. */
function fetchFailed(cause: unknown): TypeError {
  return new TypeError('fetch failed', { cause });
}

function systemError(message: string, fields: Record<string, unknown>): Error {
  return Object.assign(new Error(message), fields);
}

describe('errorChain: the root cause, not only "fetch failed"', () => {
  it('follows cause down to the system error', () => {
    const refused = systemError('connect ECONNREFUSED 127.0.0.1:9', { code: 'ECONNREFUSED', address: '127.0.0.1', port: 9 });
    expect(errorChain(new Error('embedding request failed', { cause: fetchFailed(refused) }))).toBe('embedding request failed: fetch failed: connect ECONNREFUSED 127.0.0.1:9');
  });

  it('lists each address of an AggregateError once (localhost tried as ::1 and 127.0.0.1)', () => {
    const agg = new AggregateError(
      [systemError('connect ECONNREFUSED ::1:9', { code: 'ECONNREFUSED' }), systemError('connect ECONNREFUSED 127.0.0.1:9', { code: 'ECONNREFUSED' }), systemError('connect ECONNREFUSED 127.0.0.1:9', {})],
      '',
    );
    Object.assign(agg, { code: 'ECONNREFUSED' });
    expect(errorChain(fetchFailed(agg))).toBe('fetch failed: ECONNREFUSED: connect ECONNREFUSED ::1:9; connect ECONNREFUSED 127.0.0.1:9');
  });

  it('names a message-less system error by its code and address; plain values and a lone error as they are', () => {
    expect(errorChain(fetchFailed(systemError('', { code: 'ETIMEDOUT', address: '10.0.0.1', port: 443 })))).toBe('fetch failed: ETIMEDOUT 10.0.0.1:443');
    expect(errorChain(new Error('provider down'))).toBe('provider down');
    expect(errorChain('text')).toBe('text');
  });

  it('skips a cause already said, and stops at a cycle', () => {
    const a = new Error('outer: inner detail', { cause: new Error('inner detail') });
    expect(errorChain(a)).toBe('outer: inner detail');
    const loop = new Error('loop');
    (loop as { cause?: unknown }).cause = loop;
    expect(errorChain(loop)).toBe('loop');
  });
});

describe('errorChain across realms', () => {
  it('reads an error made in another VM context (instanceof Error is false there)', () => {
    const foreign = runInNewContext("new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }) })") as unknown;
    expect(foreign instanceof Error).toBe(false);
    expect(errorChain(foreign)).toBe('fetch failed: connect ECONNREFUSED 127.0.0.1:9');
  });
});
