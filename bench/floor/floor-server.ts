import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { Body, Controller, HttpCode, Inject, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import pg from 'pg';

/**
 * The floor of the memory API and policy benchmarks: a bare HTTP server on the same framework
 * (NestJS 11 on Express, as the service) doing only the SQL each operation is built around, with
 * no authentication, quota, validation, telemetry, commit chain, outbox or policy engine.
 *   POST /write          one INSERT of the node into memory_nodes (the columns MemoryRepository.insertNodes
 *                        writes: a shared node, no owner, pending embedding)
 *   POST /recall_text    the exact-scan candidate SELECT of the scope (MemoryRepository.scanReadyVectors on
 *                        PostgreSQL without pgvector: ready hot/warm nodes a tenant-wide reader sees,
 *                        vectors in binary array format, in one statement instead of pages),
 *                        answering the first ids, unranked
 *   POST /rules/evaluate the scope's shadow and active rules with their nodes, newest first, at most
 *                        `limit` (PolicyRepository.liveRules' statement), answering their ids
 *   POST /tools/select   the same SELECT, then one INSERT of a decision row into memory_decisions
 *                        (the two statements tools/select cannot do without)
 * Run as its own process: `node -r test/support/swc-register.cjs bench/floor/floor-server.ts`
 * with FLOOR_DATABASE_URL, FLOOR_TENANT (write target), FLOOR_RECALL_TENANT/FLOOR_RECALL_SCOPE,
 * and FLOOR_POLICY_TENANT (the tenant whose rules /rules/evaluate and /tools/select read).
 */
const POOL = Symbol('POOL');

const LIVE_RULES = `
  WITH head AS (SELECT s.head_commit_id, s.commit_count FROM memory_scopes s WHERE s.tenant_id = $1 AND s.project_key = '' AND s.scope = $2)
  SELECT d.rule_node_id::text AS rule_node_id, d.state, d.rule_scope, d.target_agent_id, d.target_team_id, d.if_json, d.then_json, d.exceptions_json,
         d.positive_count, d.negative_count, d.commit_id::text AS commit_id, d.updated_at, n.text_summary AS summary, n.slots AS node_slots,
         n.memory_lane, n.owner_agent_id, n.owner_team_id,
         (SELECT head_commit_id::text FROM head) AS head_commit_id, (SELECT commit_count FROM head) AS head_seq
  FROM memory_rule_defs d
  JOIN memory_nodes n ON n.tenant_id = d.tenant_id AND n.project_key = d.project_key AND n.scope = d.scope AND n.node_id = d.rule_node_id
  WHERE d.tenant_id = $1 AND d.project_key = '' AND d.scope = $2 AND d.state IN ('shadow', 'active')
  ORDER BY d.updated_at DESC, d.rule_node_id
  LIMIT $3`;

interface RuleRow {
  rule_node_id: string;
  head_commit_id: string | null;
  head_seq: string | null;
}

@Controller()
class FloorController {
  constructor(@Inject(POOL) private readonly pool: pg.Pool) {}

  @Post('write')
  @HttpCode(200)
  async write(@Body() body: { scope?: string; memory_lane?: string; nodes?: { client_id?: string; type: string; title?: string; text_summary?: string }[] }) {
    const n = body.nodes?.[0];
    if (!n) return { ok: false };
    const id = randomUUID();
    await this.pool.query(
      `INSERT INTO memory_nodes (tenant_id, project_key, scope, node_id, client_id, type, tier, title, text_summary, slots, raw_ref, evidence_ref, memory_lane,
                                 producer_agent_id, owner_agent_id, owner_team_id, salience, importance, confidence, embedding, embedding_status, embedding_model,
                                 commit_id, created_at, updated_at)
       VALUES ($1, '', $2, $3, $4, $5, 'hot', $6, $7, '{}'::jsonb, NULL, NULL, $8, NULL, NULL, NULL, 0.5, 0.5, 0.5, NULL, 'pending', NULL, $9, now(), now())`,
      [process.env.FLOOR_TENANT ?? 'bench-floor', body.scope ?? 'default', id, n.client_id ?? null, n.type, n.title ?? null, n.text_summary ?? null, body.memory_lane ?? 'shared', randomUUID()],
    );
    return { id };
  }

  @Post('recall_text')
  @HttpCode(200)
  async recall() {
    const r = await this.pool.query<{ id: string }>(
      `SELECT m.node_id::text AS id, array_send(m.embedding) AS v FROM memory_nodes m
       WHERE m.tenant_id = $1 AND m.project_key = '' AND m.scope = $2 AND m.embedding_status = 'ready' AND m.embedding IS NOT NULL AND m.tier IN ('hot', 'warm')
         AND (m.memory_lane = 'shared' OR m.owner_agent_id = $3::text OR m.owner_team_id = $4::text)`,
      [process.env.FLOOR_RECALL_TENANT ?? 'bench-mem', process.env.FLOOR_RECALL_SCOPE ?? 'recall', null, null],
    );
    return { ids: r.rows.slice(0, 10).map((x) => x.id) };
  }

  private async liveRules(scope: string | undefined, limit: number | undefined): Promise<RuleRow[]> {
    const r = await this.pool.query<RuleRow>(LIVE_RULES, [process.env.FLOOR_POLICY_TENANT ?? 'bench-policy', scope ?? 'default', limit ?? 50]);
    return r.rows;
  }

  @Post('rules/evaluate')
  @HttpCode(200)
  async evaluate(@Body() body: { scope?: string; limit?: number }) {
    const rules = await this.liveRules(body.scope, body.limit);
    return { considered: rules.length, ids: rules.map((x) => x.rule_node_id) };
  }

  @Post('tools/select')
  @HttpCode(200)
  async select(@Body() body: { scope?: string; rules_limit?: number; run_id?: string; candidates?: string[]; context?: unknown }) {
    const rules = await this.liveRules(body.scope, body.rules_limit);
    const candidates = body.candidates ?? [];
    const id = randomUUID();
    await this.pool.query(
      `INSERT INTO memory_decisions (tenant_id, project_key, scope, decision_id, kind, run_id, selected_tool, candidates, context, context_sha256, policy, policy_sha256,
                                     source_rule_ids, evaluation, metadata, rules_head_commit_id, rules_head_seq, commit_id, key_id, decision_hash, created_at)
       VALUES ($1, '', $2, $3, 'tools_select', $4, $5, $6::jsonb, $7::jsonb, 'floor', '{}'::jsonb, 'floor', '[]'::jsonb, '{}'::jsonb, '{"route":"floor"}'::jsonb,
               $8::uuid, $9, NULL, 'floor', 'floor', now())`,
      [
        process.env.FLOOR_POLICY_TENANT ?? 'bench-policy',
        body.scope ?? 'default',
        id,
        body.run_id ?? null,
        candidates[0] ?? null,
        JSON.stringify(candidates),
        JSON.stringify(body.context ?? null),
        rules[0]?.head_commit_id ?? null,
        Number(rules[0]?.head_seq ?? 0),
      ],
    );
    return { decision_id: id, selected: candidates[0] ?? null, considered: rules.length };
  }
}

async function main(): Promise<void> {
  const pool = new pg.Pool({ connectionString: process.env.FLOOR_DATABASE_URL, max: 20, application_name: 'aionis-bench-floor' });
  @Module({ controllers: [FloorController], providers: [{ provide: POOL, useValue: pool }] })
  class FloorModule {}
  const app = await NestFactory.create<NestExpressApplication>(FloorModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  process.stdout.write(`floor running at http://127.0.0.1:${address.port}\n`);
  const stop = () => {
    void app
      .close()
      .then(() => pool.end())
      .then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

void main();
