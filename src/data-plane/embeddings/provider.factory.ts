import type { AppConfig } from '../../platform/config/config';
import { EMBEDDING_DIMENSIONS } from '../memory.schemas';
import type { EmbeddingProvider } from './embedding-provider';
import { LocalEmbeddingProvider } from './local-provider';
import { OpenAiEmbeddingProvider } from './openai-provider';

export function createEmbeddingProvider(config: AppConfig): EmbeddingProvider {
  const e = config.embeddings;
  switch (e.provider) {
    case 'local':
      return new LocalEmbeddingProvider(EMBEDDING_DIMENSIONS);
    case 'openai':
      return new OpenAiEmbeddingProvider({
        baseUrl: e.baseUrl ?? '',
        model: e.model,
        apiKey: e.apiKey,
        dimensions: EMBEDDING_DIMENSIONS,
        timeoutMs: e.timeoutMs,
        retries: 2,
      });
  }
}
