import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { Body, Controller, HttpCode, Inject, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import pg from 'pg';

/**
 * The floor of the memory API benchmark: a bare HTTP server on the same framework (NestJS 11 on
 * Express, as the service) doing the one SQL statement each operation is built around, with no
 * authentication, quota, validation, telemetry, commit chain or outbox.
 *   POST /write        one INSERT of the node into memory_nodes (same table, same columns)
 *   POST /recall_text  the exact-scan candidate SELECT of the scope (same statement as the service
 *                      on PostgreSQL without pgvector), answering the first ids, unranked
 * Run as its own process: `node -r test/support/swc-register.cjs bench/floor/floor-server.ts`
 * with FLOOR_DATABASE_URL, FLOOR_TENANT (write target) and FLOOR_RECALL_TENANT/FLOOR_RECALL_SCOPE.
 */
const POOL = Symbol('POOL');

@Controller()
class FloorController {
  constructor(@Inject(POOL) private readonly pool: pg.Pool) {}

  @Post('write')
  @HttpCode(200)
  async write(@Body() body: { scope?: string; nodes?: { client_id?: string; type: string; title?: string; text_summary?: string }[] }) {
    const n = body.nodes?.[0];
    if (!n) return { ok: false };
    const id = randomUUID();
    await this.pool.query(
      `INSERT INTO memory_nodes (tenant_id, project_key, scope, node_id, client_id, type, title, text_summary, slots, tier, salience, importance, confidence,
                                 content_sha256, embedding, embedding_status, embedding_model, commit_id, created_at, updated_at)
       VALUES ($1, '', $2, $3, $4, $5, $6, $7, '{}'::jsonb, 'hot', 0.5, 0.5, 0.5, 'floor', NULL, 'pending', NULL, $8, now(), now())`,
      [process.env.FLOOR_TENANT ?? 'bench-floor', body.scope ?? 'default', id, n.client_id ?? null, n.type, n.title ?? null, n.text_summary ?? null, randomUUID()],
    );
    return { id };
  }

  @Post('recall_text')
  @HttpCode(200)
  async recall() {
    const r = await this.pool.query<{ node_id: string }>(
      `SELECT node_id::text AS node_id, embedding FROM memory_nodes WHERE tenant_id = $1 AND project_key = '' AND scope = $2 AND embedding_status = 'ready' AND embedding IS NOT NULL`,
      [process.env.FLOOR_RECALL_TENANT ?? 'bench-mem', process.env.FLOOR_RECALL_SCOPE ?? 'recall'],
    );
    return { ids: r.rows.slice(0, 10).map((x) => x.node_id) };
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
