import { backlogAt } from '../../src/data-plane/outbox/backlog-history';
import { bucketRollups, emptyRollup } from '../../src/data-plane/telemetry/telemetry';
import { burnSeries, burnSummary } from '../../src/alerting/burn-series';

const H = (h: number) => `2026-12-05T${String(h).padStart(2, '0')}:00:00.000Z`;

describe('backlogAt (outbox backlog over time)', () => {
  it('given jobs open at the start, created and finished per bucket, gives the backlog at the end of each asked bucket', () => {
    const h = { initial: 2, created: [{ t: H(1), n: 5 }, { t: H(3), n: 1 }], left: [{ t: H(2), n: 4 }, { t: H(3), n: 3 }] };
    expect([...backlogAt(h, [H(0), H(1), H(2), H(3), H(4)])]).toEqual([
      [H(0), 2],
      [H(1), 7],
      [H(2), 3],
      [H(3), 1],
      [H(4), 1],
    ]);
  });

  it('given buckets with no traffic asked in between, still counts the jobs of the buckets not asked for', () => {
    const h = { initial: 0, created: [{ t: H(1), n: 3 }], left: [{ t: H(2), n: 1 }] };
    expect(backlogAt(h, [H(3)]).get(H(3))).toBe(2);
  });

  it('never reports a negative backlog (a replayed job that left twice)', () => {
    expect(backlogAt({ initial: 0, created: [], left: [{ t: H(1), n: 1 }] }, [H(1)]).get(H(1))).toBe(0);
  });
});

describe('bucketRollups', () => {
  it('sums minute rollups per hour in time order', () => {
    const r = (total: number) => ({ ...emptyRollup(), total, status_2xx: total });
    const rows = [
      { t: '2026-12-05T02:10:00.000Z', ...r(2) },
      { t: '2026-12-05T01:59:00.000Z', ...r(1) },
      { t: '2026-12-05T02:40:00.000Z', ...r(3) },
    ];
    expect(bucketRollups(rows, 'hour').map((b) => [b.t, b.rollup.total])).toEqual([
      [H(1), 1],
      [H(2), 5],
    ]);
    expect(bucketRollups(rows, 'minute')).toHaveLength(3);
  });
});

describe('burnSeries and burnSummary (error-budget burn against the effective SLO)', () => {
  const slo = { availability_target: 0.99, latency_threshold_ms: 250, latency_target: 0.9 };
  const rollup = { ...emptyRollup(), total: 100, status_2xx: 87, status_429: 10, status_5xx: 3, buckets: [0, 0, 0, 0, 80, 0, 20, 0, 0, 0, 0] };

  it('given 3 failed, 10 throttled and 20 slow of 100, burns availability at 3 and latency at 2 (throttling is not counted)', () => {
    expect(burnSeries([{ t: H(1), rollup }], slo)).toEqual([{ start: H(1), requests: 100, availability: { bad: 3, burn: 3 }, latency: { slow: 20, burn: 2 } }]);
  });

  it('given no traffic, burns nothing', () => {
    expect(burnSummary(emptyRollup(), slo, 3600)).toEqual({ requests: 0, availability: { bad: 0, burn: 0, budget_consumed: 0 }, latency: { slow: 0, burn: 0, budget_consumed: 0 } });
  });

  it('given a burn of 1 over 30 days, consumes exactly the budget', () => {
    const one = { ...emptyRollup(), total: 100, status_5xx: 1, buckets: [100, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] };
    expect(burnSummary(one, slo, 30 * 86_400).availability).toEqual({ bad: 1, burn: 1, budget_consumed: 1 });
  });
});
