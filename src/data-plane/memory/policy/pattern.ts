/**
 * The rule pattern language (contract §5.5) and condition paths (§5.6), TOTAL and BOUNDED.
 *
 * Rules are tenant data evaluated on a shared process, so a pattern must never throw and never
 * run long. Three bounds apply to one rule evaluation (its `if` and all its `exceptions`):
 *
 * - a step budget (DEFAULT_LIMITS.steps = 10_000): every pattern node, deep-equality node and
 *   path segment visited costs one step. Rule conditions are a handful of keys, so 10k steps allow
 *   scanning arrays of thousands of elements while keeping a rule well under a millisecond;
 * - a nesting bound (MAX_DEPTH = 128) on the recursion, so a deeply nested context or pattern
 *   cannot overflow the stack (JSON.parse accepts far deeper documents than recursion does);
 * - `$regex` runs on a linear-time engine (a Thompson NFA simulated as a Pike VM, below), never
 *   on V8's backtracking one, with caps on the pattern (512 code units), the compiled program
 *   (4096 instructions), the subject (8192 code units) and the regex work (250_000 NFA steps).
 *
 * Running out of steps, depth or regex work is a non-match of the whole rule, reported in the
 * outcome (`exhausted`) so the caller can count it. A `$regex` that is over a length cap or uses
 * a construct the linear engine does not have (lookaround, backreferences, legacy octal escapes)
 * is false, like an invalid expression, and is counted in `regexSkipped`.
 */

// ---------------------------------------------------------------------------------------------
// JSON values

export type JsonObject = Readonly<Record<string, unknown>>;

export const isJsonObject = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);

/** An own property only: a pattern key never reaches Object.prototype (`constructor`, `__proto__`). */
export function ownGet(container: object, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(container, key) ? (container as Record<string, unknown>)[key] : undefined;
}

/**
 * A canonical key of a JSON value (object keys sorted, no whitespace): equal keys mean deep-equal
 * values. Iterative, so any depth is fine; a cycle (impossible in JSON) is cut with a marker.
 */
export function jsonKey(root: unknown): string {
  const out: string[] = [];
  const onPath = new Set<object>();
  type Frame = { readonly node: object; readonly keys: readonly string[] | null; i: number };
  const stack: Frame[] = [];
  const scalar = (v: unknown): string => {
    switch (typeof v) {
      case 'string':
        return JSON.stringify(v);
      case 'number':
        return Number.isFinite(v) ? JSON.stringify(v) : 'null';
      case 'boolean':
        return v ? 'true' : 'false';
      case 'undefined':
        return 'undefined';
      case 'bigint':
        return `${v.toString()}n`;
      default:
        return v === null ? 'null' : `<${typeof v}>`;
    }
  };
  const open = (v: unknown): void => {
    if (v === null || typeof v !== 'object') {
      out.push(scalar(v));
      return;
    }
    if (onPath.has(v)) {
      out.push('"<cycle>"');
      return;
    }
    onPath.add(v);
    if (Array.isArray(v)) {
      out.push('[');
      stack.push({ node: v, keys: null, i: 0 });
    } else {
      out.push('{');
      stack.push({ node: v, keys: Object.keys(v).sort(), i: 0 });
    }
  };
  open(root);
  while (stack.length > 0) {
    const f = stack[stack.length - 1]!;
    const size = f.keys === null ? (f.node as unknown[]).length : f.keys.length;
    if (f.i >= size) {
      out.push(f.keys === null ? ']' : '}');
      onPath.delete(f.node);
      stack.pop();
      continue;
    }
    if (f.i > 0) out.push(',');
    const i = f.i++;
    if (f.keys === null) {
      open((f.node as unknown[])[i]);
    } else {
      const k = f.keys[i]!;
      out.push(`${JSON.stringify(k)}:`);
      open((f.node as Record<string, unknown>)[k]);
    }
  }
  return out.join('');
}

/** Deep equality of JSON values, unbounded in depth (used outside rule matching, e.g. merging). */
export const sameJson = (a: unknown, b: unknown): boolean => a === b || jsonKey(a) === jsonKey(b);

