/** ISO-8601 weeks (Monday to Monday, UTC): "2026-W48". */
export interface IsoWeek {
  readonly label: string;
  /** Monday 00:00 UTC, inclusive. */
  readonly start: string;
  /** The next Monday 00:00 UTC, exclusive. */
  readonly end: string;
}

const DAY = 86_400_000;

/** Monday 00:00 UTC of ISO week 1 of `year` (the week holding the year's first Thursday). */
function week1Monday(year: number): number {
  const jan4 = Date.UTC(year, 0, 4);
  const dow = (new Date(jan4).getUTCDay() + 6) % 7; // Monday = 0
  return jan4 - dow * DAY;
}

export function parseIsoWeek(label: string): IsoWeek {
  const m = /^(\d{4})-W(\d{2})$/.exec(label);
  if (!m) throw new Error(`invalid ISO week "${label}" (expected e.g. 2026-W48)`);
  const year = Number(m[1]);
  const week = Number(m[2]);
  const weeksInYear = isoWeekOf(new Date(Date.UTC(year, 11, 28))).label.endsWith('53') ? 53 : 52;
  if (week < 1 || week > weeksInYear) throw new Error(`invalid ISO week "${label}": ${year} has ${weeksInYear} weeks`);
  const start = week1Monday(year) + (week - 1) * 7 * DAY;
  return { label, start: new Date(start).toISOString(), end: new Date(start + 7 * DAY).toISOString() };
}

export function isoWeekOf(date: Date): IsoWeek {
  const t = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
  const dow = (new Date(t).getUTCDay() + 6) % 7;
  const thursday = t - dow * DAY + 3 * DAY;
  const year = new Date(thursday).getUTCFullYear();
  const week = Math.floor((thursday - week1Monday(year)) / (7 * DAY)) + 1;
  const start = t - dow * DAY;
  return { label: `${year}-W${String(week).padStart(2, '0')}`, start: new Date(start).toISOString(), end: new Date(start + 7 * DAY).toISOString() };
}

/** The last complete week before `now` (what a Monday-morning run reports on). */
export function previousIsoWeek(now: Date): IsoWeek {
  return isoWeekOf(new Date(now.getTime() - 7 * DAY));
}
