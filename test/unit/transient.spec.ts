import { retryTransient, sqlStateIn } from '../../src/platform/db/transient';
import { toAppError } from '../../src/platform/errors/problem';

const pgError = (code: string, message = `pg ${code}`) => Object.assign(new Error(message), { code });
const noSleep = { sleep: () => Promise.resolve(), random: () => 0.5 };
/** Work that always fails with this SQLSTATE, counting its calls. */
function failing(code: string, message?: string): { (): Promise<never>; calls: number } {
  const work = Object.assign(() => {
    work.calls += 1;
    return Promise.reject(pgError(code, message));
  }, { calls: 0 });
  return work;
}

describe('retryTransient', () => {
  it('given a deadlock victim, when the work runs again, then its result is the answer', async () => {
    const seen: string[] = [];
    let calls = 0;
    const out = await retryTransient(
      () => {
        calls += 1;
        if (calls < 3) return Promise.reject(pgError(calls === 1 ? '40P01' : '40001'));
        return Promise.resolve('committed');
      },
      { ...noSleep, onRetry: (code) => seen.push(code) },
    );
    expect(out).toBe('committed');
    expect(seen).toStrictEqual(['40P01', '40001']);
  });

  it('never retries other errors: a constraint violation or a plain error is thrown at once', async () => {
    const work = failing('23505');
    await expect(retryTransient(work, noSleep)).rejects.toMatchObject({ code: '23505' });
    expect(work.calls).toBe(1);
    await expect(retryTransient(() => Promise.reject(new Error('boom')), noSleep)).rejects.toThrow('boom');
  });

  it('gives up after the attempts and throws the last error', async () => {
    const work = failing('53300', 'sorry, too many clients already');
    await expect(retryTransient(work, { ...noSleep, attempts: 3 })).rejects.toThrow('too many clients');
    expect(work.calls).toBe(3);
  });

  it('retries only the codes asked for', async () => {
    const work = failing('40P01');
    await expect(retryTransient(work, { ...noSleep, codes: new Set(['53300']) })).rejects.toMatchObject({ code: '40P01' });
    expect(work.calls).toBe(1);
  });

  it('backs off exponentially with jitter', async () => {
    const waits: number[] = [];
    await expect(
      retryTransient(failing('40001'), { attempts: 4, baseMs: 100, random: () => 1, sleep: (ms) => (waits.push(ms), Promise.resolve()) }),
    ).rejects.toBeDefined();
    expect(waits).toStrictEqual([100, 200, 400]);
  });
});

describe('transient database errors at the edge', () => {
  it('are 503 service_unavailable with a Retry-After, still logged as our fault', () => {
    expect(sqlStateIn(pgError('57P03'))).toBe('57P03');
    expect(sqlStateIn(pgError('23505'))).toBeUndefined();
    const { error, internal } = toAppError(pgError('53300', 'sorry, too many clients already'));
    expect(internal).toBe(true);
    expect(error.code).toBe('service_unavailable');
    expect(error.details).toMatchObject({ retry_after_ms: 1000 });
    expect(toAppError(pgError('23505')).error.code).toBe('internal_error');
  });
});
