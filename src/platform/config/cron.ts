import { Cron as Croner } from 'croner';

/**
 * Five-field cron expressions in UTC (minute hour day-of-month month day-of-week), parsed and
 * matched by croner: `*`, numbers, ranges, steps, lists, names (`mon`, `jan`), day-of-week 0 or 7
 * for Sunday, and as in classic cron, when both day fields are restricted a day matches either.
 * Only five fields: no seconds or years (the scheduler works by the minute).
 */
export interface Cron {
  readonly expression: string;
  matches(d: Date): boolean;
  /** The latest fire time strictly before `d`, or null. */
  previousBefore(d: Date): Date | null;
}

export function parseCron(expression: string): Cron {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) throw new Error('a cron expression has five fields');
  // paused and without a function: croner only parses and computes, it schedules nothing.
  const cron = new Croner(fields.join(' '), { timezone: 'UTC', mode: '5-part', domAndDow: false, paused: true });
  return {
    expression,
    matches: (d) => cron.match(new Date(Math.floor(d.getTime() / 60_000) * 60_000)) && d.getUTCSeconds() === 0 && d.getUTCMilliseconds() === 0,
    previousBefore: (d) => cron.previousRuns(1, d)[0] ?? null,
  };
}

/** null when the expression is valid, else what is wrong. */
export function cronProblem(expression: string): string | null {
  try {
    parseCron(expression);
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/**
 * The most recent minute at or before `now` the expression fires at, no further back than
 * `maxDays`, or null. The scheduler claims that fire time as its period (once across instances).
 */
export function lastFireAtOrBefore(cron: Cron, now: Date, maxDays = 366): Date | null {
  const minute = new Date(Math.floor(now.getTime() / 60_000) * 60_000);
  const fire = cron.matches(minute) ? minute : cron.previousBefore(minute);
  if (!fire || minute.getTime() - fire.getTime() > maxDays * 86_400_000) return null;
  return new Date(Math.floor(fire.getTime() / 60_000) * 60_000);
}
