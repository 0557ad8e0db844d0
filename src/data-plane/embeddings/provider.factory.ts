import type { AppConfig } from '../../platform/config/config';
import type { EmbeddingProvider } from './embedding-provider';
import { FakeEmbeddingProvider } from './fake-provider';
import { LocalEmbeddingProvider } from './local-provider';
import { OpenAiEmbeddingProvider } from './openai-provider';

/** The configured provider, at the deployment's dimension; null when embeddings are off (EMBEDDING_PROVIDER=none). */
export function createEmbeddingProvider(config: AppConfig): EmbeddingProvider | null {
  const e = config.embeddings;
  switch (e.provider) {
    case 'none':
      return null;
    case 'local':
      return new LocalEmbeddingProvider(e.dimension);
    case 'fake':
      return new FakeEmbeddingProvider(e.dimension);
    case 'openai':
      return new OpenAiEmbeddingProvider({ baseUrl: e.baseUrl ?? '', model: e.model, apiKey: e.apiKey, dimensions: e.dimension, timeoutMs: e.timeoutMs, retries: 2 });
  }
}
