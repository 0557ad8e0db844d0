import type { Circus } from '@jest/types';
import { TestEnvironment } from 'jest-environment-node';
import { type LogSource, logSources } from './service-logs';
import { recordSkip } from './skip-records';

/**
 * The test environment of the int and e2e tiers (jest.config.js):
 * - when a test or hook fails, it prints what the services and processes the test file started
 *   logged meanwhile (test/support/service-logs.ts), so a 500 in a test names its cause;
 * - it records every skipped test with its reason (test/support/skips.ts, skip-records.ts) for the summary that
 *   `npm test` prints at the end (scripts/run-tests.mjs).
 */
export default class AionisTestEnvironment extends TestEnvironment {
  private marks = new Map<LogSource, number>();
  private readonly testPath: string;

  constructor(...args: ConstructorParameters<typeof TestEnvironment>) {
    super(...args);
    this.testPath = args[1].testPath;
  }

  private mark(): void {
    this.marks = new Map([...logSources(this.global)].map((s) => [s, s.count()]));
  }

  private printSince(what: string): void {
    const out: string[] = [];
    for (const s of logSources(this.global)) {
      const lines = s.lines();
      const since = this.marks.get(s) ?? 0;
      const fresh = lines.slice(Math.max(0, lines.length - (s.count() - since)));
      if (fresh.length > 0) out.push(`--- ${s.name} (${fresh.length} line(s)) ---`, ...fresh);
    }
    if (out.length > 0) process.stderr.write(`\n[aionis] logs of the services started by ${this.testPath}, while ${what} ran:\n${out.join('\n')}\n--- end of logs ---\n`);
  }

   
  async handleTestEvent(event: Circus.Event): Promise<void> {
    switch (event.name) {
      case 'test_start':
        this.mark();
        break;
      case 'test_done':
        if (event.test.errors.length > 0) this.printSince(`the failed test "${event.test.name}"`);
        break;
      case 'hook_failure':
        this.printSince(`the failed ${event.hook.type} hook`);
        this.mark();
        break;
      case 'test_skip':
      case 'test_todo':
        recordSkip(this.global, this.testPath, event.test);
        break;
      default:
        break;
    }
  }
}