// ---------------------------------------------------------------------------------------------
// Bounds

export interface MatchLimits {
  /** Pattern, deep-equality and path steps for one rule evaluation. */
  readonly steps: number;
  /** NFA steps of all `$regex` operators of one rule evaluation. */
  readonly regexWork: number;
}

export const DEFAULT_LIMITS: MatchLimits = { steps: 10_000, regexWork: 250_000 };
export const MAX_DEPTH = 128;
export const REGEX_MAX_PATTERN = 512;
export const REGEX_MAX_SUBJECT = 8192;
export const REGEX_MAX_PROGRAM = 4096;
/** The largest repetition count of a `{n,m}` quantifier the engine expands. */
const REGEX_MAX_COUNT = 1000;

export interface MatchOutcome {
  /** False whenever `exhausted`. */
  readonly matched: boolean;
  /** A bound (steps, depth or regex work) was hit: the result is a non-match. */
  readonly exhausted: boolean;
  readonly steps: number;
  readonly regexWork: number;
  /** `$regex` operators not run (length caps or unsupported construct): each counted false. */
  readonly regexSkipped: number;
}

/** The running cost of one rule evaluation. Internal: callers see a MatchOutcome. */
interface Meter {
  steps: number;
  regexWork: number;
  regexSkipped: number;
  exhausted: boolean;
  readonly limits: MatchLimits;
}

const newMeter = (limits: MatchLimits): Meter => ({ steps: 0, regexWork: 0, regexSkipped: 0, exhausted: false, limits });

function tick(m: Meter, n = 1): boolean {
  if (m.exhausted) return false;
  if (m.steps + n > m.limits.steps) {
    m.steps = m.limits.steps;
    m.exhausted = true;
    return false;
  }
  m.steps += n;
  return true;
}

function deeper(m: Meter, depth: number): boolean {
  if (depth <= MAX_DEPTH) return true;
  m.exhausted = true;
  return false;
}

const outcome = (m: Meter, matched: boolean): MatchOutcome => ({
  matched: matched && !m.exhausted,
  exhausted: m.exhausted,
  steps: m.steps,
  regexWork: m.regexWork,
  regexSkipped: m.regexSkipped,
});

// ---------------------------------------------------------------------------------------------
// Matching (§5.5)

/** Match one pattern against a value (the root value is the whole context). */
export function matches(pattern: unknown, value: unknown, limits: MatchLimits = DEFAULT_LIMITS): MatchOutcome {
  const m = newMeter(limits);
  return outcome(m, match(pattern, value, m, 0));
}

/**
 * §5.5 step 4 with one budget for the whole rule: `if` must match (null, `{}` and, as in the open
 * core, any other falsy `if` always match) and no element of `exceptions` may match (only an array
 * of exceptions vetoes). Running out of budget anywhere is a non-match of the rule, never a
 * silent "no veto".
 */
export function conditionMatches(ifJson: unknown, exceptionsJson: unknown, context: unknown, limits: MatchLimits = DEFAULT_LIMITS): MatchOutcome {
  const m = newMeter(limits);
  const unconditional = !ifJson || (isJsonObject(ifJson) && Object.keys(ifJson).length === 0);
  if (!unconditional && !match(ifJson, context, m, 0)) return outcome(m, false);
  if (Array.isArray(exceptionsJson)) {
    for (const ex of exceptionsJson) {
      if (match(ex, context, m, 0) || m.exhausted) return outcome(m, false);
    }
  }
  return outcome(m, true);
}

