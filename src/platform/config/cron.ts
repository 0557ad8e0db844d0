/**
 * Five-field cron expressions in UTC: minute hour day-of-month month day-of-week, each `*`, a
 * number, a range `a-b`, a step `*\/n` or `a-b/n`, or a comma list of those. Day-of-week 0 or 7 is
 * Sunday. As in classic cron, when both day fields are restricted a day matches either.
 */
interface Field {
  readonly values: ReadonlySet<number>;
  readonly any: boolean;
}

const RANGES: readonly [number, number][] = [
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 7],
];

function parseField(text: string, [min, max]: [number, number]): Field {
  const values = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!m) throw new Error(`"${part}" is not a cron field`);
    const step = m[4] ? Number(m[4]) : 1;
    const from = m[1] === '*' ? min : Number(m[2]);
    const to = m[1] === '*' ? max : m[3] ? Number(m[3]) : m[4] ? max : from;
    if (step < 1 || from < min || to > max || from > to) throw new Error(`"${part}" is out of range ${min}-${max}`);
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return { values, any: text === '*' };
}

export interface Cron {
  readonly expression: string;
  matches(d: Date): boolean;
}

export function parseCron(expression: string): Cron {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5) throw new Error('a cron expression has five fields');
  const [minute, hour, dom, month, dow] = parts.map((p, i) => parseField(p, RANGES[i]!)) as [Field, Field, Field, Field, Field];
  const dowHas = (d: number) => dow.values.has(d) || (d === 0 && dow.values.has(7));
  return {
    expression,
    matches(d: Date): boolean {
      if (!minute.values.has(d.getUTCMinutes()) || !hour.values.has(d.getUTCHours()) || !month.values.has(d.getUTCMonth() + 1)) return false;
      const domOk = dom.values.has(d.getUTCDate());
      const dowOk = dowHas(d.getUTCDay());
      if (dom.any && dow.any) return true;
      if (dom.any) return dowOk;
      if (dow.any) return domOk;
      return domOk || dowOk;
    },
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

/** The most recent minute at or before `now` the expression fires at (searching back up to `maxDays`), or null. */
export function lastFireAtOrBefore(cron: Cron, now: Date, maxDays = 366): Date | null {
  const t = new Date(Math.floor(now.getTime() / 60_000) * 60_000);
  for (let i = 0; i < maxDays * 1440; i++) {
    if (cron.matches(t)) return t;
    t.setTime(t.getTime() - 60_000);
  }
  return null;
}
