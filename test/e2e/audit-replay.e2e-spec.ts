import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import request from 'supertest';
import { type ExportManifest, exportTenant, sha256File } from '../../src/ops/audit/audit-export';
import { combineModelHashes, foldInto, stateHashAt, TENANT_MODELS, tenantHashes } from '../../src/ops/audit/state-hash';
import { PGliteDatabase } from '../../src/platform/db/pglite-database';
import { parseCheckpoint, type RecordedEvent } from '../../src/platform/event-store/event-store';
import { runCliSync } from '../support/cli';
import { startTestService, type TestService } from '../support/service';
import { pgOnly } from '../support/skips';

const json = { 'Content-Type': 'application/json' };
const pgIt = pgOnly.it;
type HashOut = Record<string, unknown> & { models: Record<string, { rows: number; sha256: string }>; state_hash: string };
const cli = (file: string, args: string[], env: Record<string, string> = {}) => {
  const r = runCliSync<HashOut>(file, args, env);
  return { ...r, out: r.out ?? ({} as HashOut) };
};


/**
 * An auditor replays a tenant's export into a fresh embedded database and gets one hash per read
 * model; the live system gives the same hashes at the same position from its own log.
 */
describe('audit:replay and audit:state-hash', () => {
  let t: TestService;
  let dir = '';
  let file = '';
  let manifest: ExportManifest;

  beforeAll(async () => {
    t = await startTestService();
    dir = mkdtempSync(join(tmpdir(), 'aionis-replay-'));
    const api = request(t.url);
    for (const id of ['rep-a', 'rep-b']) {
      await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: id, tier: 'growth' }).expect(201);
      await api.post('/v1/admin/control/projects').set(t.auth).set(json).send({ tenant_id: id, project_id: `${id}-p` }).expect(201);
      const k = await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: id, project_id: `${id}-p`, label: 'first' }).expect(201);
      await api.post(`/v1/admin/control/api-keys/${k.body.key.key_id}/rotate`).set(t.auth).set(json).send({}).expect(201);
    }
    await api.patch('/v1/admin/control/tenants/rep-a').set(t.auth).set(json).send({ display_name: 'Replayed A' }).expect(200);
    await api.post('/v1/admin/control/tenants/rep-b/suspend').set(t.auth).expect(200);
    file = join(dir, 'rep-a.ndjson');
    const lines: string[] = [];
    const summary = await exportTenant(t.tdb.database, { tenantId: 'rep-a' }, (l) => void lines.push(l));
    writeFileSync(file, lines.join(''));
    manifest = { ...summary, exported_at: new Date().toISOString(), file_sha256: await sha256File(file) } as ExportManifest;
    writeFileSync(`${file}.manifest.json`, JSON.stringify(manifest));
  }, 60_000);
  afterAll(async () => {
    await t.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function replayFile(): Promise<{ models: Record<string, { rows: number; sha256: string }>; state_hash: string }> {
    const events = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RecordedEvent);
    const db = await PGliteDatabase.open({});
    try {
      const tables = await foldInto(
        db.db,
        TENANT_MODELS,
        (async function* () {
          yield events;
        })(),
      );
      const models = await tenantHashes(db.db, tables, 'rep-a');
      return { models, state_hash: combineModelHashes(models) };
    } finally {
      await db.close();
    }
  }

  it('the replay of the export and the live log at the same position give the same hashes, and the live read models match', async () => {
    const replay = await replayFile();
    expect(Object.keys(replay.models).sort()).toEqual(TENANT_MODELS.map((d) => d.name).sort());
    expect(replay.models.api_keys?.rows).toBe(2);
    expect(replay.models.tenants?.rows).toBe(1);
    const live = await stateHashAt(t.tdb.database, 'rep-a', parseCheckpoint(manifest.position));
    expect(live.models).toEqual(replay.models);
    expect(live.state_hash).toBe(replay.state_hash);
    expect(live.live.every((l) => l.comparable && l.matches)).toBe(true);
  }, 60_000);

  it('a live read-model row edited in place is reported as differing from the log, and the log-derived hash does not move', async () => {
    const before = await stateHashAt(t.tdb.database, 'rep-a', parseCheckpoint(manifest.position));
    const original = (await sql<{ display_name: string }>`SELECT display_name FROM rm_projects WHERE project_id = 'rep-a-p'`.execute(t.tdb.database.db)).rows[0]?.display_name ?? null;
    await sql`UPDATE rm_projects SET display_name = 'edited behind the log' WHERE project_id = 'rep-a-p'`.execute(t.tdb.database.db);
    try {
      const after = await stateHashAt(t.tdb.database, 'rep-a', parseCheckpoint(manifest.position));
      expect(after.state_hash).toBe(before.state_hash);
      expect(after.live.filter((l) => l.matches === false).map((l) => l.projection)).toEqual(['projects']);
    } finally {
      await sql`UPDATE rm_projects SET display_name = ${original} WHERE project_id = 'rep-a-p'`.execute(t.tdb.database.db);
    }
  });

  pgIt('the CLIs: audit:replay (offline) and audit:state-hash print the same hashes; exit 2 on a tampered export or a differing live model', async () => {
    const env = { DATABASE_URL: t.tdb.url ?? '' };
    const replay = cli('audit-replay.ts', [file, '--json']);
    expect(replay.status).toBe(0);
    const state = cli('audit-state-hash.ts', ['--tenant', 'rep-a', '--position', manifest.position, '--json'], env);
    expect(state.status).toBe(0);
    expect(state.out.models).toEqual(replay.out.models);
    expect(state.out.state_hash).toBe(replay.out.state_hash);

    // A tampered export is not replayed.
    const bad = join(dir, 'bad.ndjson');
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    writeFileSync(bad, `${lines.slice(1).join('\n')}\n`);
    writeFileSync(`${bad}.manifest.json`, JSON.stringify(manifest));
    const refused = cli('audit-replay.ts', [bad, '--json']);
    expect(refused.status).toBe(2);
    expect(refused.out.ok).toBe(false);

    // A live model edited behind the log: state-hash exits 2.
    await sql`UPDATE rm_tenants SET tier = 'enterprise' WHERE tenant_id = 'rep-a'`.execute(t.tdb.database.db);
    try {
      expect(cli('audit-state-hash.ts', ['--tenant', 'rep-a', '--position', manifest.position, '--json'], env).status).toBe(2);
    } finally {
      await sql`UPDATE rm_tenants SET tier = 'growth' WHERE tenant_id = 'rep-a'`.execute(t.tdb.database.db);
    }
    // Later writes of the tenant: the hash at P is unchanged; the live models are no longer comparable.
    await request(t.url).post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: 'rep-a', label: 'later' }).expect(201);
    const later = cli('audit-state-hash.ts', ['--tenant', 'rep-a', '--position', manifest.position, '--json'], env);
    expect(later.status).toBe(0);
    expect(later.out.state_hash).toBe(replay.out.state_hash);
    expect((later.out.live as { comparable: boolean }[]).every((l) => !l.comparable)).toBe(true);
    // Usage errors.
    expect(cli('audit-state-hash.ts', ['--tenant', 'rep-a'], env).status).toBe(1);
    expect(cli('audit-state-hash.ts', ['--tenant', 'rep-a', '--position', '999999999'], env).status).toBe(1);
    expect(cli('audit-replay.ts', []).status).toBe(1);
  }, 90_000);
});
