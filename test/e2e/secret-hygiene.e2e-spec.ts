import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { hashSecret, parseApiKey } from '../../src/control-plane/api-keys/key-format';
import { type ServiceProcess, spawnService } from '../support/process';

/**
 * A canary API key secret and the admin token must never leave the service except in the one
 * response that created them: not in logs (at the most verbose level), metrics, audit entries,
 * error bodies or any other response.
 */

describe('secret hygiene (real process, most verbose logs)', () => {
  let svc: ServiceProcess | undefined;
  let dataDir = '';
  afterAll(async () => {
    await svc?.stop('SIGKILL');
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('never shows a key secret, its digest, or the admin token anywhere but their creation response', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'aionis-hygiene-'));
    svc = spawnService({ DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'trace', LOG_FORMAT: 'json' });
    const url = await svc.url();
    const adminToken = readFileSync(join(dataDir, 'bootstrap-admin.token'), 'utf8').trim();
    const pepper = readFileSync(join(dataDir, 'key-pepper'), 'utf8').trim();
    const auth = { Authorization: `Bearer ${adminToken}` };
    const api = request(url);
    const bodies: string[] = [];
    const keep = (res: request.Response) => {
      bodies.push(res.text);
      return res;
    };

    keep(await api.post('/v1/admin/control/tenants').set(auth).send({ tenant_id: 'canary-co' }));
    const created = await api.post('/v1/admin/control/api-keys').set(auth).send({ tenant_id: 'canary-co', label: 'canary' });
    const canary = created.body.api_key as string;
    const parsed = parseApiKey(canary)!;
    const digest = hashSecret(pepper, parsed.secret);
    const adminDigest = createHmac('sha256', pepper).update(adminToken, 'utf8').digest('hex');
    const keyId = parsed.keyId;

    // Use it, misuse it, and put it where it does not belong.
    keep(await api.get('/v1/auth/whoami').set('x-api-key', canary));
    keep(await api.get('/v1/auth/whoami').set('x-api-key', `${canary}x`));
    keep(await api.get('/v1/auth/whoami').set('Authorization', `Bearer ${canary.slice(0, -3)}abc`));
    keep(await api.get('/v1/admin/control/tenants').set('Authorization', `Bearer ${canary}`));
    keep(await api.post('/v1/admin/control/tenants').set(auth).send({ tenant_id: 'canary-co', display_name: canary }));
    keep(await api.post('/v1/admin/control/tenants').set(auth).send({ tenant_id: canary }));
    keep(await api.post('/v1/admin/control/tenants').set(auth).set('Content-Type', 'application/json').send(`{"tenant_id": "${canary}`));
    keep(await api.get(`/v1/admin/control/api-keys/${keyId}`).set(auth));
    keep(await api.get('/v1/admin/control/api-keys').set(auth));
    keep(await api.post(`/v1/admin/control/api-keys/${keyId}/rotate`).set(auth).send({ grace_seconds: 0 }));
    keep(await api.post(`/v1/admin/control/api-keys/${keyId}/revoke`).set(auth));
    keep(await api.get('/v1/auth/whoami').set('x-api-key', canary));
    keep(await api.get('/v1/admin/control/audit-events').set(auth).set('Accept', 'application/x-ndjson'));
    keep(await api.get('/v1/admin/control/audit-events?limit=1000').set(auth));
    keep(await api.get('/metrics'));
    keep(await api.get('/health/ready'));
    keep(await api.get('/v1/admin/control/operators').set(auth));

    await svc.stop();
    const logs = svc.out();

    const everything = [logs, ...bodies].join('\n');
    expect(bodies.join('\n')).toContain('aionis_api_key_rejections_total'); // the scrape is in there
    expect(logs).toContain('api key refused'); // and the security log lines
    for (const secret of [canary, parsed.secret, digest, adminToken, adminDigest, pepper]) {
      expect(everything.includes(secret)).toBe(false);
    }
  }, 90_000);
});