const has = (o: JsonObject, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

function match(p: unknown, v: unknown, m: Meter, depth: number): boolean {
  if (!tick(m) || !deeper(m, depth)) return false;
  if (isJsonObject(p)) {
    // Combinators: the first of $and, $or, $not present wins; every other key is ignored.
    if (has(p, '$and')) {
      const all = p.$and;
      if (!Array.isArray(all)) return false;
      for (const el of all) if (!match(el, v, m, depth + 1)) return false;
      return true;
    }
    if (has(p, '$or')) {
      const any = p.$or;
      if (!Array.isArray(any)) return false;
      for (const el of any) if (match(el, v, m, depth + 1)) return true;
      return false;
    }
    if (has(p, '$not')) return !match(p.$not, v, m, depth + 1);
    const keys = Object.keys(p);
    const only = keys.length === 1 ? keys[0] : undefined;
    // Exactly one key starting with `$` is an operator; two operators are a plain object (fails).
    if (only !== undefined && only.startsWith('$')) return operator(only, p[only], v, m, depth);
    if (!tick(m, keys.length)) return false;
    for (const k of keys) {
      if (!match(p[k], resolve(v, k, m), m, depth + 1)) return false;
    }
    return true;
  }
  if (Array.isArray(p)) {
    // Subset: every element of the pattern is deep-equal to some element of the value.
    if (!Array.isArray(v)) return false;
    for (const want of p) {
      let found = false;
      for (const got of v) {
        if (equal(got, want, m, depth + 1)) {
          found = true;
          break;
        }
        if (m.exhausted) return false;
      }
      if (!found) return false;
    }
    return true;
  }
  return equal(v, p, m, depth + 1);
}

/** `V[k]`, or the dotted path `k` through objects and arrays (own properties only). */
function resolve(v: unknown, k: string, m: Meter): unknown {
  if (!k.includes('.')) return v !== null && typeof v === 'object' ? ownGet(v, k) : undefined;
  let cur = v;
  for (const part of k.split('.')) {
    if (!tick(m)) return undefined;
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = ownGet(cur, part);
  }
  return cur;
}

/** Strict deep equality: no coercion, arrays element by element, objects by identical key sets. */
function equal(a: unknown, b: unknown, m: Meter, depth: number): boolean {
  if (!tick(m) || !deeper(m, depth)) return false;
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  const aArr = Array.isArray(a);
  if (aArr !== Array.isArray(b)) return false;
  if (aArr) {
    const x = a as unknown[];
    const y = b as unknown[];
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!equal(x[i], y[i], m, depth + 1)) return false;
    return true;
  }
  const ak = Object.keys(a as object).sort();
  const bk = Object.keys(b as object).sort();
  if (ak.length !== bk.length || !tick(m, ak.length)) return false;
  for (let i = 0; i < ak.length; i++) {
    const k = ak[i]!;
    if (k !== bk[i]) return false;
    if (!equal((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], m, depth + 1)) return false;
  }
  return true;
}

/** An operand "as a number", as the open core's Number(x), for the JSON scalars (arrays and objects: NaN). */
function asNumber(x: unknown): number {
  switch (typeof x) {
    case 'number':
      return x;
    case 'string':
      return Number(x);
    case 'boolean':
      return x ? 1 : 0;
    default:
      return x === null ? 0 : NaN;
  }
}

function operator(op: string, operand: unknown, v: unknown, m: Meter, depth: number): boolean {
  switch (op) {
    case '$eq':
      return equal(v, operand, m, depth + 1);
    case '$ne':
      return !equal(v, operand, m, depth + 1);
    case '$exists':
      // Truthy operand: V must exist (null exists); falsy: V must be absent.
      return operand ? v !== undefined : v === undefined;
    case '$in':
    case '$nin': {
      if (!Array.isArray(operand)) return false;
      let found = false;
      for (const x of operand) {
        if (equal(v, x, m, depth + 1)) {
          found = true;
          break;
        }
      }
      return op === '$in' ? found : !found;
    }
    case '$gt':
      return typeof v === 'number' && v > asNumber(operand);
    case '$gte':
      return typeof v === 'number' && v >= asNumber(operand);
    case '$lt':
      return typeof v === 'number' && v < asNumber(operand);
    case '$lte':
      return typeof v === 'number' && v <= asNumber(operand);
    case '$contains':
      if (typeof v === 'string' && typeof operand === 'string') return tick(m) && v.includes(operand);
      if (Array.isArray(v)) {
        for (const x of v) if (equal(x, operand, m, depth + 1)) return true;
      }
      return false;
    case '$regex':
      return regexOperator(operand, v, m);
    default:
      return false;
  }
}

