import { createHash } from 'node:crypto';
import type { EmbeddingProvider } from './embedding-provider';

/**
 * The open core's default "fake" embedder (contract §1.8), reproduced so that vectors, and the
 * similarities a client saw against the open core, are the same here: seed = the first 4 bytes
 * (little-endian) of SHA-256(text), a mulberry32 generator, each draw r mapped to 2r - 1.
 * Deterministic and dependency-free; texts get unrelated vectors (no lexical similarity).
 */
export class FakeEmbeddingProvider implements EmbeddingProvider {
  readonly model = 'fake:deterministic';

  constructor(readonly dimensions: number) {}

  embedOne(text: string): number[] {
    let a = createHash('sha256').update(text, 'utf8').digest().readUInt32LE(0);
    const next = (): number => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    return Array.from({ length: this.dimensions }, () => 2 * next() - 1);
  }

  embed(texts: readonly string[]): Promise<number[][]> {
    return Promise.resolve(texts.map((t) => this.embedOne(t)));
  }
}
