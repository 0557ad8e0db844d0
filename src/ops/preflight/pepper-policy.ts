import { createHash } from 'node:crypto';

/**
 * The key pepper policy the server reports on (`GET /v1/admin/ops/runtime`) and preflight checks:
 * at least 32 characters, not a value published in this repository (tests, docs, examples), not
 * trivially low in variety. The verdict names problems, never the value.
 */
export const PEPPER_MIN_LENGTH = 32;
export const PEPPER_MIN_DISTINCT_CHARACTERS = 10;

/**
 * SHA-256 of the pepper values that appear in this repository's tests and examples (they are
 * public, so a deployment using one has no secret pepper). Digests, so the list itself is not a
 * copy-paste source. Add the digest of any value you publish: `printf %s VALUE | sha256sum`.
 */
export const KNOWN_DEFAULT_PEPPER_DIGESTS: ReadonlySet<string> = new Set([
  // test/support/service.ts (TEST_PEPPER), test/e2e/outbox-workers.e2e-spec.ts
  'd1bc704f3dbe7431c617f89c95b097082da07a53a576817316eaaf44cafc3dd7',
  // test/e2e/quota-enforcement.e2e-spec.ts
  '88f7f7440816d434104370ad0025ae79a8444eb04f03e01047bb6898f9d6cfac',
  // test/e2e/telemetry.e2e-spec.ts
  '35cd28ce96ffeab98ddef3ee1851040f6985187c1d0d7932481331a6915a2600',
  // test/e2e/key-propagation.e2e-spec.ts
  '9fcf4673f5bdb213688f52c9d18f0f403d8ac0e7d80b12ddbd4a7b42bc820a6b',
]);

export type PepperProblem = 'too_short' | 'known_default' | 'low_variety';

export interface PepperVerdict {
  readonly meets_policy: boolean;
  readonly problems: readonly PepperProblem[];
}

export function pepperDigest(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** Judge a pepper value against the policy (pure; the value never leaves this function). */
export function pepperPolicy(value: string): PepperVerdict {
  const problems: PepperProblem[] = [];
  if (value.length < PEPPER_MIN_LENGTH) problems.push('too_short');
  if (KNOWN_DEFAULT_PEPPER_DIGESTS.has(pepperDigest(value))) problems.push('known_default');
  if (new Set(value).size < PEPPER_MIN_DISTINCT_CHARACTERS) problems.push('low_variety');
  return { meets_policy: problems.length === 0, problems };
}