function regexOperator(operand: unknown, v: unknown, m: Meter): boolean {
  if (typeof v !== 'string' || !tick(m)) return false;
  // The open core stringified the operand (String(x ?? "")) and treated "" as no match.
  const source = typeof operand === 'string' ? operand : typeof operand === 'number' || typeof operand === 'boolean' ? String(operand) : null;
  if (source === null || source === '') return false;
  if (source.length > REGEX_MAX_PATTERN || v.length > REGEX_MAX_SUBJECT) {
    m.regexSkipped += 1;
    return false;
  }
  const compiled = compileRegex(source);
  if (compiled === 'invalid') return false;
  if (compiled === 'unsupported') {
    m.regexSkipped += 1;
    return false;
  }
  const meter = { work: m.regexWork, limit: m.limits.regexWork };
  const r = runProgram(compiled, v, meter);
  m.regexWork = Math.min(meter.work, meter.limit);
  if (r === 'exhausted') {
    m.exhausted = true;
    return false;
  }
  return r === 'match';
}

// ---------------------------------------------------------------------------------------------
// Condition paths (§5.6 specificity)

/**
 * The distinct dotted key chains of `if` that lead to a leaf, an array, an empty object or an
 * operator, sorted. `$and`/`$or` elements continue the enclosing path and `$not` is transparent.
 * As in the open core every key of an object is walked (a combinator's sibling keys too, although
 * matching ignores them) and a null leaf contributes nothing. Iterative: any depth is fine.
 */
export function conditionPaths(ifJson: unknown): string[] {
  const out = new Set<string>();
  const seen = new Set<object>();
  const stack: { readonly p: unknown; readonly prefix: string }[] = [{ p: ifJson, prefix: '' }];
  const leaf = (prefix: string): void => {
    if (prefix !== '') out.add(prefix);
  };
  while (stack.length > 0) {
    const { p, prefix } = stack.pop()!;
    if (p === null || p === undefined) continue;
    if (typeof p === 'object') {
      if (seen.has(p)) continue;
      seen.add(p);
    }
    if (Array.isArray(p) || !isJsonObject(p)) {
      leaf(prefix);
      continue;
    }
    const keys = Object.keys(p);
    if (keys.length === 0) leaf(prefix);
    for (const k of keys) {
      const v = p[k];
      if (k === '$and' || k === '$or') {
        if (Array.isArray(v)) for (const el of v) stack.push({ p: el, prefix });
      } else if (k === '$not') {
        stack.push({ p: v, prefix });
      } else if (k.startsWith('$')) {
        leaf(prefix);
      } else {
        stack.push({ p: v, prefix: prefix === '' ? k : `${prefix}.${k}` });
      }
    }
  }
  return [...out].sort();
}

// ---------------------------------------------------------------------------------------------
// Linear-time regular expressions
//
// `$regex` is "a regular expression with no flags", i.e. JavaScript syntax in non-unicode mode,
// tested anywhere in the subject (RegExp.prototype.test). V8 backtracks, so `(a+)+$` on a few
// dozen characters blocks the event loop for seconds; tenants write rules, so that would be a
// denial of service of the shared process. Instead the pattern is (1) checked by V8's parser
// (`new RegExp`: linear, no execution; a syntax error is "invalid" = false, as the contract
// says), (2) parsed here into an AST, and (3) compiled to a Thompson NFA run as a Pike VM: at
// most one thread per instruction per position, so the cost is O(subject x program), metered.
// Constructs whose semantics need backtracking (lookaround, backreferences) and legacy forms are
// "unsupported": false, counted. Matching works on UTF-16 code units, as non-unicode mode does.

type Ranges = readonly number[]; // sorted, merged [lo0, hi0, lo1, hi1, ...], inclusive
type Assertion = 'bol' | 'eol' | 'wb' | 'nwb';

