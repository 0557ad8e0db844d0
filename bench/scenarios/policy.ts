import { sql } from 'kysely';
import type { Namespace } from '../../src/data-plane/memory/domain/ids';
import { PolicyRepository } from '../../src/data-plane/memory/policy.repository';
import { evaluateRules } from '../../src/data-plane/memory/policy/evaluate';
import type { BenchContext, Scenario, ScenarioOutput } from '../lib/context';
import { expectStatus, httpJson } from '../lib/http';
import { type LoadResult, runLoad } from '../lib/load';
import { BENCH_ADMIN_TOKEN, startServiceProcess, startTsProcess } from '../lib/processes';
import { figure, type Figure } from '../lib/report';
import { round, summarize } from '../lib/stats';
import { freshDb } from './shared';

/**
 * Scenario 8. Memory -> Policy through HTTP (the load generator is its own process):
 * `POST /v1/memory/rules/evaluate` and `POST /v1/memory/tools/select` on a scope holding 1,000
 * rule nodes in state active or shadow (shared lane, conditions of every shape of contract §5.5:
 * equality, dotted paths, $in/$gt/$lte/$ne/$exists/$contains/$regex, $and/$or/$not, array
 * subsets, nested objects, unconditional; exceptions, agent and team scopes, priorities and
 * weights), written and promoted through the API itself. The floor is a bare route on the same
 * framework (bench/floor/floor-server.ts) running only the SQL the route cannot do without: the
 * scope's live rules (PolicyRepository.liveRules' statement, same LIMIT), and for tools/select also
 * the INSERT of the decision row. The ratio is the cost of everything else: authentication, quota,
 * validation, identity injection, the policy engine, the response.
 */
const admin = { authorization: `Bearer ${BENCH_ADMIN_TOKEN}` };
const TENANT = 'bench-policy';
const SCOPE = 'policy';
const NS: Namespace = { tenantId: TENANT, projectKey: '', scope: SCOPE };
const TOOLS = ['web_search', 'flight_search', 'hotel_search', 'calculator', 'email', 'code_exec', 'translate', 'crm_lookup', 'calendar', 'summarize'];
const CANDIDATES = ['web_search', 'flight_search', 'hotel_search', 'calculator', 'email', 'code_exec'];
/** The request context: most condition shapes match it, some do not (filtered_by_condition), one exception vetoes. */
const CONTEXT = {
  intent: 'booking',
  provider: 'openai',
  amount: 250,
  tags: ['urgent', 'vip', 'eu'],
  query: 'refund my flight to Lisbon',
  user: { tier: 'gold', region: 'eu' },
  channel: 'web',
  locale: 'en',
  agent: { id: 'agent-1', team_id: 'team-1' },
};

/** The `if` of rule i: one of twelve shapes (contract §5.5). */
function condition(i: number): Record<string, unknown> {
  switch (i % 12) {
    case 0:
      return { intent: 'booking' };
    case 1:
      return { intent: { $in: ['booking', 'refund'] }, provider: i % 24 === 1 ? 'anthropic' : 'openai' };
    case 2:
      return { 'agent.id': `agent-${i % 5}` };
    case 3:
      return { amount: { $gt: i % 500 } };
    case 4:
      return { $and: [{ intent: 'booking' }, { amount: { $lte: 100 + (i % 400) } }] };
    case 5:
      return { $or: [{ provider: 'anthropic' }, { tags: { $contains: i % 2 === 0 ? 'vip' : 'gold' } }] };
    case 6:
      return { $not: { intent: i % 2 === 0 ? 'refund' : 'booking' } };
    case 7:
      return { query: { $regex: i % 2 === 0 ? '^(refund|change) .*flight' : 'hotel$' } };
    case 8:
      return { tags: i % 2 === 0 ? ['urgent', 'vip'] : ['urgent', 'us'] };
    case 9:
      return { user: { tier: 'gold', region: { $in: ['eu', 'us'] } } };
    case 10:
      return { channel: { $exists: true }, locale: { $ne: i % 2 === 0 ? 'fr' : 'en' } };
    default:
      return {};
  }
}

