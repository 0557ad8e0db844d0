import { auditDecision } from '../../data-plane/memory/decision-audit';
import { migrateToLatest } from '../../platform/db/migrations';
import { type CliSpec, EXIT, openTarget, parseCli, runCli, UsageError } from './cli-support';

/**
 * `npm run -s audit:decision -- --tenant ID --decision-id UUID [--json] [--database-url URL]`
 * Re-evaluate a recorded tools/select decision from the scope's commit chain as it stood at the
 * decision's commit, and compare: decision hash, stored policy and context hashes, the chain up to
 * the head, the recomputed policy hash, source rules and selection. Read-only.
 * Exit 0 verified, 2 a difference, 1 usage or runtime error (an unknown decision included).
 */
const SPEC: CliSpec = {
  name: 'audit:decision',
  description: 'Re-evaluate a recorded tools/select decision from its commit chain and compare (read-only). Exit 0 verified, 2 a difference.',
  database: true,
  options: [
    ['--tenant <id>', 'the tenant of the decision (required)'],
    ['--decision-id <uuid>', 'the decision to re-evaluate (required)'],
  ],
};

void runCli(async () => {
  const flags = parseCli(SPEC);
  const tenant = flags.values.tenant;
  const id = flags.values['decision-id'];
  if (typeof tenant !== 'string' || typeof id !== 'string') throw new UsageError('give --tenant and --decision-id');
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) throw new UsageError('--decision-id must be a UUID');
  const { database, release } = await openTarget(flags);
  try {
    await migrateToLatest(database.db);
    const report = await auditDecision(database, tenant, id);
    if (!report) throw new Error(`tenant ${tenant} has no decision ${id}`);
    if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else {
      const d = report.decision;
      process.stdout.write(`decision ${d.decision_id} (${d.kind}) of ${d.tenant_id}/${d.project_id ?? '-'}/${d.scope}, selected ${d.selected_tool ?? 'nothing'}, head seq ${d.rules_head_seq}: ${report.ok ? 'VERIFIED' : 'DIFFERS'}\n`);
      for (const c of report.checks) {
        process.stdout.write(`  ${c.pass ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}${c.pass ? '' : ` (expected ${JSON.stringify(c.expected)}, got ${JSON.stringify(c.actual)})`}\n`);
      }
    }
    return report.ok ? EXIT.ok : EXIT.gateFailed;
  } finally {
    await release();
  }
});
