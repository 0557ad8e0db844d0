import { TENANT_ID_PATTERN } from '../../control-plane/shared/ids';
import { resolvePosition, stateHashAt } from '../audit/state-hash';
import { type CliSpec, EXIT, openTarget, parseCli, runCli, UsageError } from './cli-support';

/**
 * `npm run -s audit:state-hash -- --tenant ID --position P [--json] [--database-url URL]`
 * The tenant's read-model hashes at position P (an export manifest's "<tx>:<position>", or a
 * global position), computed from the live log (every tenant's events up to P, folded in a scratch
 * schema that is rolled back: read-only). Where the live read models can be compared (their
 * checkpoint is past P and the tenant wrote nothing since) they are, too. Exit 0, 2 when a live
 * read model differs from the state the log gives, 1 on usage or runtime errors.
 */
const SPEC: CliSpec = {
  name: 'audit:state-hash',
  description: "The tenant's read-model hashes at a log position, from the live log (read-only). Exit 2 when a live read model differs.",
  database: true,
  options: [
    ['--tenant <id>', 'the tenant (required)'],
    ['--position <p>', 'an export manifest\'s "<tx>:<position>", or a global position (required)'],
  ],
};

void runCli(async () => {
  const flags = parseCli(SPEC);
  const tenant = typeof flags.values.tenant === 'string' ? flags.values.tenant : '';
  const rawPosition = typeof flags.values.position === 'string' ? flags.values.position : '';
  if (!TENANT_ID_PATTERN.test(tenant) || rawPosition === '') throw new UsageError('give --tenant ID (a valid tenant id) and --position P');
  const { database, release } = await openTarget(flags);
  try {
    let position;
    try {
      position = await resolvePosition(database.db, rawPosition);
    } catch (err) {
      throw new UsageError(err instanceof Error ? err.message : String(err));
    }
    const result = await stateHashAt(database, tenant, position);
    const liveDiffers = result.live.filter((l) => l.matches === false);
    const ok = liveDiffers.length === 0;
    if (flags.json) process.stdout.write(`${JSON.stringify({ ok, ...result }, null, 2)}\n`);
    else {
      process.stdout.write(`state of ${tenant} at ${result.position}, from the log of ${database.target}\n`);
      for (const [name, h] of Object.entries(result.models)) {
        const l = result.live.find((x) => x.projection === name);
        const liveNote = !l ? '' : l.comparable ? (l.matches ? 'live read model matches' : `LIVE READ MODEL DIFFERS (${l.live?.sha256 ?? '-'})`) : `live not comparable: ${l.reason ?? ''}`;
        process.stdout.write(`  ${name.padEnd(10)} ${String(h.rows).padStart(7)} rows  sha256 ${h.sha256}  ${liveNote}\n`);
      }
      process.stdout.write(`state hash ${result.state_hash}\n`);
    }
    return ok ? EXIT.ok : EXIT.gateFailed;
  } finally {
    await release();
  }
});
