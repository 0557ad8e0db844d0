import { userInfo } from 'node:os';
import { randomUUID } from 'node:crypto';
import { MemoryRepository } from '../../data-plane/memory/memory.repository';
import { OUTBOX_JOB_TYPES, OutboxRepository } from '../../data-plane/outbox/outbox.repository';
import { DeadLetters, REPLAY_LIMIT_DEFAULT, REPLAY_LIMIT_MAX } from '../../data-plane/outbox/dead-letters';
import { migrateToLatest } from '../../platform/db/migrations';
import { PostgresEventStore } from '../../platform/event-store/postgres-event-store';
import { type CliSpec, EXIT, openTarget, parseCli, runCli, UsageError } from './cli-support';

/**
 * `npm run -s job:outbox-replay -- (--ids ID,ID | --tenant-id T [--type embed_nodes|alert_delivery] | --allow-all-tenants)
 *   --reason "..." [--dry-run] [--limit 50] [--discard] [--json] [--database-url URL]`
 * The CLI twin of POST /v1/admin/control/dead-letters/replay (and /discard with --discard):
 * same rules, same event in the log, with the operating system user as the actor.
 */
const SPEC: CliSpec = {
  name: 'job:outbox-replay',
  description: 'The CLI twin of POST /v1/admin/control/dead-letters/replay (and /discard with --discard): same rules, same event in the log.',
  database: true,
  options: [
    ['--ids <ids>', 'job UUIDs separated by commas'],
    ['--tenant-id <t>', "the tenant's dead-lettered jobs"],
    ['--type <type>', OUTBOX_JOB_TYPES.join(' or ')],
    ['--allow-all-tenants', 'every tenant (explicitly)'],
    ['--reason <text>', 'why (required; recorded in the audit log)'],
    ['--dry-run', 'report what would be replayed'],
    ['--limit <n>', `at most N jobs, 1..${REPLAY_LIMIT_MAX} (default ${REPLAY_LIMIT_DEFAULT})`],
    ['--discard', 'discard instead of replaying'],
  ],
};

void runCli(async () => {
  const flags = parseCli(SPEC);
  const v = flags.values;
  const reason = typeof v.reason === 'string' ? v.reason : '';
  if (!reason.trim()) throw new UsageError('--reason is required');
  const limit = v.limit === undefined ? REPLAY_LIMIT_DEFAULT : Number(v.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > REPLAY_LIMIT_MAX) throw new UsageError(`--limit must be 1..${REPLAY_LIMIT_MAX}`);
  const ids = typeof v.ids === 'string' ? v.ids.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
  if (ids && !ids.every((id) => /^[0-9a-f-]{36}$/i.test(id))) throw new UsageError('--ids must be job UUIDs separated by commas');
  if (v.type !== undefined && !(OUTBOX_JOB_TYPES as readonly unknown[]).includes(v.type)) throw new UsageError(`--type must be ${OUTBOX_JOB_TYPES.join(' or ')}`);
  const { database, release } = await openTarget(flags);
  try {
    await migrateToLatest(database.db);
    const store = new PostgresEventStore(database);
    const deadLetters = new DeadLetters(new OutboxRepository(database), new MemoryRepository(database), store);
    const request = {
      ...(ids ? { ids } : {}),
      ...(typeof v['tenant-id'] === 'string' ? { tenantId: v['tenant-id'] } : {}),
      ...(typeof v.type === 'string' ? { type: v.type } : {}),
      reason,
      dryRun: v['dry-run'] === true,
      limit,
      allowAllTenants: v['allow-all-tenants'] === true,
    };
    const actor = { type: 'operator' as const, id: `cli:${userInfo().username}`, display: 'job:outbox-replay' };
    const correlation = { requestId: null, correlationId: randomUUID() };
    const { position: _p, ...result } = v.discard === true ? await deadLetters.discard(request, actor, correlation) : await deadLetters.replay(request, actor, correlation);
    await store.close();
    if (flags.json) process.stdout.write(`${JSON.stringify({ ok: true, operation: v.discard === true ? 'discard' : 'replay', ...result }, null, 2)}\n`);
    else {
      process.stdout.write(
        `${result.dry_run ? 'dry run: would ' : ''}${v.discard === true ? 'discard' : 'replay'} ${result.dry_run ? result.job_ids.length : result.affected} of ${result.matched} matching dead-lettered job(s)${result.event_id ? ` (event ${result.event_id})` : ''}\n`,
      );
      for (const s of result.sample) process.stdout.write(`  ${s.job_id} ${s.tenant_id}/${s.scope} ${s.type} attempts=${s.attempts} ${s.last_error ?? ''}\n`);
    }
    return EXIT.ok;
  } finally {
    await release();
  }
});