type RNode =
  | { readonly k: 'set'; readonly ranges: Ranges }
  | { readonly k: 'assert'; readonly a: Assertion }
  | { readonly k: 'seq'; readonly items: readonly RNode[] }
  | { readonly k: 'alt'; readonly alts: readonly RNode[] }
  | { readonly k: 'rep'; readonly node: RNode; readonly min: number; readonly max: number };

type Inst =
  | { readonly op: 'set'; readonly ranges: Ranges }
  | { readonly op: 'assert'; readonly a: Assertion }
  | { op: 'split'; x: number; y: number }
  | { op: 'jmp'; x: number }
  | { readonly op: 'match' };

const MAX_CODE_UNIT = 0xffff;

function normalizeRanges(pairs: readonly number[]): number[] {
  const list: [number, number][] = [];
  for (let i = 0; i + 1 < pairs.length; i += 2) list.push([pairs[i]!, pairs[i + 1]!]);
  list.sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  for (const [lo, hi] of list) {
    const last = out.length - 1;
    if (last > 0 && lo <= out[last]! + 1) out[last] = Math.max(out[last]!, hi);
    else out.push(lo, hi);
  }
  return out;
}

function complement(r: Ranges): number[] {
  const out: number[] = [];
  let next = 0;
  for (let i = 0; i + 1 < r.length; i += 2) {
    if (r[i]! > next) out.push(next, r[i]! - 1);
    next = r[i + 1]! + 1;
  }
  if (next <= MAX_CODE_UNIT) out.push(next, MAX_CODE_UNIT);
  return out;
}

function inRanges(r: Ranges, c: number): boolean {
  let lo = 0;
  let hi = r.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (c < r[2 * mid]!) hi = mid - 1;
    else if (c > r[2 * mid + 1]!) lo = mid + 1;
    else return true;
  }
  return false;
}

const DIGIT: Ranges = [48, 57];
const WORD: Ranges = [48, 57, 65, 90, 95, 95, 97, 122];
/** JavaScript's WhiteSpace and LineTerminator code units (`\s`). */
const SPACE: Ranges = normalizeRanges([9, 13, 32, 32, 0xa0, 0xa0, 0x1680, 0x1680, 0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x202f, 0x205f, 0x205f, 0x3000, 0x3000, 0xfeff, 0xfeff]);
/** `.` without the s flag: anything but a line terminator. */
const DOT: Ranges = complement([10, 10, 13, 13, 0x2028, 0x2029]);
const CLASS_ESCAPES: Readonly<Record<string, Ranges>> = {
  d: DIGIT,
  D: complement(DIGIT),
  w: WORD,
  W: complement(WORD),
  s: SPACE,
  S: complement(SPACE),
};
const CONTROL_ESCAPES: Readonly<Record<string, number>> = { t: 9, n: 10, v: 11, f: 12, r: 13 };

class RegexUnsupported extends Error {}

const isHex = (s: string): boolean => /^[0-9a-fA-F]+$/.test(s);
const isLetter = (c: string | undefined): boolean => c !== undefined && /^[a-zA-Z]$/.test(c);
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/** A recursive-descent parser for the non-unicode RegExp grammar (with Annex B's literal braces). */
class RegexParser {
  private i = 0;
  constructor(private readonly src: string) {}

  parse(): RNode {
    const node = this.alternation();
    if (this.i !== this.src.length) throw new RegexUnsupported();
    return node;
  }

  private peek(): string | undefined {
    return this.src[this.i];
  }

  private alternation(): RNode {
    const alts = [this.sequence()];
    while (this.peek() === '|') {
      this.i++;
      alts.push(this.sequence());
    }
    return alts.length === 1 ? alts[0]! : { k: 'alt', alts };
  }

  private sequence(): RNode {
    const items: RNode[] = [];
    for (let c = this.peek(); c !== undefined && c !== '|' && c !== ')'; c = this.peek()) {
      const atom = this.atom();
      const q = this.quantifier();
      if (q === null) items.push(atom);
      else if (atom.k === 'assert') throw new RegexUnsupported();
      else items.push({ k: 'rep', node: atom, min: q.min, max: q.max });
    }
    return items.length === 1 ? items[0]! : { k: 'seq', items };
  }

