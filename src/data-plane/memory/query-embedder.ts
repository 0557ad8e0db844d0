import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config';
import { AppError } from '../../platform/errors/app-error';
import { EMBEDDING_PROVIDER, type EmbeddingProvider, EmbeddingError } from '../embeddings/embedding-provider';

const TTL_MS = 10 * 60_000;
const MAX_KEYS = 2000;

/**
 * recall_text's query embeddings (contract §2.4): cached per (provider, SHA-256 of the prepared
 * text) for 10 minutes, at most 2000 entries; concurrent identical queries share one upstream
 * call. Provider failures become the contract's upstream_embedding_* errors with retry-after.
 */
@Injectable()
export class QueryEmbedder {
  private readonly cache = new Map<string, { at: number; vector: Promise<number[]> }>();

  constructor(
    @Inject(EMBEDDING_PROVIDER) private readonly provider: EmbeddingProvider | null,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  get available(): boolean {
    return this.provider !== null;
  }

  async embed(text: string): Promise<{ vector: number[]; provider: string }> {
    const provider = this.provider;
    if (!provider) throw new AppError('no_embedding_provider', 'this deployment has no embedding provider (EMBEDDING_PROVIDER=none): use /v1/memory/recall with a query_embedding');
    const key = `${provider.model}\u0000${createHash('sha256').update(text, 'utf8').digest('hex')}`;
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && now - hit.at < TTL_MS) {
      // Re-insert: the map's order is the eviction order (least recently used first).
      this.cache.delete(key);
      this.cache.set(key, hit);
      return { vector: await hit.vector, provider: provider.model };
    }
    const vector = this.call(provider, text);
    this.cache.set(key, { at: now, vector });
    while (this.cache.size > MAX_KEYS) this.cache.delete(this.cache.keys().next().value as string);
    try {
      return { vector: await vector, provider: provider.model };
    } catch (err) {
      this.cache.delete(key);
      throw err;
    }
  }

  private async call(provider: EmbeddingProvider, text: string): Promise<number[]> {
    let vectors: number[][];
    try {
      vectors = await provider.embed([text]);
    } catch (err) {
      throw upstreamError(err);
    }
    const v = vectors[0];
    const dim = this.config.embeddings.dimension;
    if (!v || v.length !== dim || !v.every(Number.isFinite)) {
      throw new AppError('upstream_embedding_bad_response', `the embedding provider did not return ${dim} finite numbers`, { provider_status: null });
    }
    return v;
  }
}

/** The contract's mapping of provider failures (§2.4). */
export function upstreamError(err: unknown): AppError {
  const status = err instanceof EmbeddingError ? (err.status ?? null) : null;
  const message = err instanceof Error ? err.message : String(err);
  if (status === 429 || /rate.?limit/i.test(message)) return new AppError('upstream_embedding_rate_limited', `the embedding provider is rate limiting: ${message}`, { provider_status: status, retry_after_ms: 2000 });
  if (err instanceof EmbeddingError && status !== null && status < 500 && !err.retryable) {
    return new AppError('upstream_embedding_bad_response', `the embedding provider answered ${status}`, { provider_status: status });
  }
  if (err instanceof EmbeddingError && status === null && !err.retryable) return new AppError('upstream_embedding_bad_response', `the embedding provider answered badly: ${message}`, { provider_status: null });
  return new AppError('upstream_embedding_unavailable', `the embedding provider is unavailable: ${message}`, { provider_status: status, retry_after_ms: 1000 });
}
