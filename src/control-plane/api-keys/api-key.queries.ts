import { Inject, Injectable } from '@nestjs/common';
import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { apiKeysProjection, type ApiKeyRow } from '../../../projections/api-keys.projection';
import { DATABASE, type Database } from '../../platform/db/database';
import { normaliseRow } from '../../platform/projections/projection-store';

export interface ApiKeyFilter {
  readonly tenantId?: string;
  readonly projectId?: string;
  readonly status?: 'active' | 'revoked';
  readonly after?: string;
  readonly limit: number;
}

export type ApiKeyRecord = ApiKeyRow & { readonly last_used_at: string | null };

/** Read side of API keys (rm_api_keys + api_key_usage). SQL only. */
@Injectable()
export class ApiKeysRepository {
  constructor(@Inject(DATABASE) private readonly database: Database) {}

  private base() {
    return this.database.db.selectFrom('rm_api_keys as k').leftJoin('api_key_usage as u', 'u.key_id', 'k.key_id').selectAll('k').select('u.last_used_at');
  }

  private map(r: Record<string, unknown>): ApiKeyRecord {
    const row = normaliseRow(apiKeysProjection, r) as unknown as ApiKeyRow;
    const used = r.last_used_at;
    return { ...row, last_used_at: used ? new Date(used as string | Date).toISOString() : null };
  }

  async get(keyId: string): Promise<ApiKeyRecord | undefined> {
    const row = await this.base().where('k.key_id', '=', keyId).executeTakeFirst();
    return row ? this.map(row as unknown as Record<string, unknown>) : undefined;
  }

  async list(f: ApiKeyFilter): Promise<ApiKeyRecord[]> {
    let q = this.base().orderBy('k.key_id').limit(f.limit);
    if (f.tenantId !== undefined) q = q.where('k.tenant_id', '=', f.tenantId);
    if (f.projectId !== undefined) q = q.where('k.project_id', '=', f.projectId);
    if (f.status) q = q.where('k.status', '=', f.status);
    if (f.after !== undefined) q = q.where('k.key_id', '>', f.after);
    return (await q.execute()).map((r) => this.map(r as unknown as Record<string, unknown>));
  }
}

export class GetApiKeyQuery extends Query<ApiKeyRecord | undefined> {
  constructor(readonly keyId: string) {
    super();
  }
}
export class ListApiKeysQuery extends Query<ApiKeyRecord[]> {
  constructor(readonly filter: ApiKeyFilter) {
    super();
  }
}

@QueryHandler(GetApiKeyQuery)
export class GetApiKeyHandler implements IQueryHandler<GetApiKeyQuery, ApiKeyRecord | undefined> {
  constructor(private readonly repo: ApiKeysRepository) {}
  execute(q: GetApiKeyQuery): Promise<ApiKeyRecord | undefined> {
    return this.repo.get(q.keyId);
  }
}

@QueryHandler(ListApiKeysQuery)
export class ListApiKeysHandler implements IQueryHandler<ListApiKeysQuery, ApiKeyRecord[]> {
  constructor(private readonly repo: ApiKeysRepository) {}
  execute(q: ListApiKeysQuery): Promise<ApiKeyRecord[]> {
    return this.repo.list(q.filter);
  }
}
