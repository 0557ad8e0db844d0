import { MONTH_CLOSE_HOLD_DAYS, telemetryPruneHorizon } from '../../src/data-plane/telemetry/telemetry';
import { isMonthClosed, monthBounds, monthClosedBy, sloCloseStreamId, summarizeClose, tenantsInScope } from '../../src/governance/slo-statements/month-close';
import { loadConfig } from '../../src/platform/config/config';

const ms = (iso: string) => Date.parse(iso);
const DAY = 86_400_000;

describe('SLO month close: which month is due', () => {
  it('a fire closes the calendar month before its own, across a year end', () => {
    expect(monthClosedBy(new Date('2026-12-01T00:15:00Z'))).toBe('2026-11');
    expect(monthClosedBy(new Date('2027-01-01T00:15:00Z'))).toBe('2026-12');
    expect(monthClosedBy(new Date('2026-03-31T23:59:00Z'))).toBe('2026-02');
    expect(monthBounds('2026-12')).toEqual({ start: ms('2026-12-01T00:00:00Z'), end: ms('2027-01-01T00:00:00Z') });
  });
  it('a month is closed 10 minutes after its end (when its statement stops being provisional), not before', () => {
    expect(isMonthClosed('2026-11', ms('2026-12-01T00:09:59.999Z'))).toBe(false);
    expect(isMonthClosed('2026-11', ms('2026-12-01T00:10:00Z'))).toBe(true);
  });
  it('each month has its own claim stream', () => {
    expect(sloCloseStreamId('2026-11')).toBe('slo-close-202611');
    expect(sloCloseStreamId('2026-12')).not.toBe(sloCloseStreamId('2026-11'));
  });
});

describe('SLO month close: which tenants are in scope', () => {
  it('every tenant created before the month ended (active or suspended alike), sorted; none created after', () => {
    const tenants = [
      { tenant_id: 'zeta', created_at: '2025-01-01T00:00:00.000Z' },
      { tenant_id: 'late', created_at: '2026-12-01T00:00:00.000Z' },
      { tenant_id: 'alpha', created_at: '2026-11-30T23:59:59.999Z' },
      { tenant_id: 'later', created_at: '2026-12-03T08:00:00.000Z' },
    ];
    expect(tenantsInScope(tenants, '2026-11')).toEqual(['alpha', 'zeta']);
    expect(tenantsInScope(tenants, '2026-12')).toEqual(['alpha', 'late', 'later', 'zeta']);
    expect(tenantsInScope([], '2026-11')).toEqual([]);
  });
  it('the summary counts outcomes and names each failed tenant with its reason', () => {
    const s = summarizeClose('2026-11', [
      { tenant_id: 'a', outcome: 'issued', bundle_id: 'b1' },
      { tenant_id: 'b', outcome: 'already_issued', bundle_id: 'b0' },
      { tenant_id: 'c', outcome: 'failed', error: 'archive not writable' },
    ]);
    expect(s).toEqual({ month: '2026-11', tenants: 3, issued: 1, already_issued: 1, failed: [{ tenant_id: 'c', error: 'archive not writable' }] });
  });
});

describe('telemetry prune horizon: a closed month is held for its statement', () => {
  it('never prunes inside the current month, nor the previous month in the first days of a month', () => {
    // starter (7 days) on 3 December: November is held whole
    expect(telemetryPruneHorizon(ms('2026-12-03T12:00:00Z'), 7)).toBe(ms('2026-11-01T00:00:00Z'));
    // on 8 December the hold is over: only the current month and the last 7 days are kept
    expect(telemetryPruneHorizon(ms('2026-12-08T00:00:00Z'), 7)).toBe(ms('2026-12-01T00:00:00Z'));
    // late in a month the current month is still kept whole; a longer retention keeps more
    expect(telemetryPruneHorizon(ms('2026-12-20T00:00:00Z'), 7)).toBe(ms('2026-12-01T00:00:00Z'));
    expect(telemetryPruneHorizon(ms('2026-12-20T00:00:00Z'), 30)).toBe(ms('2026-11-20T00:00:00Z'));
    // enterprise (90 days) keeps more than the hold anyway
    expect(telemetryPruneHorizon(ms('2026-12-03T00:00:00Z'), 90)).toBe(ms('2026-12-03T00:00:00Z') - 90 * DAY);
    expect(MONTH_CLOSE_HOLD_DAYS).toBe(7);
  });
});

describe('SLO_STATEMENT_CRON', () => {
  it('defaults to 00:15 UTC on the 1st, accepts off, refuses a bad expression at boot', () => {
    expect(loadConfig({}).governance.sloStatementCron).toBe('15 0 1 * *');
    expect(loadConfig({ SLO_STATEMENT_CRON: 'off' }).governance.sloStatementCron).toBe('off');
    expect(() => loadConfig({ SLO_STATEMENT_CRON: '0 25 1 * *' })).toThrow(/SLO_STATEMENT_CRON/);
  });
});
