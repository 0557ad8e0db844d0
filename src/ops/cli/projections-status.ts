import { sql } from 'kysely';
import { PROJECTIONS } from '../../../projections';
import { listDeadLetters, measureLag, readCheckpoint } from '../../platform/projections/projection-store';
import { type CliSpec, EXIT, openTarget, parseCli, runCli, UsageError } from './cli-support';

/**
 * `npm run -s projections:status -- [--json] [--database-url URL] [--stale-ms N]`
 * Per projection: checkpoint, version, lag, heartbeat age, parked streams and dead letters.
 * Exit 0 when every projection is current and has no parked events, 2 otherwise, 1 on errors.
 * Read-only.
 */
const SPEC: CliSpec = {
  name: 'projections:status',
  description: 'Per projection: checkpoint, version, lag, heartbeat age, parked streams and dead letters (read-only). Exit 2 when one is not current or has parked events.',
  database: true,
  options: [['--stale-ms <ms>', 'a heartbeat older than this is stale (default 30000)']],
};

void runCli(async () => {
  const flags = parseCli(SPEC);
  const staleMs = Number(flags.values['stale-ms'] ?? 30_000);
  if (!Number.isFinite(staleMs) || staleMs <= 0) throw new UsageError('--stale-ms must be a positive number');
  const { database, release } = await openTarget(flags);
  try {
    const rows = [];
    for (const def of PROJECTIONS) {
      const cp = await readCheckpoint(database.db, def.name);
      const hb = await sql<{ age_ms: number | null; owner: string | null }>`
        SELECT (extract(epoch FROM clock_timestamp() - heartbeat_at) * 1000)::int AS age_ms, owner
        FROM proj_checkpoints WHERE projection = ${def.name}`.execute(database.db);
      const lag = cp ? await measureLag(database.db, cp.position) : null;
      const letters = await listDeadLetters(database.db, def.name, 1000);
      const parked = letters.filter((l) => l.status === 'parked');
      const problems: string[] = [];
      if (!cp) problems.push('never started');
      if (cp && cp.version !== def.version) problems.push(`stored version ${cp.version}, code version ${def.version} (rebuild on next start)`);
      const age = hb.rows[0]?.age_ms ?? null;
      if (age === null || age > staleMs) problems.push(`no heartbeat for ${age === null ? 'ever' : `${age} ms`}`);
      if (parked.length > 0) problems.push(`${parked.length} parked dead letter(s)`);
      rows.push({
        projection: def.name,
        version: def.version,
        checkpoint: cp ? `${cp.position.transactionId}:${cp.position.globalPosition}` : null,
        events_applied: cp?.eventsApplied ?? 0,
        lag_events: lag?.events ?? null,
        lag_ms: lag?.ms ?? null,
        heartbeat_age_ms: age,
        active_owner: hb.rows[0]?.owner ?? null,
        parked_dead_letters: parked.length,
        dead_letter_sample: parked.slice(0, 5),
        pass: problems.length === 0,
        problems,
      });
    }
    const pass = rows.every((r) => r.pass);
    if (flags.json) process.stdout.write(`${JSON.stringify({ ok: pass, database: database.target, projections: rows }, null, 2)}\n`);
    else {
      process.stdout.write(`projections on ${database.target}\n`);
      for (const r of rows) {
        process.stdout.write(
          `  ${r.pass ? 'ok  ' : 'FAIL'} ${r.projection.padEnd(12)} v${r.version} checkpoint ${r.checkpoint ?? '-'} lag ${r.lag_events ?? '-'} events / ${r.lag_ms ?? '-'} ms, heartbeat ${r.heartbeat_age_ms ?? '-'} ms ago by ${r.active_owner ?? '-'}, ${r.parked_dead_letters} parked${r.problems.length ? `  (${r.problems.join('; ')})` : ''}\n`,
        );
      }
    }
    return pass ? EXIT.ok : EXIT.gateFailed;
  } finally {
    await release();
  }
});
