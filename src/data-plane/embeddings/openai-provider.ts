import { errorChain } from '../../platform/errors/error-chain';
import { type EmbeddingProvider, EmbeddingError } from './embedding-provider';

export interface OpenAiProviderOptions {
  readonly baseUrl: string;
  readonly model: string;
  readonly apiKey: string | undefined;
  readonly dimensions: number;
  readonly timeoutMs: number;
  readonly retries: number;
}

/**
 * An OpenAI-compatible `/embeddings` endpoint (OpenAI, Azure OpenAI with a compatible gateway,
 * vLLM, Ollama's OpenAI API, ...). Asks for `dimensions` vectors; times out; retries timeouts,
 * 429 and 5xx with backoff; everything else is a permanent failure.
 */
export class OpenAiEmbeddingProvider implements EmbeddingProvider {
  readonly model: string;
  readonly dimensions: number;

  constructor(private readonly options: OpenAiProviderOptions) {
    this.model = `openai:${options.model}`;
    this.dimensions = options.dimensions;
  }

  async embed(texts: readonly string[], signal?: AbortSignal): Promise<number[][]> {
    let lastError: EmbeddingError | undefined;
    const aborted = () => new EmbeddingError('embedding request aborted by the caller', false);
    for (let attempt = 0; attempt <= this.options.retries; attempt++) {
      if (signal?.aborted) throw aborted();
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2)));
      if (signal?.aborted) throw aborted();
      try {
        return await this.once(texts, signal);
      } catch (err) {
        // The caller's own abort is final, not a provider failure to retry.
        if (signal?.aborted) throw aborted();
        lastError = err instanceof EmbeddingError ? err : new EmbeddingError(errorChain(err), true);
        if (!lastError.retryable) throw lastError;
      }
    }
    throw lastError ?? new EmbeddingError('embedding failed', true);
  }

  private async once(texts: readonly string[], signal?: AbortSignal): Promise<number[][]> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    let res: Response;
    try {
      res = await fetch(`${this.options.baseUrl.replace(/\/$/, '')}/embeddings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}) },
        body: JSON.stringify({ model: this.options.model, input: texts, dimensions: this.dimensions }),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      throw new EmbeddingError(`embedding request failed: ${errorChain(err)}`, true);
    }
    if (!res.ok) throw new EmbeddingError(`embedding endpoint answered ${res.status}`, res.status === 429 || res.status >= 500, res.status);
    const body = (await res.json().catch(() => null)) as { data?: { embedding?: unknown; index?: number }[] } | null;
    const data = body?.data;
    if (!Array.isArray(data) || data.length !== texts.length) throw new EmbeddingError('embedding response has the wrong shape', false);
    const out: (number[] | undefined)[] = new Array<number[] | undefined>(texts.length).fill(undefined);
    for (const [i, item] of data.entries()) {
      const v = item.embedding;
      if (!Array.isArray(v) || v.length !== this.dimensions || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
        throw new EmbeddingError(`embedding ${i} is not ${this.dimensions} finite numbers`, false);
      }
      const index = item.index ?? i;
      // Each input exactly once: a duplicate, negative or out-of-range index would pair vectors with the wrong texts.
      if (!Number.isInteger(index) || index < 0 || index >= texts.length || out[index] !== undefined) {
        throw new EmbeddingError(`embedding response has an invalid or repeated index ${String(index)}`, false);
      }
      out[index] = v as number[];
    }
    return out as number[][];
  }
}
