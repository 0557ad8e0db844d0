import { type ContractEnv, expectContractError, startContractEnv } from '../../support/contract';
import { pgOnly } from '../../support/skips';

/**
 * Concurrency gates (contract §1.6): with a write gate of one slot and no queue, concurrent
 * `write`s are refused with 429 `write_backpressure` (and refunded), while the write-class routes
 * the contract gives no gate (`nodes/activate`, `archive/rehydrate`, `feedback`, `rules/state`,
 * `tools/feedback`) are never refused by it, however many run at once.
 *
 * The refusal needs requests that overlap inside the gate, which only PostgreSQL gives: PGlite has
 * one connection, so each request's rate-limit query (taken before the gate, as §1.6 orders it)
 * waits for the previous request's transaction, and whether two requests ever meet in the gate is
 * a matter of timing. On PGlite the refusal is not asserted; the ungated routes are, on both.
 */
describe('contract: concurrency gates', () => {
  let env: ContractEnv;
  beforeAll(async () => {
    env = await startContractEnv({ env: { MEMORY_WRITE_MAX_INFLIGHT: '1', MEMORY_WRITE_MAX_QUEUE: '0' } });
  });
  afterAll(async () => {
    await env?.stop();
  });

  const post = (path: string, body: object) => env.api.post(`/v1/memory/${path}`).set(env.as('plain')).send(body);
  const PARALLEL = 24;

  const nodes = Array.from({ length: 40 }, (_, i) => ({ client_id: `n-${i}`, type: 'concept', memory_lane: 'shared', text_summary: `node ${i} `.repeat(40) }));

  pgOnly.it('refuses concurrent writes beyond the gate with 429 write_backpressure', async () => {
    // Writes: each in its own scope (no row lock between them), all at once.
    const writes = await Promise.all(
      Array.from({ length: PARALLEL }, (_, i) => post('write', { scope: `gates-w${i}`, input_text: `w${i}`, auto_embed: false, nodes: nodes.map((n) => ({ ...n, client_id: `${n.client_id}-${i}` })) })),
    );
    const refused = writes.filter((r) => r.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    expect(writes.every((r) => r.status === 200 || r.status === 429)).toBe(true);
    expectContractError(refused[0]!, 429, 'write_backpressure');
    expect(refused[0]!.headers['retry-after']).toMatch(/^\d+$/);
  });

  it('never refuses the ungated write-class routes, however many run at once', async () => {
    const scope = 'gates';
    const seeded = await post('write', { scope, input_text: 'seed', auto_embed: false, nodes: [...nodes, { client_id: 'rule', type: 'rule', memory_lane: 'shared', slots: { if: {}, then: { tool: { prefer: ['a'] } } } }] });
    expect(seeded.status).toBe(200);
    const ruleId = (seeded.body.nodes as { id: string; client_id: string }[]).find((n) => n.client_id === 'rule')!.id;

    // The ungated write-class routes, as many at once: none is refused by a gate.
    const ungated = await Promise.all([
      ...Array.from({ length: PARALLEL / 4 }, (_, i) => post('nodes/activate', { scope, client_ids: [`n-${i}`], outcome: 'positive', input_text: `a${i}` })),
      ...Array.from({ length: PARALLEL / 4 }, (_, i) => post('archive/rehydrate', { scope, client_ids: [`n-${i}`], input_text: `r${i}` })),
      ...Array.from({ length: PARALLEL / 4 }, (_, i) => post('feedback', { scope, rule_node_id: ruleId, outcome: 'positive', input_text: `f${i}` })),
      ...Array.from({ length: PARALLEL / 4 }, (_, i) => post('tools/feedback', { scope, context: {}, candidates: ['a', 'b'], selected_tool: 'a', outcome: 'positive', input_text: `t${i}` })),
    ]);
    expect(ungated.map((r) => r.status)).toEqual(ungated.map(() => 200));
  });
});
