import { firingAlertSeries } from '../../src/alerting/alert-metrics';
import { ALERT_RULES } from '../../src/alerting/rules';

describe('aionis_alerts_firing series (firingAlertSeries)', () => {
  it('given nothing firing, reports every rule the evaluator runs at 0 (no series goes stale after a resolution)', () => {
    const series = firingAlertSeries([]);
    expect(series).toHaveLength(ALERT_RULES.length);
    expect(series.every((s) => s.firing === 0)).toBe(true);
    expect(new Set(series.map((s) => s.rule))).toEqual(new Set(ALERT_RULES.map((r) => r.rule)));
  });

  it('given firing counts, reports them on their rule and severity and keeps the other rules at 0', () => {
    const series = firingAlertSeries([
      { rule: 'slo-availability-fast-burn', severity: 'page', firing: 3 },
      { rule: 'dead-letters', severity: 'ticket', firing: 1 },
    ]);
    expect(series.find((s) => s.rule === 'slo-availability-fast-burn')).toEqual({ rule: 'slo-availability-fast-burn', severity: 'page', firing: 3 });
    expect(series.find((s) => s.rule === 'dead-letters')).toEqual({ rule: 'dead-letters', severity: 'ticket', firing: 1 });
    expect(series.filter((s) => s.firing > 0)).toHaveLength(2);
  });

  it('given a firing alert of a rule this release no longer runs, still reports it (it is open until resolved)', () => {
    const series = firingAlertSeries([{ rule: 'retired-rule', severity: 'page', firing: 1 }]);
    expect(series).toHaveLength(ALERT_RULES.length + 1);
    expect(series.find((s) => s.rule === 'retired-rule')?.firing).toBe(1);
  });
});
