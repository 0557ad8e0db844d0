import { canonicalJson, sha256Hex } from '../../../platform/event-store/canonical-json';
import { shaOf } from './ids';

/**
 * Commits (contract §1.9) and the hosted per-scope chain. Every mutation of a scope is a commit
 * whose `commit_hash` is the open core's (so an identical write finds its commit again and returns
 * the same id and hash). On top, each scope's commits form a linear chain in write order:
 * `chain_hash = sha({format, prev, seq, commit_id, commit_hash, key_id, created_at})`, so removing,
 * reordering or editing any commit (or who wrote it) is detected by recomputation.
 */
export const COMMIT_KINDS = ['write', 'rule_state_change', 'rule_feedback', 'tool_feedback', 'archive_rehydrate', 'nodes_activate'] as const;
export type CommitKind = (typeof COMMIT_KINDS)[number];

export interface WriteCommitHashInput {
  readonly parentHash: string;
  readonly inputSha: string;
  readonly diff: unknown;
  readonly scopeKey: string;
  readonly actor: string;
  readonly modelVersion: string | null;
  readonly promptVersion: string | null;
}

/** `/write` (and the write-based routes): sha({parentHash, inputSha, diffSha, scope, actor, model_version, prompt_version}). */
export function writeCommitHash(c: WriteCommitHashInput): { commitHash: string; diffSha: string } {
  const diffSha = shaOf(c.diff);
  const commitHash = shaOf({ parentHash: c.parentHash, inputSha: c.inputSha, diffSha, scope: c.scopeKey, actor: c.actor, model_version: c.modelVersion, prompt_version: c.promptVersion });
  return { commitHash, diffSha };
}

/** Every other mutating route: sha({parentHash, inputSha, diffSha, scope, actor, kind}); the parent is the scope's newest commit. */
export function kindCommitHash(c: { parentHash: string; inputSha: string; diff: unknown; scopeKey: string; actor: string; kind: Exclude<CommitKind, 'write'> }): { commitHash: string; diffSha: string } {
  const diffSha = shaOf(c.diff);
  return { commitHash: shaOf({ parentHash: c.parentHash, inputSha: c.inputSha, diffSha, scope: c.scopeKey, actor: c.actor, kind: c.kind }), diffSha };
}

export interface ChainLinkInput {
  readonly prevChainHash: string | null;
  readonly seq: number;
  readonly commitId: string;
  readonly commitHash: string;
  readonly keyId: string;
  readonly createdAt: string;
}

export function chainHash(c: ChainLinkInput): string {
  return shaOf({ format: 2, prev: c.prevChainHash, seq: c.seq, commit_id: c.commitId, commit_hash: c.commitHash, key_id: c.keyId, created_at: c.createdAt });
}

/** A stored commit as verification reads it back. */
export interface StoredCommit {
  readonly commit_id: string;
  readonly seq: number;
  /** 1: written by the pre-contract data plane (its hash chained by itself); 2: contract commits. */
  readonly format: number;
  readonly kind: CommitKind;
  readonly parent_id: string | null;
  readonly parent_hash: string | null;
  readonly input_sha256: string;
  readonly diff: unknown;
  readonly diff_sha256: string;
  readonly actor: string | null;
  readonly model_version: string | null;
  readonly prompt_version: string | null;
  readonly commit_hash: string;
  readonly key_id: string;
  readonly chain_prev_hash: string | null;
  readonly chain_hash: string;
  readonly created_at: string;
}

export type ChainProblemKind = 'seq_gap' | 'chain_link_mismatch' | 'diff_hash_mismatch' | 'parent_hash_mismatch' | 'commit_hash_mismatch' | 'chain_hash_mismatch';
export interface ChainProblem {
  readonly commit_id: string;
  readonly seq: number;
  readonly problem: ChainProblemKind;
}

/**
 * The hash of a commit written before the contract (format 1), recomputed as that release did:
 * its chain and its commit hash were one (parent = previous commit of the scope).
 */
export function legacyCommitHash(c: { tenantId: string; projectKey: string; scope: string; parentHash: string | null; inputSha: string; keyId: string; diff: unknown }): { commitHash: string; diffSha: string } {
  const diffSha = sha256Hex(canonicalJson(c.diff));
  const commitHash = sha256Hex(
    canonicalJson({ parent_hash: c.parentHash, tenant_id: c.tenantId, project_key: c.projectKey, scope: c.scope, actor_key_id: c.keyId, input_sha256: c.inputSha, diff_sha256: diffSha }),
  );
  return { commitHash, diffSha };
}

