import { createHash } from 'node:crypto';

/**
 * The contract's hash derivations (§1.9), written out from the specification for the tests, not
 * imported from src: a test that reused the service's own hashing could not catch it hashing wrong.
 */
export const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

/** Canonical JSON (§1.9): keys sorted by code unit, no whitespace, undefined dropped. */
export const canon = (v: unknown): string => {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canon(o[k])}`)
    .join(',')}}`;
};

/** SHA-256 of the canonical JSON of a value. */
export const sha = (v: unknown): string => sha256(canon(v));

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const HEX64 = /^[0-9a-f]{64}$/;
