import {
  alertKey,
  burnRate,
  burnRateObservations,
  type EvaluationInput,
  type EvaluationPolicy,
  evaluate,
  type Observation,
  type OpenAlert,
  type WindowAggregate,
  type WindowAggregates,
  WINDOW_PAIRS,
} from '../../src/alerting/burn-rate';
import { TIER_SLOS } from '../../src/alerting/slo';

/**
 * The alert evaluation as pure functions, given/when/then: given window aggregates (and the open
 * alerts), when evaluated at an instant, then these alerts fire or resolve.
 */

const SLO = TIER_SLOS.growth; // availability 99.5 %: error budget 0.5 %
const quiet: WindowAggregate = { total: 0, errors: 0, slow: 0 };
const traffic = (total: number, errorRatio: number, slowRatio = 0): WindowAggregate => ({ total, errors: Math.round(total * errorRatio), slow: Math.round(total * slowRatio) });
const windows = (w: Partial<WindowAggregates>): WindowAggregates => ({ '5m': quiet, '30m': quiet, '1h': quiet, '6h': quiet, '3d': quiet, ...w });
/** An error ratio that burns the growth budget at `x` times. */
const burning = (x: number): number => x * (1 - SLO.availability_target);

const POLICY: EvaluationPolicy = { minFiringMs: 5 * 60_000, resolveDelayMs: 5 * 60_000, refireHoldMs: 10 * 60_000 };
const T0 = Date.parse('2026-12-05T10:00:00.000Z');
const at = (minutes: number): string => new Date(T0 + minutes * 60_000).toISOString();

function given(w: WindowAggregates, state: { open?: OpenAlert[]; lastResolved?: Record<string, string>; clearSince?: Record<string, string> } = {}) {
  return {
    whenEvaluatedAt(minutes: number, policy: EvaluationPolicy = POLICY) {
      const input: EvaluationInput = {
        now: at(minutes),
        observations: burnRateObservations('acme', SLO, w, 20),
        open: state.open ?? [],
        lastResolved: state.lastResolved ?? {},
        clearSince: state.clearSince ?? {},
        policy,
      };
      return evaluate(input);
    },
  };
}
const fired = (r: ReturnType<typeof evaluate>) => r.decisions.filter((d) => d.kind === 'fire').map((d) => d.rule).sort();
const resolved = (r: ReturnType<typeof evaluate>) => r.decisions.filter((d) => d.kind === 'resolve').map((d) => d.rule).sort();

describe('burn rate', () => {
  it('is the error ratio over the error budget, and 0 without traffic', () => {
    expect(burnRate(5, 1000, 0.995)).toBeCloseTo(1);
    expect(burnRate(72, 1000, 0.995)).toBeCloseTo(14.4);
    expect(burnRate(0, 0, 0.995)).toBe(0);
  });
});

