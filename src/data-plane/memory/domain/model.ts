/** The memory kernel's vocabulary (contract §1.8). */
export const NODE_TYPES = ['event', 'entity', 'topic', 'rule', 'evidence', 'concept', 'procedure', 'self_model'] as const;
export type NodeType = (typeof NODE_TYPES)[number];
export const MEMORY_TIERS = ['hot', 'warm', 'cold', 'archive'] as const;
export type MemoryTier = (typeof MEMORY_TIERS)[number];
export const EDGE_TYPES = ['part_of', 'related_to', 'derived_from'] as const;
export type EdgeType = (typeof EDGE_TYPES)[number];
export const MEMORY_LANES = ['private', 'shared'] as const;
export type MemoryLane = (typeof MEMORY_LANES)[number];
export const EMBEDDING_STATUSES = ['ready', 'pending', 'failed'] as const;
export type EmbeddingStatus = (typeof EMBEDDING_STATUSES)[number];
export const RULE_STATES = ['draft', 'shadow', 'active', 'disabled'] as const;
export type RuleState = (typeof RULE_STATES)[number];
export const RULE_SCOPES = ['global', 'team', 'agent'] as const;
export type RuleScope = (typeof RULE_SCOPES)[number];

/** Tier order for rehydration: archive < cold < warm < hot. */
export const TIER_RANK: Readonly<Record<MemoryTier, number>> = { archive: 0, cold: 1, warm: 2, hot: 3 };
