import { Injectable } from '@nestjs/common';
import { AppError } from '../../platform/errors/app-error';
import { verifyChain } from './domain/commit';
import { scopeKey } from './domain/ids';
import type { Consumer } from './domain/lanes';
import type { NodeType, MemoryLane } from './domain/model';
import { buildPack, type ExportOptions } from './domain/packs';
import { nsOf, type Principal } from './domain/identity';
import { sessionClientId } from './domain/sessions';
import { formatUri, isUriProblem, parseUri } from './domain/uri';
import { eventView, findNodeView, page, type ViewOptions } from './domain/views';
import { MemoryRepository } from './memory.repository';

export interface FindRequest extends Partial<ViewOptions> {
  readonly uri?: string | undefined;
  readonly id?: string | undefined;
  readonly client_id?: string | undefined;
  readonly type?: NodeType | undefined;
  readonly title_contains?: string | undefined;
  readonly text_contains?: string | undefined;
  readonly memory_lane?: MemoryLane | undefined;
  readonly slots_contains?: Record<string, unknown> | undefined;
  readonly consumer_agent_id?: string | undefined;
  readonly consumer_team_id?: string | undefined;
  readonly limit?: number | undefined;
  readonly offset?: number | undefined;
  readonly tenant_id?: string | undefined;
  readonly scope?: string | undefined;
}

const viewOptions = (r: Partial<ViewOptions>): ViewOptions => ({
  include_meta: r.include_meta === true,
  include_slots: r.include_slots === true,
  include_slots_preview: r.include_slots_preview === true,
  slots_preview_keys: r.slots_preview_keys ?? 10,
});
export const consumerOf = (r: { consumer_agent_id?: string | undefined; consumer_team_id?: string | undefined }): Consumer => ({ agentId: r.consumer_agent_id ?? null, teamId: r.consumer_team_id ?? null });

/** The read side of the memory API besides recall: find, session events, pack export, the commit chain. */
@Injectable()
export class MemoryQueries {
  constructor(private readonly repo: MemoryRepository) {}

  /** `scope` is the request's (or `default`); a URI's tenant, scope, type and id become filters (contract §2.5). */
  async find(p: Principal, scope: string, r: FindRequest) {
    let effScope = scope;
    let id = r.id?.toLowerCase();
    let type = r.type;
    if (r.uri !== undefined) {
      const u = parseUri(r.uri);
      if (isUriProblem(u)) throw new AppError('invalid_aionis_uri', u.message, u.details ?? {});
      const conflict = (field: string, uriValue: string, requestValue: string | undefined) => {
        if (requestValue !== undefined && requestValue !== uriValue) throw new AppError('conflicting_filters', `${field} "${requestValue}" contradicts the URI's "${uriValue}"`, { field, uri_value: uriValue, request_value: requestValue });
      };
      // The principal's tenant is always the request's (contract §1.4): a URI of another tenant conflicts.
      conflict('tenant_id', u.tenant_id, p.tenantId);
      conflict('scope', u.scope, r.scope?.trim());
      conflict('type', u.type, r.type);
      conflict('id', u.id, id);
      effScope = u.scope;
      id = u.id;
      type = u.type;
    }
    const limit = r.limit ?? 20;
    const offset = r.offset ?? 0;
    const consumer = consumerOf(r);
    const clientId = r.client_id?.trim();
    const rows = await this.repo.find(
      nsOf(p, effScope),
      { id, client_id: clientId, type, title_contains: r.title_contains, text_contains: r.text_contains, memory_lane: r.memory_lane, slots_contains: r.slots_contains },
      consumer,
      limit + 1,
      offset,
    );
    const o = viewOptions(r);
    return {
      tenant_id: p.tenantId,
      scope: effScope,
      mode: 'find' as const,
      filters: {
        uri: r.uri ?? null,
        id: id ?? null,
        client_id: clientId ?? null,
        type: type ?? null,
        title_contains: r.title_contains ?? null,
        text_contains: r.text_contains ?? null,
        memory_lane: r.memory_lane ?? null,
        slots_contains: r.slots_contains ?? null,
        consumer_agent_id: consumer.agentId,
        consumer_team_id: consumer.teamId,
      },
      nodes: rows.slice(0, limit).map((n) => findNodeView(p.tenantId, n, o)),
      page: page(limit, offset, rows.length),
    };
  }

