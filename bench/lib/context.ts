import type { BenchServer } from './bench-db';
import type { Figure, MachineFacts } from './report';

/** What a scenario gets from the harness. */
export interface BenchContext {
  readonly quick: boolean;
  readonly server: BenchServer;
  readonly machine: MachineFacts;
  /** A scratch directory of this run (removed at the end). */
  readonly tmpDir: string;
  /** Progress line on stderr (stdout is for the report). */
  log(message: string): void;
  /** Register work to do at the end of the run (close pools, stop processes), in reverse order. */
  onCleanup(fn: () => Promise<void> | void): void;
  /** A value shared between scenarios of one run (e.g. the 1M-event dataset), created on first use. */
  shared<T>(key: string, create: () => Promise<T>): Promise<T>;
}

export interface ScenarioOutput {
  readonly scale: Record<string, number | string>;
  readonly figures: Figure[];
  readonly notes: string[];
}

export interface Scenario {
  readonly name: string;
  readonly title: string;
  run(ctx: BenchContext): Promise<ScenarioOutput>;
}