/** The `then` of rule i: output, tool allow/deny/prefer, extensions (§5.4). Allow lists always keep web_search and flight_search, deny never names them. */
function patch(i: number): Record<string, unknown> {
  const tool: Record<string, string[]> = { prefer: [TOOLS[i % TOOLS.length]!, TOOLS[(i * 3 + 1) % TOOLS.length]!] };
  if (i % 4 === 0) tool.allow = ['web_search', 'flight_search', TOOLS[2 + (i % 8)]!];
  if (i % 3 === 0) tool.deny = [['code_exec'], ['email'], ['translate', 'code_exec']][i % 3 === 0 ? (i / 3) % 3 : 0]!;
  return {
    output: { format: (['json', 'text', 'markdown'] as const)[i % 3], strict: i % 2 === 0 },
    tool,
    ...(i % 5 === 0 ? { extensions: { note: `rule ${i}`, level: i % 4 } } : {}),
  };
}

function ruleNode(i: number): Record<string, unknown> {
  const scope = i % 20 === 0 ? { rule_scope: 'agent', target_agent_id: `agent-${(i / 20) % 3}` } : i % 20 === 1 ? { rule_scope: 'team', target_team_id: `team-${i % 3}` } : {};
  return {
    client_id: `rule:${i}`,
    type: 'rule',
    title: `rule ${i}`,
    text_summary: `benchmark rule ${i}: shape ${i % 12}`,
    slots: {
      if: condition(i),
      then: patch(i),
      ...(i % 7 === 0 ? { exceptions: [{ 'agent.team_id': i % 14 === 0 ? 'team-1' : 'team-blocked' }] } : {}),
      ...scope,
      rule_meta: { priority: (i % 7) - 3, weight: 0.5 + (i % 4) * 0.25 },
    },
  };
}

/** Run `fn` over `items` with `concurrency` workers. */
async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

