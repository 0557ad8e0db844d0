import { userInfo } from 'node:os';
import { PROJECTIONS } from '../../../projections';
import { PostgresEventStore } from '../../platform/event-store/postgres-event-store';
import { replayParked } from '../../platform/projections/replay-parked';
import { type CliSpec, EXIT, openTarget, parseCli, runCli, UsageError } from './cli-support';

/**
 * `npm run -s projections:replay-parked -- --projection NAME --reason TEXT [--stream ID] [--dry-run] [--json] [--database-url URL]`
 * Re-applies the projection's parked events with the deployed code (runbooks/projection-rebuild.md).
 * Exit 0 when every selected stream was released (or nothing was parked), 2 when some still
 * fail (they stay parked), 1 on usage or runtime errors.
 */
const SPEC: CliSpec = {
  name: 'projections:replay-parked',
  description: "Re-apply a projection's parked events with the deployed code. Exit 2 when some still fail (they stay parked).",
  database: true,
  options: [
    ['--projection <name>', `the projection (required): ${PROJECTIONS.map((p) => p.name).join(', ')}`],
    ['--reason <text>', 'why (required; recorded in the audit log)'],
    ['--stream <id>', 'only this stream'],
    ['--dry-run', 'report what would be replayed'],
  ],
};

void runCli(async () => {
  const flags = parseCli(SPEC);
  const v = flags.values;
  const def = PROJECTIONS.find((p) => p.name === v.projection);
  if (!def) throw new UsageError(`--projection must name a projection: ${PROJECTIONS.map((p) => p.name).join(', ')}`);
  const reason = typeof v.reason === 'string' ? v.reason.trim() : '';
  if (reason.length < 3) throw new UsageError('--reason is required (it is recorded in the audit log)');
  const { database, release } = await openTarget(flags);
  try {
    const result = await replayParked(database, new PostgresEventStore(database), def, {
      actor: { type: 'operator', id: `cli:${userInfo().username}`, display: 'projections:replay-parked' },
      reason,
      ...(typeof v.stream === 'string' ? { streamId: v.stream } : {}),
      dryRun: v['dry-run'] === true,
    });
    const ok = result.still_failing_streams === 0;
    if (flags.json) process.stdout.write(`${JSON.stringify({ ok, ...result }, null, 2)}\n`);
    else {
      if (result.streams.length === 0) process.stdout.write(`${def.name}: no parked events\n`);
      for (const s of result.streams) {
        process.stdout.write(`${s.outcome === 'replayed' ? 'replayed     ' : 'STILL FAILING'} ${s.stream_id} (${s.events} events)${s.error ? `: ${s.error.category}: ${s.error.message} (event ${s.error.event_id})` : ''}\n`);
      }
      process.stdout.write(`${result.dry_run ? '[dry run, nothing changed] ' : ''}${result.replayed_events} event(s) replayed, ${result.still_failing_streams} stream(s) still parked\n`);
    }
    return ok ? EXIT.ok : EXIT.gateFailed;
  } finally {
    await release();
  }
});
