import request from 'supertest';
import { type ServiceProcess, spawnService } from '../support/process';
import { createPgDatabase, usingPostgres } from '../support/test-db';
import { pgOnly } from '../support/skips';

/**
 * Two API processes on one PostgreSQL database, as in production: a key revoked through one must
 * be refused by the other within the bound (5 s; the target is 1 s p99, measured by the benchmark,
 * not asserted), and a rotation must never refuse the old key before its grace ends.
 * PostgreSQL only: the embedded database admits one process.
 */
const pgIt = pgOnly.it;
const TOKEN = 'aio_admin_propagation-test-0123456789abcdef012';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Instance {
  proc: ServiceProcess;
  url: string;
}

async function startInstance(databaseUrl: string, _name: string): Promise<Instance> {
  const proc = spawnService({
    DATABASE_URL: databaseUrl,
    PORT: '0',
    KEY_PEPPER: 'propagation-pepper-0123456789abcdef0123456789',
    ADMIN_BOOTSTRAP_TOKEN: TOKEN,
    LOG_FORMAT: 'json',
    LOG_LEVEL: 'error',
    PROJECTOR_POLL_INTERVAL_MS: '250',
    // The client below polls with a key past its grace every 10 ms: the refusal under test is the
    // key's 401, not the source address's failed-authentication limit (auth-throttle.e2e-spec.ts).
    AUTH_FAILURE_LIMIT: '0',
  });
  return { proc, url: await proc.url() };
}

describe('key revocation and rotation across two API processes (PostgreSQL only)', () => {
  let a: Instance | undefined;
  let b: Instance | undefined;
  let drop: (() => Promise<void>) | undefined;
  const auth = { Authorization: `Bearer ${TOKEN}` };

  beforeAll(async () => {
    if (!usingPostgres()) return;
    const db = await createPgDatabase('prop');
    drop = db.drop;
    a = await startInstance(db.url, 'a');
    b = await startInstance(db.url, 'b');
    await request(a.url).post('/v1/admin/control/tenants').set(auth).send({ tenant_id: 'prop-co' }).expect(201);
  }, 120_000);

  afterAll(async () => {
    for (const i of [a, b]) await i?.proc.stop();
    await drop?.();
  });

  async function newKey(): Promise<{ keyId: string; key: string }> {
    const res = await request(a!.url).post('/v1/admin/control/api-keys').set(auth).send({ tenant_id: 'prop-co' }).expect(201);
    return { keyId: res.body.key.key_id as string, key: res.body.api_key as string };
  }
  const whoamiStatus = async (inst: Instance, key: string): Promise<number> => (await request(inst.url).get('/v1/auth/whoami').set('x-api-key', key)).status;

  pgIt('a key revoked through one process is refused by the other within 5 s', async () => {
    const measured: number[] = [];
    for (let round = 0; round < 5; round++) {
      const { keyId, key } = await newKey();
      expect(await whoamiStatus(b!, key)).toBe(200); // b has it cached now
      const t0 = Date.now();
      await request(a!.url).post(`/v1/admin/control/api-keys/${keyId}/revoke`).set(auth).send({}).expect(200);
      expect(await whoamiStatus(a!, key)).toBe(401); // the revoking instance: at once
      let tRefused = 0;
      while (Date.now() - t0 < 10_000) {
        if ((await whoamiStatus(b!, key)) === 401) {
          tRefused = Date.now();
          break;
        }
        await sleep(5);
      }
      expect(tRefused).toBeGreaterThan(0);
      measured.push(tRefused - t0);
    }
    process.stdout.write(`revocation propagation to the other process (ms): ${measured.join(', ')}\n`);
    for (const ms of measured) expect(ms).toBeLessThan(5000);
  }, 120_000);

  pgIt('rotation without downtime: the old key is never refused before its grace ends, the new one works at once', async () => {
    const { keyId, key: oldKey } = await newKey();
    const results: { t: number; status: number }[] = [];
    let running = true;
    const client = (async () => {
      while (running) {
        results.push({ t: Date.now(), status: await whoamiStatus(b!, oldKey) });
        await sleep(10);
      }
    })();
    await sleep(300);
    const rot = await request(a!.url).post(`/v1/admin/control/api-keys/${keyId}/rotate`).set(auth).send({ grace_seconds: 3 }).expect(201);
    const newKeyPlain = rot.body.api_key as string;
    const graceUntil = Date.parse(rot.body.previous.grace_until as string);
    expect(await whoamiStatus(a!, newKeyPlain)).toBe(200);
    expect(await whoamiStatus(b!, newKeyPlain)).toBe(200);
    while (Date.now() < graceUntil + 1500) await sleep(50);
    running = false;
    await client;
    const beforeGrace = results.filter((r) => r.t < graceUntil - 50);
    const afterGrace = results.filter((r) => r.t > graceUntil + 1000);
    expect(beforeGrace.length).toBeGreaterThan(50);
    expect(beforeGrace.filter((r) => r.status !== 200)).toEqual([]);
    expect(afterGrace.length).toBeGreaterThan(0);
    expect(afterGrace.every((r) => r.status === 401)).toBe(true);
  }, 60_000);
});