  /** `*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}`, each optionally lazy (laziness is irrelevant to test()). */
  private quantifier(): { min: number; max: number } | null {
    const c = this.peek();
    let q: { min: number; max: number } | null = null;
    if (c === '*') q = { min: 0, max: Infinity };
    else if (c === '+') q = { min: 1, max: Infinity };
    else if (c === '?') q = { min: 0, max: 1 };
    if (q !== null) {
      this.i++;
    } else {
      const braced = this.bracedQuantifier();
      if (braced === null) return null;
      q = braced.q;
      this.i += braced.length;
    }
    if (this.peek() === '?') this.i++;
    if (q.min > REGEX_MAX_COUNT || (q.max !== Infinity && q.max > REGEX_MAX_COUNT)) throw new RegexUnsupported();
    return q;
  }

  private bracedQuantifier(): { q: { min: number; max: number }; length: number } | null {
    const found = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i, this.i + 32));
    if (!found) return null;
    const min = Number(found[1]);
    const max = found[2] === undefined ? min : found[3] === '' || found[3] === undefined ? Infinity : Number(found[3]);
    return { q: { min, max }, length: found[0].length };
  }

  private atom(): RNode {
    const c = this.src[this.i++]!;
    switch (c) {
      case '^':
        return { k: 'assert', a: 'bol' };
      case '$':
        return { k: 'assert', a: 'eol' };
      case '.':
        return { k: 'set', ranges: DOT };
      case '(':
        return this.group();
      case '[':
        return this.characterClass();
      case '\\':
        return this.escape();
      case '*':
      case '+':
      case '?':
      case ')':
        throw new RegexUnsupported();
      case '{':
        // A complete braced quantifier with nothing to repeat is a syntax error; otherwise `{` is literal.
        if (this.bracedQuantifier() !== null) throw new RegexUnsupported();
        return { k: 'set', ranges: [123, 123] };
      default: {
        const code = c.charCodeAt(0);
        return { k: 'set', ranges: [code, code] };
      }
    }
  }

  private group(): RNode {
    if (this.src.startsWith('?:', this.i)) {
      this.i += 2;
    } else if (this.src.startsWith('?<', this.i) && this.src[this.i + 2] !== '=' && this.src[this.i + 2] !== '!') {
      const end = this.src.indexOf('>', this.i);
      if (end < 0) throw new RegexUnsupported();
      this.i = end + 1;
    } else if (this.peek() === '?') {
      throw new RegexUnsupported(); // lookahead, lookbehind, modifiers
    }
    const inner = this.alternation();
    if (this.peek() !== ')') throw new RegexUnsupported();
    this.i++;
    return inner;
  }

  /** The code unit of a character escape (after the backslash), shared by atoms and classes. */
  private characterEscape(c: string, inClass: boolean): number {
    const control = CONTROL_ESCAPES[c];
    if (control !== undefined) return control;
    if (c === '0') {
      if (isDigit(this.peek())) throw new RegexUnsupported(); // legacy octal
      return 0;
    }
    if (isDigit(c)) throw new RegexUnsupported(); // backreference or legacy octal
    if (c === 'x' || c === 'u') {
      const n = c === 'x' ? 2 : 4;
      const hex = this.src.slice(this.i, this.i + n);
      if (hex.length !== n || !isHex(hex)) throw new RegexUnsupported();
      this.i += n;
      return parseInt(hex, 16);
    }
    if (c === 'c') {
      const letter = this.peek();
      if (isLetter(letter) || (inClass && (isDigit(letter) || letter === '_'))) {
        this.i++;
        return letter!.charCodeAt(0) % 32;
      }
      throw new RegexUnsupported();
    }
    if (c === 'k') throw new RegexUnsupported(); // named backreference
    return c.charCodeAt(0); // identity escape
  }

  private escape(): RNode {
    const c = this.src[this.i++];
    if (c === undefined) throw new RegexUnsupported();
    if (c === 'b') return { k: 'assert', a: 'wb' };
    if (c === 'B') return { k: 'assert', a: 'nwb' };
    const cls = CLASS_ESCAPES[c];
    if (cls !== undefined) return { k: 'set', ranges: cls };
    const code = this.characterEscape(c, false);
    return { k: 'set', ranges: [code, code] };
  }

  /** One class atom: a code unit, or a set (`\d` and friends). */
  private classAtom(): number | Ranges {
    const c = this.src[this.i++];
    if (c === undefined) throw new RegexUnsupported();
    if (c !== '\\') return c.charCodeAt(0);
    const e = this.src[this.i++];
    if (e === undefined) throw new RegexUnsupported();
    if (e === 'b') return 8; // backspace inside a class
    if (e === '-') return 45;
    const cls = CLASS_ESCAPES[e];
    if (cls !== undefined) return cls;
    return this.characterEscape(e, true);
  }

  private characterClass(): RNode {
    let negated = false;
    if (this.peek() === '^') {
      negated = true;
      this.i++;
    }
    const pairs: number[] = [];
    const add = (a: number | Ranges): void => {
      if (typeof a === 'number') pairs.push(a, a);
      else pairs.push(...a);
    };
    for (;;) {
      const c = this.peek();
      if (c === undefined) throw new RegexUnsupported();
      if (c === ']') {
        this.i++;
        break;
      }
      const from = this.classAtom();
      if (this.peek() === '-' && this.src[this.i + 1] !== undefined && this.src[this.i + 1] !== ']') {
        this.i++;
        const to = this.classAtom();
        if (typeof from === 'number' && typeof to === 'number') {
          if (from > to) throw new RegexUnsupported();
          pairs.push(from, to);
        } else {
          // Annex B: a class escape at either end makes the dash literal.
          add(from);
          add(45);
          add(to);
        }
      } else {
        add(from);
      }
    }
    const ranges = normalizeRanges(pairs);
    return { k: 'set', ranges: negated ? complement(ranges) : ranges };
  }
}

