/**
 * Embedding providers turn texts into vectors of the deployment's dimension (EMBEDDING_DIM). Writes never wait for them:
 * the outbox worker calls the provider and marks nodes ready or failed.
 */
export interface EmbeddingProvider {
  /** `local:hashed-ngrams-v1`, `openai:text-embedding-3-small`, ... stored with each vector. */
  readonly model: string;
  readonly dimensions: number;
  embed(texts: readonly string[], signal?: AbortSignal): Promise<number[][]>;
}

/** A failure that is worth retrying (timeouts, 429, 5xx) as opposed to a permanent one. */
export class EmbeddingError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    /** The provider's HTTP status when it answered (429, 5xx, ...); absent for timeouts, network failures and bad shapes. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'EmbeddingError';
  }
}

export const EMBEDDING_PROVIDER = Symbol('EMBEDDING_PROVIDER');
/** Tests (and drills) may hand the service a provider of their own. */
export const EMBEDDING_PROVIDER_OVERRIDE = 'EMBEDDING_PROVIDER_OVERRIDE';

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