describe('multiwindow, multi-burn-rate alerts (SRE workbook pairs)', () => {
  it('the pairs are 1 h/5 min at 14.4x and 6 h/30 min at 6x (page), 3 d/6 h at 1x (ticket)', () => {
    expect(WINDOW_PAIRS.map((p) => `${p.long}/${p.short}@${p.factor}:${p.severity}`)).toEqual(['1h/5m@14.4:page', '6h/30m@6:page', '3d/6h@1:ticket']);
  });

  describe('fast burn (1 h with 5 min at 14.4x)', () => {
    it('given both windows burning at 15x, when evaluated, then the page fires with the numbers', () => {
      const r = given(windows({ '5m': traffic(100, burning(15)), '1h': traffic(1000, burning(15)) })).whenEvaluatedAt(0);
      expect(fired(r)).toEqual(['slo-availability-fast-burn']);
      const d = r.decisions[0]!;
      expect(d).toMatchObject({ kind: 'fire', tenant_id: 'acme', severity: 'page' });
      expect(d.numbers).toMatchObject({ sli: 'availability', target: 0.995, factor: 14.4, long_window: '1h', short_window: '5m', requests_long: 1000, bad_long: 75, burn_rate_long: 15 });
    });
    it('given the long window burning but the short one recovered, then nothing fires (the burn has stopped)', () => {
      expect(fired(given(windows({ '5m': traffic(100, 0), '1h': traffic(1000, burning(15)) })).whenEvaluatedAt(0))).toEqual([]);
    });
    it('given a short spike the long window does not confirm, then nothing fires', () => {
      expect(fired(given(windows({ '5m': traffic(100, burning(20)), '1h': traffic(1000, burning(2)) })).whenEvaluatedAt(0))).toEqual([]);
    });
    it('given fewer requests than the minimum in the long window, then nothing fires', () => {
      expect(fired(given(windows({ '5m': traffic(10, 1), '1h': traffic(10, 1) })).whenEvaluatedAt(0))).toEqual([]);
    });
  });

  describe('medium burn (6 h with 30 min at 6x)', () => {
    it('given both windows burning at 7x, then the page fires; 5x fires nothing', () => {
      expect(fired(given(windows({ '30m': traffic(500, burning(7)), '6h': traffic(6000, burning(7)) })).whenEvaluatedAt(0))).toEqual(['slo-availability-medium-burn']);
      expect(fired(given(windows({ '30m': traffic(500, burning(5)), '6h': traffic(6000, burning(5)) })).whenEvaluatedAt(0))).toEqual([]);
    });
  });

  describe('slow burn (3 d with 6 h at 1x, ticket)', () => {
    it('given both windows burning at 1.2x, then a ticket fires', () => {
      const r = given(windows({ '6h': traffic(6000, burning(1.2)), '3d': traffic(72_000, burning(1.2)) })).whenEvaluatedAt(0);
      expect(fired(r)).toEqual(['slo-availability-slow-burn']);
      expect(r.decisions[0]).toMatchObject({ severity: 'ticket' });
    });
  });

  describe('latency', () => {
    it('given 20 % of requests slower than the threshold in 1 h and 5 min (budget 1 %), then the latency page fires', () => {
      const r = given(windows({ '5m': traffic(100, 0, 0.2), '1h': traffic(1000, 0, 0.2) })).whenEvaluatedAt(0);
      expect(fired(r)).toEqual(['slo-latency-fast-burn']);
      expect(r.decisions[0]!.numbers).toMatchObject({ sli: 'latency', latency_threshold_ms: SLO.latency_threshold_ms, target: SLO.latency_target });
    });
  });

  describe('deduplication', () => {
    it('given the alert is already open, when it still burns, then nothing new fires', () => {
      const open: OpenAlert[] = [{ alert_id: 'a1', rule: 'slo-availability-fast-burn', tenant_id: 'acme', fired_at: at(0) }];
      expect(given(windows({ '5m': traffic(100, burning(15)), '1h': traffic(1000, burning(15)) }), { open }).whenEvaluatedAt(1).decisions).toEqual([]);
    });
  });

  describe('recovery', () => {
    const open: OpenAlert[] = [{ alert_id: 'a1', rule: 'slo-availability-fast-burn', tenant_id: 'acme', fired_at: at(0) }];
    const recovered = windows({ '5m': traffic(100, 0), '1h': traffic(1000, burning(10)) });
    it('given an open alert whose condition just cleared, then it does not resolve yet, and remembers since when it is clear', () => {
      const r = given(recovered, { open }).whenEvaluatedAt(10);
      expect(r.decisions).toEqual([]);
      expect(r.clearSince).toEqual({ [alertKey('slo-availability-fast-burn', 'acme')]: at(10) });
    });
    it('given it has been clear for the resolve delay, then it resolves with the numbers it resolved on', () => {
      const r = given(recovered, { open, clearSince: { [alertKey('slo-availability-fast-burn', 'acme')]: at(10) } }).whenEvaluatedAt(15);
      expect(resolved(r)).toEqual(['slo-availability-fast-burn']);
      expect(r.decisions[0]).toMatchObject({ kind: 'resolve', alert_id: 'a1', tenant_id: 'acme' });
      expect(r.decisions[0]!.numbers).toMatchObject({ burn_rate_short: 0 });
      expect(r.clearSince).toEqual({});
    });
    it('given the tenant has no traffic left at all, then the open alert resolves after the delay too', () => {
      const r = given(windows({}), { open, clearSince: { [alertKey('slo-availability-fast-burn', 'acme')]: at(0) } }).whenEvaluatedAt(10);
      expect(resolved(r)).toEqual(['slo-availability-fast-burn']);
    });
  });

  describe('flapping suppressed', () => {
    const key = alertKey('slo-availability-fast-burn', 'acme');
    const burningNow = windows({ '5m': traffic(100, burning(15)), '1h': traffic(1000, burning(15)) });
    const clearNow = windows({ '5m': traffic(100, 0), '1h': traffic(1000, burning(15)) });
    it('given a burn that blips off and on again within the resolve delay, then the alert stays one alert and the clear clock restarts', () => {
      const open: OpenAlert[] = [{ alert_id: 'a1', rule: 'slo-availability-fast-burn', tenant_id: 'acme', fired_at: at(0) }];
      const off = given(clearNow, { open }).whenEvaluatedAt(6);
      expect(off.decisions).toEqual([]);
      const on = given(burningNow, { open, clearSince: off.clearSince }).whenEvaluatedAt(8);
      expect(on.decisions).toEqual([]);
      expect(on.clearSince).toEqual({});
      const offAgain = given(clearNow, { open, clearSince: on.clearSince }).whenEvaluatedAt(9);
      expect(offAgain.decisions).toEqual([]);
      expect(offAgain.clearSince[key]).toBe(at(9));
    });
    it('given an alert that fired a minute ago, then it does not resolve before the minimum firing time even when clear long enough', () => {
      const open: OpenAlert[] = [{ alert_id: 'a1', rule: 'slo-availability-fast-burn', tenant_id: 'acme', fired_at: at(0) }];
      const r = given(clearNow, { open, clearSince: { [key]: at(0) } }).whenEvaluatedAt(1, { ...POLICY, resolveDelayMs: 0 });
      expect(r.decisions).toEqual([]);
    });
    it('given a resolution minutes ago, when it burns again within the re-fire hold, then it does not fire; after the hold it does', () => {
      expect(given(burningNow, { lastResolved: { [key]: at(0) } }).whenEvaluatedAt(5).decisions).toEqual([]);
      expect(fired(given(burningNow, { lastResolved: { [key]: at(0) } }).whenEvaluatedAt(11))).toEqual(['slo-availability-fast-burn']);
    });
  });

  describe('platform observations', () => {
    it('given a platform observation that breaches, then a platform alert (no tenant) fires; when clear past the delay, it resolves', () => {
      const obs = (breaching: boolean): Observation => ({ rule: 'dead-letters', tenant_id: null, severity: 'ticket', breaching, numbers: { dead_letters: breaching ? 3 : 0 } });
      const base = { lastResolved: {}, clearSince: {}, policy: POLICY };
      const fire = evaluate({ ...base, now: at(0), observations: [obs(true)], open: [] });
      expect(fire.decisions).toEqual([{ kind: 'fire', rule: 'dead-letters', tenant_id: null, severity: 'ticket', numbers: { dead_letters: 3 } }]);
      const open = [{ alert_id: 'p1', rule: 'dead-letters', tenant_id: null, fired_at: at(0) }];
      const r = evaluate({ ...base, now: at(10), observations: [obs(false)], open, clearSince: { [alertKey('dead-letters', null)]: at(4) } });
      expect(r.decisions).toEqual([{ kind: 'resolve', alert_id: 'p1', rule: 'dead-letters', tenant_id: null, numbers: { dead_letters: 0 } }]);
    });
  });
});
