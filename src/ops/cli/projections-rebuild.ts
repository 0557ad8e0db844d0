import { userInfo } from 'node:os';
import { PROJECTIONS } from '../../../projections';
import { PostgresEventStore } from '../../platform/event-store/postgres-event-store';
import { rebuildProjections } from '../../platform/projections/rebuild';
import { type CliSpec, EXIT, numberFlag, openTarget, parseCli, runCli, UsageError } from './cli-support';
import { ProgressReporter } from './progress';

/**
 * `npm run -s projections:rebuild -- --projection NAME | --all [--diff-only] [--batch-size N] [--pause-ms N] [--json] [--database-url URL]`
 * Blue/green: builds shadow tables from the log while the live ones serve, catches up, diffs and
 * swaps atomically (runbooks/projection-rebuild.md). Resumes a killed rebuild; refuses to run
 * next to another rebuild (exit 1). Progress on stderr (a bar on a TTY, JSON lines otherwise).
 * Exit 0 when every rebuild finished (with --diff-only: and no differences), 2 when a diff-only
 * run found differences, 1 on usage or runtime errors.
 */
const SPEC: CliSpec = {
  name: 'projections:rebuild',
  description: 'Blue/green rebuild of read models from the log: shadow tables, catch up, diff, atomic swap. Resumes a killed rebuild.',
  database: true,
  options: [
    ['--projection <name>', `one projection: ${PROJECTIONS.map((p) => p.name).join(', ')}`],
    ['--all', 'every projection'],
    ['--diff-only', 'build and compare, never swap; exit 2 when the live read model differs'],
    ['--batch-size <n>', 'events per batch, 1..50000 (default 1000)'],
    ['--pause-ms <ms>', 'pause between batches, 0..60000 (default 0)'],
    ['--stop-after-batches <n>', 'for drills: stop (exit 1, resumable) after N batches of the build'],
  ],
  details: 'Progress on stderr (a bar on a TTY, JSON lines otherwise).',
};

class RebuildStopped extends Error {
  constructor(readonly batches: number) {
    super(`stopped after ${batches} batch(es) (--stop-after-batches); the rebuild stays running: run the same command again to resume it`);
  }
}

void runCli(async () => {
  const flags = parseCli(SPEC);
  const v = flags.values;
  const all = v.all === true;
  if (all === (typeof v.projection === 'string')) throw new UsageError('give exactly one of --projection NAME or --all');
  const defs = all ? PROJECTIONS : PROJECTIONS.filter((p) => p.name === v.projection);
  if (defs.length === 0) throw new UsageError(`unknown projection "${String(v.projection)}" (one of ${PROJECTIONS.map((p) => p.name).join(', ')})`);
  const batchSize = v['batch-size'] === undefined ? 1000 : Number(v['batch-size']);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 50_000) throw new UsageError('--batch-size must be a whole number from 1 to 50000');
  const pauseMs = v['pause-ms'] === undefined ? 0 : Number(v['pause-ms']);
  if (!Number.isInteger(pauseMs) || pauseMs < 0 || pauseMs > 60_000) throw new UsageError('--pause-ms must be a whole number from 0 to 60000');
  const diffOnly = v['diff-only'] === true;
  const stopAfter = v['stop-after-batches'] === undefined ? undefined : numberFlag(v, 'stop-after-batches', 0, 1, Number.MAX_SAFE_INTEGER, true);
  let batches = 0;
  const { database, release } = await openTarget(flags);
  const progress = new ProgressReporter('projections:rebuild');
  try {
    const results = await rebuildProjections(database, new PostgresEventStore(database), defs, {
      actor: { type: 'operator', id: `cli:${userInfo().username}`, display: 'projections:rebuild' },
      batchSize,
      pauseMs,
      swap: !diffOnly,
      onProgress: (p) =>
        progress.update(
          { label: `${p.projection}/${p.phase}`, done: p.eventsRead, total: p.eventsTotal, ratePerSecond: p.eventsPerSecond, etaSeconds: p.etaSeconds, fields: { rebuild_id: p.rebuildId, position: p.position, head: p.head } },
          p.phase === 'done',
        ),
      // For drills: stop as a kill would (the rebuild stays running and resumable), after exactly N committed batches.
      ...(stopAfter !== undefined
        ? {
            afterBatch: () => {
              if (++batches >= stopAfter) throw new RebuildStopped(stopAfter);
            },
          }
        : {}),
    });
    progress.end();
    const differences = results.filter((r) => r.diff && r.diff.only_live + r.diff.only_shadow + r.diff.changed > 0);
    const ok = !diffOnly || differences.length === 0;
    if (flags.json) process.stdout.write(`${JSON.stringify({ ok, mode: diffOnly ? 'diff_only' : 'swap', database: database.target, rebuilds: results }, null, 2)}\n`);
    else {
      for (const r of results) {
        const d = r.diff ? `diff at ${r.diff.at}: ${r.diff.changed} changed, ${r.diff.only_live} only live, ${r.diff.only_shadow} only rebuilt` : 'no live read model to diff';
        process.stdout.write(
          `${r.projection}: ${r.swapped ? 'swapped in' : 'compared'} (rebuild ${r.rebuild_id}${r.resumed ? ', resumed' : ''}) at ${r.position}, ${r.events_read} events read, ${r.events_applied} applied, ${r.dead_letters} dead letters, ${d}, ${r.duration_ms} ms\n`,
        );
        // Name the rows that differ (by primary key), not only how many.
        const differing = r.diff ? r.diff.changed + r.diff.only_live + r.diff.only_shadow : 0;
        for (const row of r.diff?.sample ?? []) process.stdout.write(`  ${row.difference.padEnd(11)} ${row.key}\n`);
        if (r.diff && differing > r.diff.sample.length) process.stdout.write(`  ... and ${differing - r.diff.sample.length} more (--json lists the same sample)\n`);
      }
    }
    return ok ? EXIT.ok : EXIT.gateFailed;
  } finally {
    progress.end();
    await release();
  }
});
