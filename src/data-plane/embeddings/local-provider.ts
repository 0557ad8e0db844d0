import { createHash } from 'node:crypto';
import type { EmbeddingProvider } from './embedding-provider';

/**
 * The built-in provider: deterministic, no network. Each word and each character trigram of the
 * text is hashed into one of `dimensions` buckets with a hashed sign (feature hashing), words
 * weighted above trigrams, then the vector is L2-normalised. Texts sharing words or word parts
 * get a high cosine similarity: good enough lexical recall for the embedded default and tests.
 */
export class LocalEmbeddingProvider implements EmbeddingProvider {
  readonly model = 'local:hashed-ngrams-v1';

  constructor(readonly dimensions: number) {}

  private bucket(feature: string): { index: number; sign: number } {
    const h = createHash('sha1').update(feature, 'utf8').digest();
    return { index: h.readUInt32BE(0) % this.dimensions, sign: (h[4]! & 1) === 0 ? 1 : -1 };
  }

  embedOne(text: string): number[] {
    const v = new Array<number>(this.dimensions).fill(0);
    const words = text.toLowerCase().normalize('NFKC').match(/[\p{L}\p{N}]+/gu) ?? [];
    for (const w of words) {
      const b = this.bucket(`w:${w}`);
      v[b.index]! += 1.0 * b.sign;
      const padded = `^${w}$`;
      for (let i = 0; i + 3 <= padded.length; i++) {
        const t = this.bucket(`c:${padded.slice(i, i + 3)}`);
        v[t.index]! += 0.35 * t.sign;
      }
    }
    const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    return norm === 0 ? v : v.map((x) => x / norm);
  }

  embed(texts: readonly string[]): Promise<number[][]> {
    return Promise.resolve(texts.map((t) => this.embedOne(t)));
  }
}
