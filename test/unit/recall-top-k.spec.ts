import fc from 'fast-check';
import { TopK } from '../../src/data-plane/memory/recall/top-k';
import { decodeFloat4Array } from '../../src/data-plane/memory/memory.repository';

const rank = (xs: readonly { id: string; similarity: number }[]) => [...xs].sort((a, b) => b.similarity - a.similarity || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

describe('TopK: the exact scan keeps only the k best', () => {
  it('given candidates in any order and any k, then it keeps exactly what a full sort would take first (similarity desc, then id)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ id: fc.string({ minLength: 1, maxLength: 6, unit: fc.constantFrom('a', 'b', 'c', 'd', '0', '1') }), similarity: fc.integer({ min: -4, max: 4 }).map((x) => x / 4) }), { selector: (c) => c.id, maxLength: 60 }),
        fc.integer({ min: 0, max: 70 }),
        (candidates, k) => {
          const top = new TopK(k);
          for (const c of candidates) top.offer(c.id, c.similarity);
          expect(top.sorted()).toEqual(rank(candidates).slice(0, k));
        },
      ),
    );
  });

  it('given ties on similarity, then the smaller id wins the last place', () => {
    const top = new TopK(2);
    for (const id of ['c', 'a', 'd', 'b']) top.offer(id, 0.5);
    expect(top.sorted().map((x) => x.id)).toEqual(['a', 'b']);
  });
});

describe("decodeFloat4Array: PostgreSQL's binary real[]", () => {
  const encode = (values: readonly (number | null)[]): Uint8Array => {
    const b = Buffer.alloc(20 + values.length * 8);
    b.writeInt32BE(1, 0);
    b.writeInt32BE(values.includes(null) ? 1 : 0, 4);
    b.writeUInt32BE(700, 8); // float4
    b.writeInt32BE(values.length, 12);
    b.writeInt32BE(1, 16);
    values.forEach((v, i) => {
      if (v === null) b.writeInt32BE(-1, 20 + i * 8);
      else {
        b.writeInt32BE(4, 20 + i * 8);
        b.writeFloatBE(v, 24 + i * 8);
      }
    });
    return b;
  };
  it('given a one-dimensional array, then the exact 32-bit floats in order', () => {
    expect([...decodeFloat4Array(encode([0.1, -2.5, 3e-8]))]).toEqual([Math.fround(0.1), -2.5, Math.fround(3e-8)]);
  });
  it('given an empty array, then an empty vector; given an array at an odd offset of a larger buffer, then the same values', () => {
    const empty = Buffer.alloc(12);
    expect(decodeFloat4Array(empty)).toHaveLength(0);
    const inner = encode([1, 2]);
    const outer = Buffer.concat([Buffer.from([9]), inner]).subarray(1);
    expect([...decodeFloat4Array(outer)]).toEqual([1, 2]);
  });
});
