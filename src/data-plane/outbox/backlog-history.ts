/**
 * A tenant's outbox backlog over time, derived from its jobs (memory_outbox keeps finished jobs):
 * a job is in the backlog from its creation until it leaves it (done, dead-lettered or discarded,
 * its updated_at). Pure: OutboxRepository.backlogHistory reads the counts, this folds them.
 *
 * Approximation, stated: a dead-lettered job that was later replayed is open again and its
 * updated_at is the replay's, so its dead-letter period counts as backlog here.
 */
export interface BacklogHistory {
  /** Jobs open at the start of the window. */
  readonly initial: number;
  /** Jobs created per bucket (bucket start, ISO). */
  readonly created: readonly { readonly t: string; readonly n: number }[];
  /** Jobs that left the backlog per bucket. */
  readonly left: readonly { readonly t: string; readonly n: number }[];
}

/** The backlog at the end of each bucket starting at `starts` (ISO, any order, buckets of the counts' size). */
export function backlogAt(h: BacklogHistory, starts: readonly string[]): Map<string, number> {
  const delta = new Map<string, number>();
  for (const c of h.created) delta.set(c.t, (delta.get(c.t) ?? 0) + c.n);
  for (const l of h.left) delta.set(l.t, (delta.get(l.t) ?? 0) - l.n);
  const keys = [...new Set([...delta.keys(), ...starts])].sort();
  const out = new Map<string, number>();
  let backlog = h.initial;
  for (const k of keys) {
    backlog += delta.get(k) ?? 0;
    out.set(k, Math.max(0, backlog));
  }
  return new Map(starts.map((s) => [s, out.get(s) ?? 0]));
}
