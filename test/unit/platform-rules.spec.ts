import { platformObservations, type PlatformSignals, type PlatformThresholds } from '../../src/alerting/platform-rules';
import { PLATFORM_RULES } from '../../src/alerting/rules';

/** Platform alert conditions, given/when/then: given these signals, then these rules breach. */
const HEALTHY: PlatformSignals = {
  projections: [
    { projection: 'tenants', state: 'active', lag_ms: 10, heartbeat_age_ms: 100 },
    { projection: 'audit', state: 'active', lag_ms: 20, heartbeat_age_ms: 100 },
  ],
  oldestWriteTransaction: { ageMs: 50, pid: 42 },
  outbox: { overdueJobs: 0, oldestOpenJobMs: 1000 },
  deadLetters: [],
  oldestUnsealedEventMs: 5_000,
  governance: { schedule: '0 4 * * 1', lastFire: '2026-11-30T04:00:00.000Z', week: '2026-W48', due: true, scheduledRun: 'completed', weekArchivedSinceFire: true },
  sloClose: { schedule: '15 0 1 * *', lastFire: '2026-12-01T00:15:00.000Z', month: '2026-11', due: true, scheduledRun: 'completed', tenantsWithoutStatement: 0 },
};
const T: PlatformThresholds = { projectionLagMs: 300_000, openTransactionMs: 120_000, outboxMaxAgeMs: 900_000, sealLimitMs: 180_000 };
const given = (changes: Partial<PlatformSignals>) => ({
  breaching: () =>
    platformObservations({ ...HEALTHY, ...changes }, T)
      .filter((o) => o.breaching)
      .map((o) => o.rule),
  numbers: (rule: string) => platformObservations({ ...HEALTHY, ...changes }, T).find((o) => o.rule === rule)!.numbers,
});

describe('platform alert conditions', () => {
  it('given a healthy platform, then nothing breaches, and every platform rule is observed (so open ones can resolve)', () => {
    const all = platformObservations(HEALTHY, T);
    expect(all.filter((o) => o.breaching)).toEqual([]);
    expect(all.map((o) => o.rule)).toEqual(PLATFORM_RULES.map((r) => r.rule));
    expect(all.every((o) => o.tenant_id === null)).toBe(true);
  });
  it('projection-lag: a projection behind the threshold, a stalled runner, or a remote runner whose heartbeat is old', () => {
    expect(given({ projections: [{ projection: 'audit', state: 'active', lag_ms: 400_000, heartbeat_age_ms: 1 }] }).breaching()).toEqual(['projection-lag']);
    expect(given({ projections: [{ projection: 'audit', state: 'active', lag_ms: 400_000, heartbeat_age_ms: 1 }] }).numbers('projection-lag')).toMatchObject({ projection: 'audit', lag_ms: 400_000 });
    expect(given({ projections: [{ projection: 'quotas', state: 'failed', lag_ms: 0, heartbeat_age_ms: 1 }] }).breaching()).toEqual(['projection-lag']);
    expect(given({ projections: [{ projection: 'tenants', state: 'remote', lag_ms: null, heartbeat_age_ms: 600_000 }] }).breaching()).toEqual(['projection-lag']);
  });
  it('oldest-write-transaction: open longer than the threshold; not observed (PGlite) is not a breach', () => {
    expect(given({ oldestWriteTransaction: { ageMs: 130_000, pid: 7 } }).breaching()).toEqual(['oldest-write-transaction']);
    expect(given({ oldestWriteTransaction: { ageMs: null, pid: null } }).breaching()).toEqual([]);
  });
  it('outbox-backlog-age: any open job older than the threshold', () => {
    expect(given({ outbox: { overdueJobs: 3, oldestOpenJobMs: 1_000_000 } }).breaching()).toEqual(['outbox-backlog-age']);
  });
  it('dead-letters: any dead letter, with counts by tenant and type', () => {
    const g = given({ deadLetters: [{ tenant_id: 'a', type: 'embed_nodes', n: 2 }, { tenant_id: 'b', type: 'alert_delivery', n: 1 }] });
    expect(g.breaching()).toEqual(['dead-letters']);
    expect(g.numbers('dead-letters')).toEqual({ dead_letters: 3, tenants: 2, types: 'alert_delivery,embed_nodes' });
  });
  it('seal-schedule-missed: an event unsealed for longer than three seal intervals', () => {
    expect(given({ oldestUnsealedEventMs: 200_000 }).breaching()).toEqual(['seal-schedule-missed']);
    expect(given({ oldestUnsealedEventMs: null }).breaching()).toEqual([]);
  });
  it('governance-schedule-missed: a due run that did not complete; a run that was not due (no tenant yet) is not missed', () => {
    const notDone = { ...HEALTHY.governance, scheduledRun: 'none', weekArchivedSinceFire: false } as const;
    expect(given({ governance: notDone }).breaching()).toEqual(['governance-schedule-missed']);
    expect(given({ governance: { ...notDone, scheduledRun: 'claimed' } }).breaching()).toEqual(['governance-schedule-missed']);
    expect(given({ governance: { ...notDone, due: false } }).breaching()).toEqual([]);
  });
  it('governance-schedule-missed: the scheduled run failed, then the week run by hand (CLI or API, as the runbook says) clears it', () => {
    const failed = { ...HEALTHY.governance, scheduledRun: 'failed', weekArchivedSinceFire: false } as const;
    expect(given({ governance: failed }).breaching()).toEqual(['governance-schedule-missed']);
    // The numbers name the week to run by hand and how the scheduled run ended.
    expect(given({ governance: failed }).numbers('governance-schedule-missed')).toEqual({
      schedule: '0 4 * * 1',
      last_fire: '2026-11-30T04:00:00.000Z',
      week: '2026-W48',
      scheduled_run: 'failed',
      completed: 'no',
    });
    const byHand = { ...failed, weekArchivedSinceFire: true };
    expect(given({ governance: byHand }).breaching()).toEqual([]);
    expect(given({ governance: byHand }).numbers('governance-schedule-missed')).toMatchObject({ scheduled_run: 'failed', completed: 'yes' });
    expect(given({ governance: { ...failed, scheduledRun: 'completed' } }).breaching()).toEqual([]);
  });
  it('slo-statement-close-missed: a due close that did not complete; a month without tenants is not missed', () => {
    const notDone = { ...HEALTHY.sloClose, scheduledRun: 'none', tenantsWithoutStatement: 2 } as const;
    expect(given({ sloClose: notDone }).breaching()).toEqual(['slo-statement-close-missed']);
    expect(given({ sloClose: { ...notDone, scheduledRun: 'claimed' } }).breaching()).toEqual(['slo-statement-close-missed']);
    expect(given({ sloClose: { ...notDone, due: false } }).breaching()).toEqual([]);
  });
  it('slo-statement-close-missed: the close failed for a tenant, then every statement issued by hand clears it', () => {
    const failed = { ...HEALTHY.sloClose, scheduledRun: 'failed', tenantsWithoutStatement: 1 } as const;
    expect(given({ sloClose: failed }).breaching()).toEqual(['slo-statement-close-missed']);
    expect(given({ sloClose: failed }).numbers('slo-statement-close-missed')).toEqual({
      schedule: '15 0 1 * *',
      last_fire: '2026-12-01T00:15:00.000Z',
      month: '2026-11',
      scheduled_run: 'failed',
      tenants_without_statement: 1,
    });
    expect(given({ sloClose: { ...failed, tenantsWithoutStatement: 0 } }).breaching()).toEqual([]);
    expect(given({ sloClose: { ...failed, scheduledRun: 'completed' } }).breaching()).toEqual([]);
  });
});
