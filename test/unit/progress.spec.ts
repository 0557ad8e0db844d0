import { ProgressReporter, StepProgress } from '../../src/ops/cli/progress';

/** A stand-in for process.stderr: only `isTTY` and `write` are used. */
function stream(isTTY: boolean): { writes: string[]; s: NodeJS.WriteStream } {
  const writes: string[] = [];
  return { writes, s: { isTTY, write: (chunk: string) => writes.push(chunk) > 0 } as unknown as NodeJS.WriteStream };
}

describe('progress of long operations', () => {
  it('redraws one bar with events/s and ETA on a terminal', () => {
    const { writes, s } = stream(true);
    const p = new ProgressReporter('projections:rebuild', s);
    p.update({ label: 'audit/build', done: 250, total: 1000, ratePerSecond: 500, etaSeconds: 2 });
    p.update({ label: 'audit/build', done: 1000, total: 1000, ratePerSecond: 500, etaSeconds: 0 }, true);
    expect(writes[0]).toMatch(/^\rprojections:rebuild audit\/build \[#{8}-{22}\] 25% 250 ev, 500 ev\/s, ETA 2s/);
    expect(writes[1]).toContain('100%');
    expect(writes.at(-1)).toBe('\n');
  });

  it('writes at most one JSON line per interval otherwise, and always the final one', () => {
    const { writes, s } = stream(false);
    const p = new ProgressReporter('audit:replay', s, 60_000);
    p.update({ label: 'acme', done: 1, total: 3, ratePerSecond: 10, etaSeconds: 1 });
    p.update({ label: 'acme', done: 2, total: 3, ratePerSecond: 10, etaSeconds: 1 });
    p.update({ label: 'acme', done: 3, total: 3, ratePerSecond: 10, etaSeconds: 0 }, true);
    expect(writes.map((w) => JSON.parse(w) as { done: number })).toEqual([
      { progress: 'audit:replay', label: 'acme', done: 1, total: 3, events_per_s: 10, eta_s: 1 },
      { progress: 'audit:replay', label: 'acme', done: 3, total: 3, events_per_s: 10, eta_s: 0 },
    ]);
  });
});

describe('progress of a run of known steps', () => {
  it('writes one JSON line per step started, and a final one, otherwise', () => {
    const { writes, s } = stream(false);
    const p = new StepProgress('gate:core:prod', 2, s);
    p.step('typecheck');
    p.step('build');
    p.finish();
    expect(writes.map((w) => JSON.parse(w) as Record<string, unknown>).map(({ elapsed_ms: _e, ...rest }) => rest)).toEqual([
      { progress: 'gate:core:prod', step: 'typecheck', done: 0, total: 2 },
      { progress: 'gate:core:prod', step: 'build', done: 1, total: 2 },
      { progress: 'gate:core:prod', step: 'done', done: 2, total: 2 },
    ]);
  });

  it('writes a readable line per step on a terminal', () => {
    const { writes, s } = stream(true);
    const p = new StepProgress('preflight:hosted', 2, s);
    p.step('database checks');
    p.step('server checks');
    expect(writes).toEqual([expect.stringMatching(/^preflight:hosted \[1\/2\] database checks \(\d+s\)\n$/), expect.stringMatching(/^preflight:hosted \[2\/2\] server checks/)]);
  });
});
