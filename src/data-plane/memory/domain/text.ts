import { createHash } from 'node:crypto';

/**
 * Text handling of every write path (contract §1.7): whitespace normalisation with truncation,
 * then PII redaction. Pure.
 */
export const MAX_TEXT_LEN_DEFAULT = 8000;

/** Collapse whitespace runs to one space and trim; cut over-long text to max-1 characters plus "…". */
export function normaliseText(text: string, maxLen: number = MAX_TEXT_LEN_DEFAULT): string {
  const collapsed = text.replace(/\s+/g, ' ').trim();
  if (collapsed.length <= maxLen) return collapsed;
  let cut = collapsed.slice(0, maxLen - 1);
  // Never leave half of a surrogate pair behind: it could not be stored.
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}\u2026`;
}

export type RedactionKind = 'email' | 'ssn' | 'ip' | 'phone';

/** In the order they are applied. */
const PATTERNS: readonly (readonly [RedactionKind, string, RegExp])[] = [
  ['email', 'EMAIL', /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g],
  ['ssn', 'SSN', /\b\d{3}-\d{2}-\d{4}\b/g],
  ['ip', 'IP', /\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b/g],
  ['phone', 'PHONE', /(?<![\w+])(?:\+?1[\s.-]?)?(?:\(\d{3}\)|\d{3})[\s.-]?\d{3}[\s.-]?\d{4}\b/g],
];

/** Counts of redactions in one request (only kinds that matched appear, as in the commit diff). */
export type RedactionCounts = Partial<Record<RedactionKind, number>>;

const tokenOf = (label: string, match: string): string => `[${label}#${createHash('sha256').update(match, 'utf8').digest('hex').slice(0, 8)}]`;

/** Replace e-mail addresses, SSNs, IPv4 addresses and US phone numbers by `[KIND#<8 hex of SHA-256>]`, counting them. */
export function redact(text: string, counts: RedactionCounts): string {
  let out = text;
  for (const [kind, label, re] of PATTERNS) {
    out = out.replace(re, (m) => {
      counts[kind] = (counts[kind] ?? 0) + 1;
      return tokenOf(label, m);
    });
  }
  return out;
}

/** The text pipeline of a write: normalise, then redact when redaction is on. */
export interface TextPolicy {
  readonly maxLen: number;
  readonly redaction: boolean;
}

export function prepareText(text: string, policy: TextPolicy, counts: RedactionCounts): string {
  const n = normaliseText(text, policy.maxLen);
  return policy.redaction ? redact(n, counts) : n;
}

/**
 * Redact every string leaf nested anywhere in a JSON value (keys are left alone). `exempt` names
 * top-level keys kept verbatim: the system keys of session and event nodes (the contract's fix for
 * ids mangled by redaction).
 */
export function redactJson(value: unknown, counts: RedactionCounts, exempt: ReadonlySet<string> = new Set()): unknown {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return redact(v, counts);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = walk(x);
      return out;
    }
    return v;
  };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return walk(value);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(value)) out[k] = exempt.has(k) ? x : walk(x);
  return out;
}