/**
 * Recompute one stored commit's hashes: the diff hash, the commit hash (the contract's, or the
 * previous release's for format 1) and, for contract commits, the chain link. `parentHash` is the
 * parent's stored commit_hash when the parent is known (else the commit's own stored parent_hash
 * is used); the stored parent_hash must then equal it (`parent_hash_mismatch`: the column a
 * reader of the row sees was edited, even though the hashes are computed from the parent row).
 * Returns the problems found, none when it is intact. Pure.
 */
type CommitProblem = 'diff_hash_mismatch' | 'parent_hash_mismatch' | 'commit_hash_mismatch' | 'chain_hash_mismatch';

export function recomputeCommit(ns: { tenantId: string; projectKey: string; scope: string; scopeKey: string }, c: StoredCommit, parentHash: string | null): CommitProblem[] {
  let recomputed: { commitHash: string; diffSha: string };
  let chainOk: boolean;
  if (c.format === 1) {
    recomputed = legacyCommitHash({ tenantId: ns.tenantId, projectKey: ns.projectKey, scope: ns.scope, parentHash: c.parent_hash, inputSha: c.input_sha256, keyId: c.key_id, diff: c.diff });
    chainOk = recomputed.commitHash === c.chain_hash;
  } else {
    const parent = parentHash ?? c.parent_hash ?? '';
    const actor = c.actor ?? 'system';
    recomputed =
      c.kind === 'write'
        ? writeCommitHash({ parentHash: parent, inputSha: c.input_sha256, diff: c.diff, scopeKey: ns.scopeKey, actor, modelVersion: c.model_version, promptVersion: c.prompt_version })
        : kindCommitHash({ parentHash: parent, inputSha: c.input_sha256, diff: c.diff, scopeKey: ns.scopeKey, actor, kind: c.kind });
    chainOk = chainHash({ prevChainHash: c.chain_prev_hash, seq: c.seq, commitId: c.commit_id, commitHash: c.commit_hash, keyId: c.key_id, createdAt: c.created_at }) === c.chain_hash;
  }
  const problems: CommitProblem[] = [];
  if (recomputed.diffSha !== c.diff_sha256) problems.push('diff_hash_mismatch');
  if (c.format !== 1 && parentHash !== null && c.parent_hash !== parentHash) problems.push('parent_hash_mismatch');
  if (recomputed.commitHash !== c.commit_hash) problems.push('commit_hash_mismatch');
  if (!chainOk) problems.push('chain_hash_mismatch');
  return problems;
}

/**
 * Recompute every hash of one scope's chain, in seq order: each commit (recomputeCommit), the seq
 * sequence and the links. `parentHashOf` gives the stored commit_hash of a contract parent (null
 * when it is not in this scope). Pure; reports each break, never throws.
 */
export function verifyChain(
  ns: { tenantId: string; projectKey: string; scope: string; scopeKey: string },
  commits: readonly StoredCommit[],
  parentHashOf: (parentId: string) => string | null,
): ChainProblem[] {
  const problems: ChainProblem[] = [];
  let prev: StoredCommit | null = null;
  for (const c of commits) {
    const at = { commit_id: c.commit_id, seq: c.seq };
    if (c.seq !== (prev ? prev.seq + 1 : 1)) problems.push({ ...at, problem: 'seq_gap' });
    if (c.chain_prev_hash !== (prev?.chain_hash ?? null)) problems.push({ ...at, problem: 'chain_link_mismatch' });
    for (const problem of recomputeCommit(ns, c, c.parent_id !== null ? parentHashOf(c.parent_id) : null)) problems.push({ ...at, problem });
    prev = c;
  }
  return problems;
}

/** A commit row as the chain appends it. */
export interface NewCommit {
  readonly commit_id: string;
  readonly seq: number;
  readonly format: 2;
  readonly kind: CommitKind;
  readonly parent_id: string | null;
  readonly parent_hash: string;
  readonly input_sha256: string;
  readonly diff: unknown;
  readonly diff_sha256: string;
  readonly actor: string;
  readonly model_version: string | null;
  readonly prompt_version: string | null;
  readonly commit_hash: string;
  readonly key_id: string;
  readonly request_id: string | null;
  readonly chain_prev_hash: string | null;
  readonly chain_hash: string;
  readonly created_at: string;
}

/** The next link of a scope's chain after `head`: seq + 1, linked to the head's chain hash. */
export function nextCommit(
  head: { readonly head_hash: string | null; readonly commit_count: number },
  c: Omit<NewCommit, 'seq' | 'format' | 'chain_prev_hash' | 'chain_hash'>,
): NewCommit {
  const seq = head.commit_count + 1;
  const chain = chainHash({ prevChainHash: head.head_hash, seq, commitId: c.commit_id, commitHash: c.commit_hash, keyId: c.key_id, createdAt: c.created_at });
  return { ...c, seq, format: 2, chain_prev_hash: head.head_hash, chain_hash: chain };
}
