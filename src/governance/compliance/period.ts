import { parseIsoWeek } from '../reports/iso-week';

/** A reporting period [start, end) in UTC, with the label it is archived under. */
export interface Period {
  readonly label: string;
  readonly start: string;
  readonly end: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * `2026-Q4` (quarter), `2026-11` (month), `2026-W48` (ISO week) or `2026` (year). Throws on
 * anything else.
 */
export function parsePeriod(label: string): Period {
  let m = /^(\d{4})-Q([1-4])$/.exec(label);
  if (m) {
    const y = Number(m[1]);
    const q = Number(m[2]);
    return { label, start: iso(Date.UTC(y, (q - 1) * 3, 1)), end: iso(Date.UTC(y, q * 3, 1)) };
  }
  m = /^(\d{4})-(\d{2})$/.exec(label);
  if (m) {
    const y = Number(m[1]);
    const mo = Number(m[2]);
    if (mo < 1 || mo > 12) throw new Error(`invalid month in period "${label}"`);
    return { label, start: iso(Date.UTC(y, mo - 1, 1)), end: iso(Date.UTC(y, mo, 1)) };
  }
  if (/^\d{4}-W\d{2}$/.test(label)) return parseIsoWeek(label);
  m = /^(\d{4})$/.exec(label);
  if (m) {
    const y = Number(m[1]);
    return { label, start: iso(Date.UTC(y, 0, 1)), end: iso(Date.UTC(y + 1, 0, 1)) };
  }
  throw new Error(`invalid period "${label}" (expected 2026-Q4, 2026-11, 2026-W48 or 2026)`);
}

/** An explicit window: two ISO-8601 instants, from before to. Labelled `<from>--<to>`. */
export function periodBetween(from: string, to: string): Period {
  const f = Date.parse(from);
  const t = Date.parse(to);
  if (!/^\d{4}-\d{2}-\d{2}/.test(from) || Number.isNaN(f)) throw new Error(`--from "${from}" is not an ISO-8601 date or time`);
  if (!/^\d{4}-\d{2}-\d{2}/.test(to) || Number.isNaN(t)) throw new Error(`--to "${to}" is not an ISO-8601 date or time`);
  if (f >= t) throw new Error('--from must be before --to');
  return { label: `${iso(f)}--${iso(t)}`, start: iso(f), end: iso(t) };
}

/** The quarter containing `now` (the default period). */
export function currentQuarter(now: Date): Period {
  return parsePeriod(`${now.getUTCFullYear()}-Q${Math.floor(now.getUTCMonth() / 3) + 1}`);
}

/** A report on a period is "as of" its last instant, or now while the period is still running. */
export function asOfFor(period: Period, now: Date): string {
  const last = Date.parse(period.end) - 1;
  return iso(Math.min(last, now.getTime()));
}
