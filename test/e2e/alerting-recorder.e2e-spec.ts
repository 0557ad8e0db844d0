import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import request from 'supertest';
import { AlertRecorder } from '../../src/alerting/alert-recorder';
import type { FireDecision } from '../../src/alerting/burn-rate';
import { startTestService, type TestService } from '../support/service';

const json = { 'Content-Type': 'application/json' };

/**
 * The alert recorder on the one command path: the alert event and its deliveries (outbox jobs)
 * commit together or not at all, and of evaluators racing on one alert stream exactly one records.
 */
describe('alerting: the recorder appends the alert and enqueues its deliveries in one transaction', () => {
  let t: TestService;
  let receiver: Server;
  const fire = (rule: string): FireDecision => ({ kind: 'fire', rule, tenant_id: 'rec-t', severity: 'page', numbers: { bad_long: 9 } });
  const recorder = () => t.service.app.get(AlertRecorder);
  const db = () => t.tdb.database.db;
  const streamEvents = async (rule: string) =>
    (await sql<{ event_id: string; type: string }>`SELECT event_id::text AS event_id, type FROM es_events WHERE stream_id = ${`alert-${rule}.rec-t`} ORDER BY stream_position`.execute(db())).rows;
  const deliveries = async (eventId: string) =>
    (await sql<{ commit_id: string; payload: { route_id: string; event_id: string; message: { alert_id: string; state: string } } }>`
      SELECT commit_id::text AS commit_id, payload FROM memory_outbox WHERE type = 'alert_delivery' AND commit_id = ${eventId}::uuid`.execute(db())).rows;

  beforeAll(async () => {
    receiver = createServer((req, res) => req.resume().on('end', () => res.writeHead(200).end()));
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    t = await startTestService({ env: { PUBLIC_URL: 'https://aionis.example.com' } });
    const api = request(t.url);
    await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'rec-t', tier: 'growth' }).expect(201);
    await api
      .post('/v1/admin/control/alert-routes')
      .set(t.auth)
      .set(json)
      .send({ route_id: 'rec-route', kind: 'webhook', url: `${base}/hook`, tenant_ids: ['rec-t'], include_platform: false })
      .expect(201);
    // Read by the recorder from the read model: wait until the route is there.
    for (let i = 0; i < 200 && (await sql`SELECT 1 FROM rm_alert_routes WHERE route_id = 'rec-route'`.execute(db())).rows.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
  }, 60_000);

  afterAll(async () => {
    await t?.stop();
    await new Promise<void>((r) => receiver.close(() => r()));
  });

  it('of two evaluators firing the same alert at once, one records it with its delivery and the other records nothing', async () => {
    const results = await Promise.all([recorder().record(fire('rec-race')), recorder().record(fire('rec-race'))]);
    const recorded = results.filter((r) => r !== null);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ type: 'AlertFired', deliveries: 1 });
    const events = await streamEvents('rec-race');
    expect(events.map((e) => e.type)).toEqual(['AlertFired']);
    // The delivery names the appended event by its id, and carries the alert the event recorded.
    const jobs = await deliveries(events[0]!.event_id);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.payload).toMatchObject({ route_id: 'rec-route', event_id: events[0]!.event_id, message: { alert_id: recorded[0]!.alert_id, state: 'firing' } });
    // Already firing: a later evaluation of the same breach records nothing.
    expect(await recorder().record(fire('rec-race'))).toBeNull();
    expect(await streamEvents('rec-race')).toHaveLength(1);
  });

  it('resolving records the resolution with its delivery once; resolving again records nothing', async () => {
    const fired = await recorder().record(fire('rec-resolve'));
    expect(fired).not.toBeNull();
    const resolve = { kind: 'resolve' as const, alert_id: fired!.alert_id, rule: 'rec-resolve', tenant_id: 'rec-t', numbers: { bad_long: 0 } };
    expect(await recorder().record(resolve)).toEqual({ type: 'AlertResolved', alert_id: fired!.alert_id, deliveries: 1 });
    expect(await recorder().record(resolve)).toBeNull();
    const events = await streamEvents('rec-resolve');
    expect(events.map((e) => e.type)).toEqual(['AlertFired', 'AlertResolved']);
    expect((await deliveries(events[1]!.event_id)).map((j) => j.payload.message.state)).toEqual(['resolved']);
  });

  it('a delivery that cannot be enqueued rolls the alert event back (nothing recorded without its deliveries)', async () => {
    // A real failure inside the transaction: the outbox refuses alert deliveries for a moment.
    await sql`ALTER TABLE memory_outbox ADD CONSTRAINT rec_refuse_alerts CHECK (type <> 'alert_delivery') NOT VALID`.execute(db());
    try {
      await expect(recorder().record(fire('rec-atomic'))).rejects.toThrow(/rec_refuse_alerts/);
    } finally {
      await sql`ALTER TABLE memory_outbox DROP CONSTRAINT rec_refuse_alerts`.execute(db());
    }
    expect(await streamEvents('rec-atomic')).toEqual([]);
    // Once the outbox takes it again, the same decision records (the failed attempt left nothing behind).
    expect(await recorder().record(fire('rec-atomic'))).toMatchObject({ type: 'AlertFired', deliveries: 1 });
    expect(await streamEvents('rec-atomic')).toHaveLength(1);
  });
});