  async sessionEvents(p: Principal, scope: string, sessionId: string, r: Partial<ViewOptions> & { consumer_agent_id?: string; consumer_team_id?: string; limit?: number; offset?: number }) {
    const ns = nsOf(p, scope);
    const limit = r.limit ?? 20;
    const offset = r.offset ?? 0;
    const session = await this.repo.sessionNode(ns, sessionClientId(sessionId));
    if (!session) return { tenant_id: p.tenantId, scope, session: null, events: [], page: page(limit, offset, 0) };
    const rows = await this.repo.sessionEvents(ns, session.id, consumerOf(r), limit + 1, offset);
    const o = viewOptions(r);
    return {
      tenant_id: p.tenantId,
      scope,
      session: { session_id: sessionId, node_id: session.id, title: session.title, text_summary: session.text_summary, uri: formatUri(p.tenantId, scope, 'topic', session.id) },
      events: rows.slice(0, limit).map((n) => eventView(p.tenantId, n, o)),
      page: page(limit, offset, rows.length),
    };
  }

  /**
   * The scope as a pack. With a tenant-wide key the export is the open core's (every lane); a key
   * bound to an agent or team exports only what that agent or team may read (a listed hosted
   * difference: a bound key is that agent's credential, not the tenant's).
   */
  async exportPack(p: Principal, scope: string, o: ExportOptions, boundConsumer: Consumer | null, now: Date) {
    const ns = nsOf(p, scope);
    const [nodes, edges, commits] = await Promise.all([
      o.include_nodes ? this.repo.exportNodes(ns, boundConsumer, o.max_rows + 1) : Promise.resolve([]),
      o.include_edges ? this.repo.exportEdges(ns, boundConsumer, o.max_rows + 1) : Promise.resolve([]),
      o.include_commits ? this.repo.exportCommits(ns, o.max_rows + 1) : Promise.resolve([]),
    ]);
    return buildPack(p.tenantId, scope, { nodes, edges, commits }, o, now.toISOString());
  }

  async commits(p: Principal, scope: string, afterSeq: number, limit: number) {
    const rows = await this.repo.commits(nsOf(p, scope), afterSeq, limit + 1);
    return { rows: rows.slice(0, limit), more: rows.length > limit };
  }

  /** Recompute every hash of the scope's chain (both the contract's commit hashes and the chain links) and compare the head. */
  async verify(p: Principal, scope: string) {
    const ns = nsOf(p, scope);
    const all = [];
    for (let after = 0; ; ) {
      const pageRows = await this.repo.commits(ns, after, 1000);
      all.push(...pageRows);
      const last = pageRows.at(-1);
      if (!last || pageRows.length < 1000) break;
      after = last.seq;
    }
    const hashOf = new Map(all.map((c) => [c.commit_id, c.commit_hash]));
    const problems = verifyChain({ ...ns, scopeKey: scopeKey(ns) }, all, (id) => hashOf.get(id) ?? null);
    const head = await this.repo.head(ns);
    const last = all.at(-1);
    if (head && last && (head.head_hash !== last.chain_hash || head.head_commit_id !== last.commit_id || head.commit_count !== last.seq)) {
      problems.push({ commit_id: head.head_commit_id ?? '', seq: head.commit_count, problem: 'chain_link_mismatch' });
    }
    return { tenant_id: p.tenantId, scope, commits: all.length, head_hash: head?.head_hash ?? null, ok: problems.length === 0, problems };
  }
}
