import type { MemoryLane } from './model';

/** The reader of recall, find and session listings (contract §3.2). */
export interface Consumer {
  readonly agentId: string | null;
  readonly teamId: string | null;
}

export interface LaneFields {
  readonly memory_lane: MemoryLane;
  readonly owner_agent_id: string | null;
  readonly owner_team_id: string | null;
}

/**
 * Visible if shared; or private and owned by the consumer's agent; or private and owned by the
 * consumer's team (only when a team is given). Two nulls never match: a private node without an
 * owner is invisible to every reader. The repositories apply the same rule in SQL (lanePredicate).
 */
export function isVisible(node: LaneFields, c: Consumer): boolean {
  if (node.memory_lane === 'shared') return true;
  if (c.agentId !== null && node.owner_agent_id !== null && node.owner_agent_id === c.agentId) return true;
  return c.teamId !== null && node.owner_team_id !== null && node.owner_team_id === c.teamId;
}
