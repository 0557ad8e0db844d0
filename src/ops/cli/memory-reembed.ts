import { userInfo } from 'node:os';
import { reembed, ServiceRunningError } from '../../data-plane/memory/reembed';
import { loadConfig } from '../../platform/config/config';
import { migrateToLatest } from '../../platform/db/migrations';
import { PostgresEventStore } from '../../platform/event-store/postgres-event-store';
import { type CliSpec, EXIT, numberFlag, openTarget, parseCli, runCli, UsageError } from './cli-support';
import { ProgressReporter } from './progress';

/**
 * `npm run -s memory:reembed -- --dimension N --reason TEXT [--dry-run] [--batch-size 500] [--json] [--database-url URL]`
 * Re-embed every node at another dimension (runbooks/embedding-dimension.md). The service must be
 * stopped. Progress on stderr; the report on stdout. Exit 0 done (or dry run), 1 usage or runtime error.
 */
const SPEC: CliSpec = {
  name: 'memory:reembed',
  description: "Forget every stored vector and queue every node's embedding again at another dimension, then record it as the database's dimension. Stop the service first; start it afterwards with EMBEDDING_DIM=N.",
  database: true,
  options: [
    ['--dimension <n>', 'the new dimension, 1..16000 (required)'],
    ['--reason <text>', 'why (required unless --dry-run; recorded in the audit log)'],
    ['--dry-run', 'report what would change'],
    ['--batch-size <n>', 'nodes per batch (default 500)'],
  ],
};

void runCli(async () => {
  const flags = parseCli(SPEC);
  const v = flags.values;
  if (v.dimension === undefined) throw new UsageError('--dimension is required');
  const dimension = numberFlag(v, 'dimension', 0, 1, 16_000, true);
  const batchSize = numberFlag(v, 'batch-size', 500, 1, 10_000, true);
  const dryRun = v['dry-run'] === true;
  const reason = typeof v.reason === 'string' ? v.reason.trim() : '';
  if (!dryRun && reason.length < 3) throw new UsageError('--reason is required (it is recorded in the audit log)');
  const config = loadConfig({ ...process.env, ...(flags.databaseUrl ? { DATABASE_URL: flags.databaseUrl } : {}) });
  const { database, release } = await openTarget(flags);
  const store = new PostgresEventStore(database);
  const progress = new ProgressReporter('memory:reembed');
  const started = Date.now();
  try {
    await migrateToLatest(database.db);
    const report = await reembed(database, store, {
      dimension,
      dryRun,
      batchSize,
      reason: dryRun ? 'dry run' : reason,
      actor: { type: 'operator', id: `cli:${userInfo().username}`, display: 'memory:reembed' },
      maxAttempts: config.outbox.maxAttempts,
      onProgress: (done, total) => {
        const secs = (Date.now() - started) / 1000;
        const rate = secs > 0 ? Math.round(done / secs) : done;
        progress.update({ label: 'nodes', done, total, ratePerSecond: rate, etaSeconds: rate > 0 ? Math.ceil((total - done) / rate) : null }, done === total);
      },
    });
    progress.end();
    if (flags.json) process.stdout.write(`${JSON.stringify({ ok: true, ...report }, null, 2)}\n`);
    else {
      process.stdout.write(
        `${report.dry_run ? 'dry run: would re-embed' : 're-embedded'} ${report.nodes} node(s) from dimension ${report.from_dimension ?? 'none'} to ${report.to_dimension}: ` +
          `${report.requeued} queued again in ${report.jobs} job(s), ${report.failed_no_text} without text (failed until written again)` +
          `${report.event_id ? `; event ${report.event_id}` : ''}\n` +
          (report.dry_run ? '' : `next: start the service with EMBEDDING_DIM=${report.to_dimension}; its workers derive the vectors (watch the outbox backlog).\n`),
      );
    }
    return EXIT.ok;
  } catch (err) {
    if (err instanceof ServiceRunningError) throw new Error(err.message);
    throw err;
  } finally {
    await store.close();
    await release();
  }
});
