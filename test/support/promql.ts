/**
 * Metric names in PromQL expressions and in the Prometheus text format, for the tests that check
 * the shipped configuration (deploy/) only references metrics the service really exports. PromQL
 * cannot be evaluated here (no Prometheus server): names are extracted lexically.
 */

/** Aggregation and binary keywords, and the literals that look like identifiers. */
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless', 'atan2', 'inf', 'nan', 'start', 'end']);

/**
 * The metric names an expression reads: identifiers followed by `{` or `[` or used bare, minus
 * functions and aggregations (an identifier followed by `(`), keywords, label names (inside `{}`,
 * in `by (...)`, `on (...)`, ...), strings, durations and numbers. Recording-rule names (with `:`)
 * are returned too: the caller removes the ones its rule file defines.
 */
export function metricNamesIn(expr: string): string[] {
  let s = expr
    .replace(/#[^\n]*/g, ' ') // comments
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // strings (label values, label_replace arguments)
    .replace(/\{[^}]*\}/g, '{}') // label matchers
    .replace(/\[[^\]]*\]/g, '[]') // range and subquery durations (Grafana's $__rate_interval too)
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  s = s.replace(/\boffset\s+-?[0-9a-z]+/gi, ' ');
  const names = new Set<string>();
  const token = /[0-9]+(?:\.[0-9]*)?(?:e[+-]?[0-9]+)?[a-z]*|\.[0-9]+|[a-zA-Z_:][a-zA-Z0-9_:]*/gi;
  for (let m = token.exec(s); m; m = token.exec(s)) {
    const word = m[0];
    if (!/^[a-zA-Z_:]/.test(word)) continue; // a number or a duration
    const rest = s.slice(m.index + word.length);
    if (/^\s*\(/.test(rest)) continue; // a function or an aggregation
    if (KEYWORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return [...names].sort();
}

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Exposition {
  /** `# TYPE` lines: family name -> type. */
  readonly types: ReadonlyMap<string, string>;
  readonly samples: readonly Sample[];
}

/** Parse the Prometheus text format (the subset /metrics serves: TYPE, HELP, samples). */
export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (line.startsWith('#') || line.trim() === '') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    const pair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    for (let p = pair.exec(m[2] ?? ''); p; p = pair.exec(m[2] ?? '')) labels[p[1]!] = p[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { types, samples };
}

/**
 * The family a referenced name belongs to: the name itself, or for a histogram's `_bucket`,
 * `_sum` and `_count` series the histogram (or summary) they come from.
 */
export function familyOf(name: string, types: ReadonlyMap<string, string>): string | undefined {
  if (types.has(name)) return name;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (m && ['histogram', 'summary'].includes(types.get(m[1]!) ?? '')) return m[1];
  return undefined;
}

/** Samples of one series name whose labels include `match`. */
export function samplesOf(e: Exposition, name: string, match: Record<string, string> = {}): Sample[] {
  return e.samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}
