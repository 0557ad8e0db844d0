/**
 * A projector in its own process, for multi-process tests. Env: DATABASE_URL, OWNER, MODE
 * ('run' | 'crash-before-checkpoint'). Prints one JSON line per state change and per batch.
 */
import { PgDatabase } from '../../src/platform/db/pg-database';
import { PostgresEventStore } from '../../src/platform/event-store/postgres-event-store';
import { ProjectionRunner } from '../../src/platform/projections/projection-runner';
import { counterProjection } from './counter-projection';

const url = process.env.DATABASE_URL;
const owner = process.env.OWNER ?? `child-${process.pid}`;
const mode = process.env.MODE ?? 'run';
if (!url) throw new Error('DATABASE_URL is required');

const say = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ t: Date.now(), owner, pid: process.pid, ...o })}\n`);
const database = new PgDatabase({ url, poolSize: 4, applicationName: owner });
const store = new PostgresEventStore(database);
const runner = new ProjectionRunner(counterProjection, database, store, {
  owner,
  batchSize: Number(process.env.BATCH_SIZE ?? 20),
  pollIntervalMs: 100,
  lockRetryMs: 100,
  heartbeatMs: 500,
  hooks:
    mode === 'crash-before-checkpoint'
      ? {
          beforeCheckpoint: (events) => {
            say({ kind: 'crashing', events: events.length });
            process.kill(process.pid, 'SIGKILL');
          },
        }
      : {},
  events: {
    onStateChange: (_name, state, error) => say({ kind: 'state', state, error: error instanceof Error ? error.message : undefined }),
    onBatch: (_name, applied, dead, position) => say({ kind: 'batch', applied, dead, position }),
  },
});
runner.start();
process.on('SIGTERM', () => {
  void runner.stop().then(() => database.close()).then(() => process.exit(0));
});