function programSize(n: RNode): number {
  switch (n.k) {
    case 'set':
    case 'assert':
      return 1;
    case 'seq':
      return n.items.reduce((s, x) => s + programSize(x), 0);
    case 'alt':
      return n.alts.reduce((s, x) => s + programSize(x), 0) + 2 * (n.alts.length - 1);
    case 'rep': {
      const body = programSize(n.node);
      return n.min * body + (n.max === Infinity ? body + 2 : (n.max - n.min) * (body + 1));
    }
  }
}

function emit(n: RNode, prog: Inst[]): void {
  switch (n.k) {
    case 'set':
      prog.push({ op: 'set', ranges: n.ranges });
      return;
    case 'assert':
      prog.push({ op: 'assert', a: n.a });
      return;
    case 'seq':
      for (const x of n.items) emit(x, prog);
      return;
    case 'alt': {
      const jumps: { op: 'jmp'; x: number }[] = [];
      n.alts.forEach((alt, i) => {
        if (i === n.alts.length - 1) {
          emit(alt, prog);
          return;
        }
        const split: Inst = { op: 'split', x: prog.length + 1, y: -1 };
        prog.push(split);
        emit(alt, prog);
        const jmp = { op: 'jmp' as const, x: -1 };
        prog.push(jmp);
        jumps.push(jmp);
        split.y = prog.length;
      });
      for (const j of jumps) j.x = prog.length;
      return;
    }
    case 'rep': {
      for (let i = 0; i < n.min; i++) emit(n.node, prog);
      if (n.max === Infinity) {
        const loop = prog.length;
        const split: Inst = { op: 'split', x: loop + 1, y: -1 };
        prog.push(split);
        emit(n.node, prog);
        prog.push({ op: 'jmp', x: loop });
        split.y = prog.length;
        return;
      }
      const splits: { op: 'split'; x: number; y: number }[] = [];
      for (let i = n.min; i < n.max; i++) {
        const split = { op: 'split' as const, x: prog.length + 1, y: -1 };
        prog.push(split);
        splits.push(split);
        emit(n.node, prog);
      }
      for (const s of splits) s.y = prog.length;
      return;
    }
  }
}

