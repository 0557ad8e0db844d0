import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { AppError } from '../../platform/errors/app-error';
import { EMBEDDING_PROVIDER, type EmbeddingProvider } from '../embeddings/embedding-provider';

/** `recall_text` on a deployment without an embedding provider: 400 no_embedding_provider, checked before authentication (contract §3.7). */
@Injectable()
export class NoProviderMiddleware implements NestMiddleware {
  constructor(@Inject(EMBEDDING_PROVIDER) private readonly provider: EmbeddingProvider | null) {}

  use(_req: Request, _res: Response, next: NextFunction): void {
    if (this.provider === null) throw new AppError('no_embedding_provider', 'this deployment has no embedding provider (EMBEDDING_PROVIDER=none): use /v1/memory/recall with a query_embedding');
    next();
  }
}
