import { kindCommitHash } from './commit';
import { TIER_RANK, type MemoryTier } from './model';

/**
 * Archive rehydration and node activation (contract §2.16, §2.17), pure: which requested nodes
 * resolve, which move or update, the slot markers, the commit. One commit per call that changes
 * anything; none otherwise.
 */
export interface Resolution {
  readonly requested_node_ids: number;
  readonly requested_client_ids: number;
  /** Distinct ids: the given node ids plus the ids of the client ids that resolved. */
  readonly resolved: readonly string[];
  readonly missing_node_ids: string[];
  readonly missing_client_ids: string[];
}

export function resolveIds(nodeIds: readonly string[] | undefined, clientIds: readonly string[] | undefined, byClientId: ReadonlyMap<string, string>, foundIds: ReadonlySet<string>): Resolution {
  const ids = [...new Set((nodeIds ?? []).map((x) => x.toLowerCase()))];
  const cids = [...new Set(clientIds ?? [])];
  const viaClient = cids.flatMap((c) => (byClientId.has(c) ? [byClientId.get(c)!] : []));
  return {
    requested_node_ids: ids.length,
    requested_client_ids: cids.length,
    resolved: [...new Set([...ids, ...viaClient])],
    missing_node_ids: ids.filter((id) => !foundIds.has(id)),
    missing_client_ids: cids.filter((c) => !byClientId.has(c)),
  };
}

export interface FoundNode {
  readonly id: string;
  readonly tier: MemoryTier;
  readonly slots: Readonly<Record<string, unknown>>;
}

export interface CommitDraft {
  readonly kind: 'archive_rehydrate' | 'nodes_activate';
  readonly diff: unknown;
  readonly diff_sha256: string;
  readonly commit_hash: string;
  readonly parent_hash: string;
  readonly input_sha256: string;
  readonly actor: string;
}

export function planRehydrate(
  found: readonly FoundNode[],
  r: { target: 'warm' | 'hot'; reason: string | null; inputSha: string; actor: string; at: string; parentHash: string; scopeKey: string },
): { moves: { id: string; tier: MemoryTier; slots: Record<string, unknown> }[]; noop: string[]; commit: CommitDraft | null } {
  const moving = found.filter((n) => TIER_RANK[n.tier] < TIER_RANK[r.target]);
  const noop = found.filter((n) => !moving.includes(n)).map((n) => n.id);
  if (moving.length === 0) return { moves: [], noop, commit: null };
  const diff = { archive_rehydrate: moving.map((n) => ({ node_id: n.id, from_tier: n.tier, to_tier: r.target })), reason: r.reason };
  const { commitHash, diffSha } = kindCommitHash({ parentHash: r.parentHash, inputSha: r.inputSha, diff, scopeKey: r.scopeKey, actor: r.actor, kind: 'archive_rehydrate' });
  return {
    moves: moving.map((n) => ({
      id: n.id,
      tier: r.target,
      slots: {
        ...n.slots,
        last_rehydrated_at: r.at,
        last_rehydrated_job: 'archive_rehydrate',
        last_rehydrated_from_tier: n.tier,
        last_rehydrated_to_tier: r.target,
        last_rehydrated_reason: r.reason,
        last_rehydrated_input_sha256: r.inputSha,
      },
    })),
    noop,
    commit: { kind: 'archive_rehydrate', diff, diff_sha256: diffSha, commit_hash: commitHash, parent_hash: r.parentHash, input_sha256: r.inputSha, actor: r.actor },
  };
}

export type Outcome = 'positive' | 'negative' | 'neutral';

/** feedback_quality = clamp(0.8 * previous + 0.2 * signal) to 4 decimals in [-1, 1]; neutral leaves it. */
export function feedbackQuality(previous: unknown, outcome: Outcome): number {
  const prev = typeof previous === 'number' && Number.isFinite(previous) ? previous : 0;
  if (outcome === 'neutral') return prev;
  const next = 0.8 * prev + 0.2 * (outcome === 'positive' ? 1 : -1);
  return Math.round(Math.min(1, Math.max(-1, next)) * 10_000) / 10_000;
}

const count = (v: unknown): number => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : 0);

export function planActivate(
  found: readonly FoundNode[],
  r: { outcome: Outcome; activate: boolean; runId: string | null; reason: string | null; inputSha: string; actor: string; at: string; parentHash: string; scopeKey: string },
): { updates: { id: string; slots: Record<string, unknown>; activate: boolean }[]; commit: CommitDraft } | null {
  if (found.length === 0) return null;
  const diff = { nodes_activate: found.map((n) => ({ node_id: n.id })), outcome: r.outcome, run_id: r.runId, activate: r.activate };
  const { commitHash, diffSha } = kindCommitHash({ parentHash: r.parentHash, inputSha: r.inputSha, diff, scopeKey: r.scopeKey, actor: r.actor, kind: 'nodes_activate' });
  return {
    updates: found.map((n) => ({
      id: n.id,
      activate: r.activate,
      slots: {
        ...n.slots,
        feedback_positive: count(n.slots.feedback_positive) + (r.outcome === 'positive' ? 1 : 0),
        feedback_negative: count(n.slots.feedback_negative) + (r.outcome === 'negative' ? 1 : 0),
        feedback_quality: feedbackQuality(n.slots.feedback_quality, r.outcome),
        last_feedback_outcome: r.outcome,
        last_feedback_at: r.at,
        last_feedback_run_id: r.runId,
        last_feedback_reason: r.reason,
        last_feedback_input_sha256: r.inputSha,
      },
    })),
    commit: { kind: 'nodes_activate', diff, diff_sha256: diffSha, commit_hash: commitHash, parent_hash: r.parentHash, input_sha256: r.inputSha, actor: r.actor },
  };
}
