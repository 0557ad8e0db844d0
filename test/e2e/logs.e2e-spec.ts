import request from 'supertest';
import { parseApiKey } from '../../src/control-plane/api-keys/key-format';
import { type FreshService, spawnFreshService } from '../support/process';

/**
 * The logs an operator reads: the real service process with LOG_FORMAT=json writes only JSON lines
 * on stdout, exactly one access line per request with the documented fields, structured security
 * lines, no secret anywhere, the banner on stderr and no route table at info.
 */

interface Line {
  readonly [k: string]: unknown;
}

describe('structured logs (real process, LOG_FORMAT=json)', () => {
  let fresh: FreshService | undefined;
  afterAll(async () => fresh?.dispose());

  it('writes one queryable access line per request, structured security lines, and never a secret', async () => {
    fresh = await spawnFreshService({ LOG_LEVEL: 'info', LOG_FORMAT: 'json' });
    const { svc, url, adminToken, pepper } = fresh;
    const auth = { Authorization: `Bearer ${adminToken}` };
    const api = request(url);
    const wrongToken = 'not-an-operator-token-but-a-secret-0123456789';
    const rid = (n: string) => `logs-test-${n}`;

    expect((await api.get('/health/live').set('X-Request-Id', rid('live'))).status).toBe(200);
    expect((await api.post('/v1/admin/control/tenants').set(auth).set('X-Request-Id', rid('tenant')).send({ tenant_id: 'logs-co' })).status).toBe(201);
    const created = await api.post('/v1/admin/control/api-keys').set(auth).set('X-Request-Id', rid('key')).send({ tenant_id: 'logs-co', label: 'logs' });
    expect(created.status).toBe(201);
    const apiKey = created.body.api_key as string;
    const parsed = parseApiKey(apiKey)!;
    expect((await api.get('/v1/auth/whoami').set('x-api-key', apiKey).set('X-Request-Id', rid('whoami')).set('X-Correlation-Id', 'corr-1')).status).toBe(200);
    expect((await api.get('/v1/auth/whoami').set('Authorization', `Bearer ${apiKey}`).set('X-Request-Id', rid('whoami-bearer'))).status).toBe(200);
    expect((await api.get('/v1/auth/whoami').set('x-api-key', `${apiKey.slice(0, -3)}abc`).set('X-Request-Id', rid('bad-key'))).status).toBe(401);
    expect((await api.get('/v1/admin/control/tenants/logs-co').set('Authorization', `Bearer ${wrongToken}`).set('X-Request-Id', rid('bad-token'))).status).toBe(401);
    expect((await api.get('/v1/admin/control/tenants/logs-co').set('X-Admin-Token', adminToken).set('X-Request-Id', rid('admin-header'))).status).toBe(200);
    const badJson = await api.post('/v1/admin/control/tenants').set(auth).set('Content-Type', 'application/json').set('X-Request-Id', rid('bad-json')).send('{"tenant_id":');
    expect(badJson.status).toBe(400);
    expect((await api.get('/no/such/route').set('X-Request-Id', rid('404'))).status).toBe(404);
    expect((await api.get('/v1/admin/control/tenants').set('Cookie', `session=${wrongToken}`).set('X-Request-Id', rid('cookie'))).status).toBe(401);

    await svc.stop();
    const stdout = svc.stdout();
    const stderr = svc.stderr();

    // Every stdout line is a JSON object with a string level and a message.
    const lines = stdout.split('\n').filter((l) => l !== '');
    expect(lines.length).toBeGreaterThan(10);
    const records: Line[] = lines.map((l) => {
      try {
        return JSON.parse(l) as Line;
      } catch {
        throw new Error(`not a JSON line on stdout: ${l}`);
      }
    });
    for (const r of records) {
      expect(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).toContain(r.level);
      expect(typeof r.msg).toBe('string');
      expect(typeof r.time).toBe('string');
    }

    // Exactly one access line per request, with the documented fields.
    const access = (id: string) => records.filter((r) => r.kind === 'access' && r.request_id === rid(id));
    const one = (id: string) => {
      const found = access(id);
      expect(found).toHaveLength(1);
      const line = found[0]!;
      for (const f of ['method', 'route', 'path', 'status', 'latency_ms', 'tenant_id', 'key_id', 'operator_id', 'request_id', 'correlation_id', 'ip']) expect(line).toHaveProperty(f);
      expect(typeof line.latency_ms).toBe('number');
      return line;
    };
    expect(one('live')).toMatchObject({ level: 'info', method: 'GET', route: '/health/live', status: 200, operator_id: null, key_id: null, tenant_id: null });
    expect(one('tenant')).toMatchObject({ level: 'info', method: 'POST', route: '/v1/admin/control/tenants', status: 201, operator_id: 'op_bootstrap_owner' });
    expect(one('key')).toMatchObject({ status: 201, operator_id: 'op_bootstrap_owner' });
    expect(one('whoami')).toMatchObject({ route: '/v1/auth/whoami', status: 200, tenant_id: 'logs-co', key_id: parsed.keyId, operator_id: null, correlation_id: 'corr-1' });
    expect(one('whoami-bearer')).toMatchObject({ status: 200, tenant_id: 'logs-co', key_id: parsed.keyId, correlation_id: rid('whoami-bearer') });
    expect(one('bad-key')).toMatchObject({ level: 'warn', status: 401, key_id: null, tenant_id: null });
    expect(one('bad-token')).toMatchObject({ level: 'warn', status: 401, route: '/v1/admin/control/tenants/:tenant_id', tenant_id: 'logs-co', operator_id: null });
    expect(one('admin-header')).toMatchObject({ status: 200, tenant_id: 'logs-co', operator_id: 'op_bootstrap_owner' });
    expect(one('bad-json')).toMatchObject({ level: 'warn', status: 400, method: 'POST' });
    expect(one('404')).toMatchObject({ status: 404, route: 'unmatched', path: '/no/such/route' });
    expect(one('cookie')).toMatchObject({ status: 401 });
    const accessLines = records.filter((r) => r.kind === 'access');
    expect(accessLines).toHaveLength(new Set(accessLines.map((r) => r.request_id)).size);

    // Security lines are fields, not JSON inside the message, and carry the request id.
    const refused = records.filter((r) => r.context === 'KeyAuth' && r.msg === 'api key refused');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ level: 'warn', security: true, reason: 'malformed', key_id: null, request_id: rid('bad-key'), ip: expect.any(String) });
    const adminFailed = records.filter((r) => r.context === 'AdminAuth' && r.msg === 'admin authentication failed');
    expect(adminFailed.map((r) => r.request_id)).toEqual([rid('bad-token')]);
    expect(adminFailed[0]).toMatchObject({ level: 'warn', security: true, reason: 'unknown_token' });
    expect(records.some((r) => typeof r.msg === 'string' && r.msg.startsWith('{'))).toBe(false);

    // No secret in either stream.
    for (const secret of [adminToken, apiKey, parsed.secret, wrongToken, pepper]) {
      expect(stdout.includes(secret)).toBe(false);
      expect(stderr.includes(secret)).toBe(false);
    }

    // The banner is for a human, on stderr; the route table is debug-only.
    expect(stderr).toContain('Aionis Hosted is running at');
    expect(stdout).not.toContain('running at');
    expect(records.some((r) => r.context === 'RouterExplorer' || r.context === 'RoutesResolver' || /Mapped \{/.test(String(r.msg)))).toBe(false);
  }, 90_000);
});
