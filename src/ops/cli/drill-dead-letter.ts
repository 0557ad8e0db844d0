import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { OutboxRepository } from '../../data-plane/outbox/outbox.repository';
import { loadConfig } from '../../platform/config/config';
import { startService } from '../../service';
import { type CliSpec, EXIT, parseCli, type ParsedCli, runCli } from './cli-support';
import { drillAdminToken, drillClient, inThrowAwayDir, type Say, stepReporter, switchableProvider } from './drill-support';

/**
 * `npm run drill:dead-letter -- [--json] [--database-url URL]`: the dead-letter replay drill, end to
 * end, on a throw-away embedded database, or on the deployment's own PostgreSQL (--database-url /
 * DATABASE_URL) in a tenant of its own. It breaks the embedding provider, writes memories, shows
 * them dead-lettered, restores the provider, replays through the admin API (dry run first), and
 * proves every node ended ready with nothing lost or duplicated. Exit 0 when proven, 2 when not.
 */
const SPEC: CliSpec = {
  name: 'drill:dead-letter',
  description: 'The end-to-end dead-letter replay drill: break the embedding provider, write memories, see them dead-lettered, restore, replay (dry run first), prove every node ready. Exit 0 proven, 2 not proven.',
  database: true,
  details: `Without --database-url or DATABASE_URL it runs on a throw-away embedded database. With one, it runs on that
PostgreSQL (a deployment's own) in a new tenant drill-<hex>, which it leaves in place as the drill's record; it then
needs the deployment's KEY_PEPPER and AUDIT_SEAL_PRIVATE_KEY, and an owner or operator token in AIONIS_ADMIN_TOKEN
(unless the database is new). Its service runs workers: stop the deployment's workers for the drill, or they may embed
the drill's memories before they are dead-lettered (the drill then times out, exit 1).
Its temporary data directory is removed whatever the outcome.`,
};

const NODES = 24;

void runCli(async () => {
  const flags = parseCli(SPEC);
  return inThrowAwayDir((dataDir) => drill(flags, stepReporter(flags.json), dataDir));
});

async function drill(flags: ParsedCli, say: Say, dataDir: string): Promise<number> {
  // A new database is bootstrapped with this token; an existing deployment's needs an owner or operator token.
  const token = drillAdminToken(flags);
  const config = loadConfig({
    ...process.env,
    DATABASE_URL: flags.databaseUrl ?? '',
    DATA_DIR: dataDir,
    PORT: '0',
    ADMIN_BOOTSTRAP_TOKEN: token,
    LOG_LEVEL: 'error',
    LOG_FORMAT: 'json',
    OUTBOX_MAX_ATTEMPTS: '2',
    OUTBOX_POLL_INTERVAL_MS: '50',
  });
  const embeddings = switchableProvider(config.embeddings.dimension);
  embeddings.setBroken(true);
  say('starting a throw-away service', { data_dir: dataDir, database: flags.databaseUrl ? 'postgresql (DATABASE_URL)' : 'embedded' });
  const svc = await startService(config, { logger: false, embeddingProvider: embeddings.provider });
  const { call, wait } = drillClient(svc.url, token);
  try {
    const tenant = `drill-${randomBytes(3).toString('hex')}`;
    await call('POST', '/v1/admin/control/tenants', { tenant_id: tenant });
    const key = (await call('POST', '/v1/admin/control/api-keys', { tenant_id: tenant, label: 'drill' })).api_key as string;
    const agent = { 'x-api-key': key, 'Content-Type': 'application/json' };
    say('embedding provider broken; writing memories', { tenant, nodes: NODES });
    for (let w = 0; w < 4; w++) {
      const nodes = Array.from({ length: NODES / 4 }, (_, i) => ({ client_id: `n${w}-${i}`, type: 'event', title: `drill memory ${w}-${i}` }));
      // Shared lane: the drill's tenant-wide key has no agent, and private nodes without an owner are visible to no reader.
      await call('POST', '/v1/memory/write', { scope: 'drill', input_text: `batch ${w}`, memory_lane: 'shared', nodes }, agent);
    }
    await wait('jobs dead-lettered', async () => ((await call('GET', `/v1/admin/control/dead-letters?tenant_id=${tenant}`)).items as unknown[]).length === 4);
    const dl = await call('GET', `/v1/admin/control/dead-letters?tenant_id=${tenant}`);
    say('dead-lettered', { jobs: (dl.items as unknown[]).length, counts_by_tenant: dl.counts_by_tenant });

    embeddings.setBroken(false);
    say('embedding provider restored');
    const dry = await call('POST', '/v1/admin/control/dead-letters/replay', { tenant_id: tenant, type: 'embed_nodes', reason: 'drill: provider restored', dry_run: true });
    say('dry run', { matched: dry.matched, would_replay: (dry.job_ids as unknown[]).length });
    const replay = await call('POST', '/v1/admin/control/dead-letters/replay', { tenant_id: tenant, type: 'embed_nodes', reason: 'drill: provider restored' });
    say('replayed', { affected: replay.affected, event_id: replay.event_id });

    const nodes = async () => ((await call('POST', '/v1/memory/find', { scope: 'drill', limit: 200, include_meta: true }, agent)).nodes as { id: string; embedding_status: string }[]);
    await wait('every node ready', async () => (await nodes()).every((n) => n.embedding_status === 'ready'));
    const final = await nodes();
    const jobs = await new OutboxRepository(svc.infra.database).tenantStatus(tenant);
    const audit = await call('GET', `/v1/admin/control/audit-events?type=OutboxJobsReplayed&tenant_id=${tenant}`);
    const proof = {
      nodes: final.length,
      distinct_ids: new Set(final.map((n) => n.id)).size,
      ready: final.filter((n) => n.embedding_status === 'ready').length,
      outbox: Object.fromEntries(Object.entries(jobs).filter(([, n]) => n > 0)),
      replay_events: (audit.items as unknown[]).length,
    };
    const ok = proof.nodes === NODES && proof.distinct_ids === NODES && proof.ready === NODES && proof.outbox.done === 4 && Object.keys(proof.outbox).length === 1 && proof.replay_events === 1;
    say(ok ? 'proven: every node ready, nothing lost, nothing duplicated, the replay is in the audit trail' : 'NOT proven', proof);
    return ok ? EXIT.ok : EXIT.gateFailed;
  } finally {
    await svc.close();
  }
}
