import { teardownRun } from './global-run';

/** The end of a run: name and remove what tests left in the temp folder (global-run.ts). */
export default function globalTeardown(): void {
  teardownRun();
}
