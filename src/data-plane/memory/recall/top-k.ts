/**
 * The k best (id, similarity) pairs seen so far, in the order recall ranks seeds: similarity
 * descending, then id ascending. Candidates arrive a page at a time from the exact scan, so only k
 * are ever kept (a bounded min-heap on that order), whatever the size of the scope. Pure.
 */
export interface Scored {
  readonly id: string;
  readonly similarity: number;
}

/** a ranks before b. */
const before = (a: Scored, b: Scored): boolean => a.similarity > b.similarity || (a.similarity === b.similarity && a.id < b.id);

export class TopK {
  /** A heap whose root is the worst kept pair. */
  private readonly heap: Scored[] = [];

  constructor(private readonly k: number) {}

  offer(id: string, similarity: number): void {
    if (this.k <= 0) return;
    const item = { id, similarity };
    if (this.heap.length < this.k) {
      this.heap.push(item);
      this.up(this.heap.length - 1);
    } else if (before(item, this.heap[0]!)) {
      this.heap[0] = item;
      this.down(0);
    }
  }

  /** The kept pairs, best first. */
  sorted(): Scored[] {
    return [...this.heap].sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[parent]!, h[i]!)) break;
      [h[parent], h[i]] = [h[i]!, h[parent]!];
      i = parent;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let worst = i;
      if (l < h.length && before(h[worst]!, h[l]!)) worst = l;
      if (r < h.length && before(h[worst]!, h[r]!)) worst = r;
      if (worst === i) return;
      [h[worst], h[i]] = [h[i]!, h[worst]!];
      i = worst;
    }
  }
}
