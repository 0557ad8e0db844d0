import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Circus } from '@jest/types';

/**
 * Where skipped tests and their reasons are kept (skips.ts registers reasons; the test
 * environment records each skip). Only node built-ins here: the environment loads this module
 * outside the test's module registry, where jest's globals do not exist.
 */
const REASONS = Symbol.for('aionis.test.skipReasons');
type Reasons = { names: Map<string, string>; patterns: [RegExp, string][] };

export function skipReasons(scope: object = globalThis): Reasons {
  const g = scope as { [REASONS]?: Reasons };
  return (g[REASONS] ??= { names: new Map(), patterns: [] });
}

export interface SkipRecord {
  readonly file: string;
  readonly test: string;
  readonly reason: string;
}

/** Called by the test environment for every skipped test: write it where run-tests.mjs finds it. */
export function recordSkip(scope: object, file: string, test: Circus.TestEntry): void {
  const r = skipReasons(scope);
  const names: string[] = [];
  let explicit = false;
  for (let block: Circus.TestEntry | Circus.DescribeBlock | undefined = test; block; block = block.parent) {
    names.unshift(block.name);
    if (block.mode === 'skip' || block.mode === 'todo') explicit = true;
  }
  // Not skipped by the test file but left out by this run (-t, it.only): not worth a line.
  if (!explicit) return;
  const path = names.filter((n) => n !== 'ROOT_DESCRIBE_BLOCK');
  const reason =
    [...path].reverse().map((n) => r.names.get(n) ?? r.patterns.find(([p]) => p.test(n))?.[1]).find((x) => x !== undefined) ??
    (test.mode === 'todo' ? 'todo' : 'it.skip / describe.skip without a reason (use onlyIf in test/support/skips.ts)');
  const record: SkipRecord = { file, test: path.join(' › '), reason };
  const dir = process.env.AIONIS_TEST_RUN_DIR;
  if (dir) appendFileSync(join(dir, `skipped-${process.pid}.jsonl`), `${JSON.stringify(record)}\n`);
}