export const policyScenario: Scenario = {
  name: 'policy',
  title: 'Memory -> Policy: rules/evaluate and tools/select through HTTP on a scope of 1,000 live rules vs a bare same-framework floor',
  async run(ctx: BenchContext): Promise<ScenarioOutput> {
    const db = await freshDb(ctx, 'policy', 2);
    const rulesCount = ctx.quick ? 200 : 1000;
    const connections = 8;
    const seconds = ctx.quick ? 1.5 : 15;
    const warmupMs = ctx.quick ? 500 : 2000;
    const figures: Figure[] = [];
    const notes: string[] = [];
    // Set-up uses a key right after creating it: wait for the key's read model however loaded the machine (the 2 s default can lapse).
    const svc = await startServiceProcess('policy', db.url, { COMMAND_WAIT_FOR_PROJECTION_MS: '30000' });
    try {
      const floor = await startTsProcess('floor', 'bench/floor/floor-server.ts', { FLOOR_DATABASE_URL: db.url, FLOOR_POLICY_TENANT: TENANT }, /floor running at (http:\/\/\S+)/);
      try {
        await expectStatus(201, `${svc.url}/v1/admin/control/tenants`, { headers: admin, body: { tenant_id: TENANT, tier: 'enterprise' } });
        await expectStatus(200, `${svc.url}/v1/admin/control/tenants/${TENANT}/quota`, {
          method: 'PUT',
          headers: admin,
          body: { write_rps: 10_000, write_burst: 20_000, recall_rps: 20_000, recall_burst: 40_000, monthly_operations: 10_000_000_000 },
        });
        const created = await expectStatus(201, `${svc.url}/v1/admin/control/api-keys`, { headers: admin, body: { tenant_id: TENANT, label: 'bench' } });
        const key = (created.body as { api_key: string }).api_key;
        const as = { 'x-api-key': key };

        // The rules: written 100 per commit (shared, not embedded), then each promoted with its own rules/state commit.
        const t0 = performance.now();
        const ids: string[] = [];
        for (let i = 0; i < rulesCount; i += 100) {
          const nodes = Array.from({ length: Math.min(100, rulesCount - i) }, (_, j) => ruleNode(i + j));
          const r = await expectStatus(200, `${svc.url}/v1/memory/write`, { headers: as, body: { scope: SCOPE, input_text: `rules ${i}`, memory_lane: 'shared', auto_embed: false, nodes } });
          ids.push(...(r.body as { nodes: { id: string }[] }).nodes.map((n) => n.id));
        }
        // 90% active, 10% shadow; promoted in a shuffled order so every shape is among the newest.
        const order = ids.map((id, i) => ({ id, i, k: (i * 7919) % ids.length })).sort((a, b) => a.k - b.k);
        await pool(order, 4, async ({ id, i }) => {
          await expectStatus(200, `${svc.url}/v1/memory/rules/state`, { headers: as, body: { scope: SCOPE, rule_node_id: id, state: i % 10 === 9 ? 'shadow' : 'active', input_text: `promote ${i}` } });
        });
        // Some evidence: feedback on every 25th rule (rank: (positive - negative) x 100 x weight).
        await pool(
          ids.filter((_, i) => i % 25 === 0),
          4,
          async (id) => {
            await expectStatus(200, `${svc.url}/v1/memory/feedback`, { headers: as, body: { scope: SCOPE, rule_node_id: id, outcome: 'positive', input_text: `helped ${id}` } });
          },
        );
        // As autovacuum would soon on a live database: without statistics the planner joins the
        // rules to their nodes with a filter over every node of the tenant (see docs/performance.md).
        await sql`ANALYZE memory_nodes`.execute(db.database.db);
        await sql`ANALYZE memory_rule_defs`.execute(db.database.db);
        const setupS = (performance.now() - t0) / 1000;
        const live = await sql<{ state: string; n: number }>`
          SELECT state, count(*)::int AS n FROM memory_rule_defs WHERE tenant_id = ${TENANT} AND project_key = '' AND scope = ${SCOPE} GROUP BY state ORDER BY state`.execute(db.database.db);
        const byState = Object.fromEntries(live.rows.map((r) => [r.state, Number(r.n)]));
        if ((byState.active ?? 0) + (byState.shadow ?? 0) !== rulesCount) throw new Error(`expected ${rulesCount} live rules, found ${JSON.stringify(byState)}`);
        ctx.log(`  ${rulesCount} rules written and promoted through the API in ${setupS.toFixed(1)} s (${JSON.stringify(byState)})`);

        // What each measured request answers (checked once, so that the load measures real work).
        const probe = async (path: string, body: Record<string, unknown>) => {
          const r = await httpJson(`${svc.url}/v1/memory/${path}`, { headers: as, body });
          if (r.status !== 200) throw new Error(`${path}: ${r.status} ${r.text.slice(0, 500)}`);
          return r.body as { considered?: number; matched?: number; rules?: { considered: number; matched: number }; selection?: { selected: string | null } };
        };

        // In process, sequential (no HTTP, no concurrency): the SQL alone and the SQL plus the pure engine, for the "what limits it" analysis.
        const repo = new PolicyRepository(db.database);
        const inProcess = async (limit: number) => {
          const rawMs: number[] = [];
          const engineMs: number[] = [];
          let exhausted = 0;
          const n = ctx.quick ? 20 : 200;
          for (let i = 0; i < n + 5; i++) {
            let t = performance.now();
            const { rules } = await repo.liveRules(repo.db, NS, limit);
            const sqlMs = performance.now() - t;
            t = performance.now();
            const e = evaluateRules({ rules, context: CONTEXT, includeShadow: true });
            const evalMs = performance.now() - t;
            exhausted = e.diagnostics.budget_exhausted_rule_ids.length;
            if (i >= 5) {
              rawMs.push(sqlMs);
              engineMs.push(evalMs);
            }
          }
          return { sql: summarize(rawMs), engine: summarize(engineMs), exhausted };
        };

        const ops = [
          { op: 'evaluate', limit: 50, path: 'rules/evaluate', body: { scope: SCOPE, context: CONTEXT } },
          { op: 'evaluate', limit: 200, path: 'rules/evaluate', body: { scope: SCOPE, context: CONTEXT, limit: 200 } },
          { op: 'select', limit: 50, path: 'tools/select', body: { scope: SCOPE, context: CONTEXT, candidates: CANDIDATES, run_id: 'run-{{n}}' } },
          { op: 'select', limit: 200, path: 'tools/select', body: { scope: SCOPE, context: CONTEXT, candidates: CANDIDATES, run_id: 'run-{{n}}', rules_limit: 200 } },
        ] as const;
        const run = (url: string, path: string, body: string, headers: Record<string, string>): Promise<LoadResult> =>
          runLoad({ baseUrl: url, method: 'POST', path, headers, body, connections, durationMs: seconds * 1000, warmupMs });
        for (const o of ops) {
          const shown = await probe(o.path, { ...o.body, ...('run_id' in o.body ? { run_id: 'probe' } : {}) });
          const counts = o.op === 'evaluate' ? { considered: shown.considered, matched: shown.matched } : { considered: shown.rules?.considered, matched: shown.rules?.matched, selected: shown.selection?.selected };
          if (counts.considered !== o.limit) throw new Error(`${o.path}: considered ${String(counts.considered)} rules, expected ${o.limit}`);
          const ip = await inProcess(o.limit);
          ctx.log(`  ${o.path} (${o.limit} rules): ${JSON.stringify(counts)}; floor, then the service (${connections} connections, ${seconds} s each)`);
          const body = JSON.stringify(o.body);
          const f = await run(floor.url, `/${o.path}`, body, {});
          const s = await run(svc.url, `/v1/memory/${o.path}`, body, as);
          if (s.ok === 0) throw new Error(`${o.path}: no request succeeded (${s.first_error ?? ''})`);
          if (f.ok === 0) throw new Error(`${o.path} floor: no request succeeded (${f.first_error ?? ''})`);
          if (s.errors > 0) notes.push(`${o.path} (${o.limit} rules): ${s.errors} non-2xx answers from the service (${s.first_error ?? ''})`);
          const limitField = o.op === 'evaluate' ? 'limit' : 'rules_limit';
          const what = `POST /v1/memory/${o.path}, ${limitField} ${o.limit} (${connections} connections)`;
          const floorLabel =
            o.op === 'evaluate'
              ? `floor: bare NestJS route, the scope's live-rules SELECT (LIMIT ${o.limit})`
              : `floor: bare NestJS route, the scope's live-rules SELECT (LIMIT ${o.limit}) + one INSERT of the decision`;
          const id = `policy.${o.op}.l${o.limit}`;
          figures.push(
            figure({
              id: `${id}.rps`,
              label: `${what}, requests/s`,
              value: s.rps,
              unit: 'req/s',
              better: 'higher',
              baseline: { label: `${floorLabel}, requests/s`, value: f.rps, unit: 'req/s' },
              extra: { requests: s.requests, errors: s.errors, floor_requests: f.requests, considered: counts.considered ?? null, matched: counts.matched ?? null },
            }),
          );
          for (const p of ['p50', 'p99'] as const) {
            figures.push(
              figure({
                id: `${id}.${p}`,
                label: `${what}, latency ${p}`,
                value: s.latency_ms[p],
                unit: 'ms',
                better: 'lower',
                baseline: { label: `${floorLabel}, ${p}`, value: f.latency_ms[p], unit: 'ms' },
                extra: {
                  max_ms: round(s.latency_ms.max, 2),
                  floor_max_ms: round(f.latency_ms.max, 2),
                  // In process, one at a time: PolicyRepository.liveRules alone, and the pure engine (evaluateRules) on its rows.
                  in_process_sql_ms: round(ip.sql[p], 3),
                  in_process_engine_ms: round(ip.engine[p], 3),
                  budget_exhausted_rules: ip.exhausted,
                },
              }),
            );
          }
        }
        notes.push(
          `${rulesCount} rule nodes in one scope (${byState.active ?? 0} active, ${byState.shadow ?? 0} shadow; 1 in 25 with positive feedback), written 100 per /write (shared lane, auto_embed false) and promoted one /rules/state each; setup ${setupS.toFixed(0)} s. Only the newest \`limit\` (default 50, at most 200) are fetched and evaluated, as the contract says (§5.5).`,
        );
        notes.push(
          'The context carries an agent and a team (lane filter enforced), matches most condition shapes and is vetoed by some exceptions; tools/select runs strict with 6 candidates and a unique run_id per request, so every call records a decision row (the floor inserts one too).',
        );
        notes.push('in_process_sql_ms / in_process_engine_ms (extras of the latency figures): PolicyRepository.liveRules and evaluateRules run in the harness process one at a time, without HTTP: where the time of one request goes.');
      } finally {
        await floor.stop();
      }
    } finally {
      await svc.stop();
    }
    return { scale: { rules: rulesCount, connections, seconds_per_run: seconds }, figures, notes };
  },
};