/** A program, or why there is none: a syntax error ('invalid') or a construct this engine lacks. */
function compileRegex(source: string): readonly Inst[] | 'invalid' | 'unsupported' {
  if (source.length > REGEX_MAX_PATTERN) return 'unsupported';
  try {
    new RegExp(source); // V8's parser only: validity, no execution
  } catch {
    return 'invalid';
  }
  let ast: RNode;
  try {
    ast = new RegexParser(source).parse();
  } catch {
    return 'unsupported';
  }
  if (programSize(ast) + 1 > REGEX_MAX_PROGRAM) return 'unsupported';
  const prog: Inst[] = [];
  emit(ast, prog);
  prog.push({ op: 'match' });
  return prog;
}

const isWordAt = (s: string, i: number): boolean => i >= 0 && i < s.length && inRanges(WORD, s.charCodeAt(i));

function holds(a: Assertion, s: string, pos: number): boolean {
  switch (a) {
    case 'bol':
      return pos === 0;
    case 'eol':
      return pos === s.length;
    case 'wb':
      return isWordAt(s, pos - 1) !== isWordAt(s, pos);
    case 'nwb':
      return isWordAt(s, pos - 1) === isWordAt(s, pos);
  }
}

/**
 * Pike VM: the set of NFA states at each position, each state at most once per position, a new
 * thread started at every position (an unanchored search). Every instruction visit and every
 * character step costs one unit of `meter.work`.
 */
function runProgram(prog: readonly Inst[], s: string, meter: { work: number; readonly limit: number }): 'match' | 'no_match' | 'exhausted' {
  const marks = new Int32Array(prog.length).fill(-1);
  const stack: number[] = [];
  const closure = (list: number[], start: number, pos: number): 'match' | 'ok' | 'exhausted' => {
    stack.length = 0;
    stack.push(start);
    while (stack.length > 0) {
      const pc = stack.pop()!;
      if (marks[pc] === pos) continue;
      marks[pc] = pos;
      if (++meter.work > meter.limit) return 'exhausted';
      const inst = prog[pc]!;
      switch (inst.op) {
        case 'set':
          list.push(pc);
          break;
        case 'jmp':
          stack.push(inst.x);
          break;
        case 'split':
          stack.push(inst.y, inst.x);
          break;
        case 'assert':
          if (holds(inst.a, s, pos)) stack.push(pc + 1);
          break;
        case 'match':
          return 'match';
      }
    }
    return 'ok';
  };
  let current: number[] = [];
  for (let pos = 0; ; pos++) {
    const started = closure(current, 0, pos);
    if (started !== 'ok') return started === 'match' ? 'match' : 'exhausted';
    if (pos === s.length) return 'no_match';
    const c = s.charCodeAt(pos);
    const next: number[] = [];
    for (const pc of current) {
      if (++meter.work > meter.limit) return 'exhausted';
      const inst = prog[pc]!;
      if (inst.op === 'set' && inRanges(inst.ranges, c)) {
        const r = closure(next, pc + 1, pos + 1);
        if (r !== 'ok') return r;
      }
    }
    current = next;
  }
}

/**
 * RegExp(source).test(subject) on the linear engine, with the same caps as `$regex`: the result,
 * or 'skipped' (length caps, unsupported construct), 'invalid' (syntax error) or 'exhausted'.
 */
export function regexTest(source: string, subject: string, work: number = DEFAULT_LIMITS.regexWork): boolean | 'skipped' | 'invalid' | 'exhausted' {
  if (source.length > REGEX_MAX_PATTERN || subject.length > REGEX_MAX_SUBJECT) return 'skipped';
  const compiled = compileRegex(source);
  if (compiled === 'invalid') return 'invalid';
  if (compiled === 'unsupported') return 'skipped';
  const r = runProgram(compiled, subject, { work: 0, limit: work });
  return r === 'exhausted' ? 'exhausted' : r === 'match';
}
