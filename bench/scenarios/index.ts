import type { Scenario } from '../lib/context';
import { appendScenario } from './append';
import { keysScenario } from './keys';
import { lagScenario } from './lag';
import { memoryScenario } from './memory-api';
import { policyScenario } from './policy';
import { readScenario } from './read-replay';
import { rebuildScenario } from './rebuild';
import { recallScenario } from './recall-scaling';

/** Every scenario, in the order a full run takes them (read before rebuild: they share the loaded log). */
export const SCENARIOS: readonly Scenario[] = [appendScenario, readScenario, rebuildScenario, lagScenario, keysScenario, memoryScenario, recallScenario, policyScenario];
