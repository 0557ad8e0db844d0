import { sql } from 'kysely';
import request from 'supertest';
import { sessionHash } from '../../src/control-plane/operators/session-credentials';
import { type FreshService, spawnFreshService } from '../support/process';
import { startTestService, TEST_PEPPER, type TestService } from '../support/service';

/**
 * Console sessions without a browser (docs/console.md): an operator token exchanged for an
 * HttpOnly, SameSite=Strict cookie (Secure over TLS), CSRF on every change made with it, idle and
 * absolute expiry, sign-out that really ends it, sign-in and sign-out in the audit trail, roles
 * that hold, and the console's own pages under a strict Content-Security-Policy.
 */
const json = { 'Content-Type': 'application/json' };
const cookieOf = (res: request.Response): string => {
  const set = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  const c = set.find((s) => s.startsWith('aionis_session='));
  if (!c) throw new Error(`no session cookie in ${JSON.stringify(set)}`);
  return c;
};
const valueOf = (setCookie: string): string => setCookie.split(';')[0]!.slice('aionis_session='.length);

describe('console sessions (real server)', () => {
  let t: TestService;
  let api: ReturnType<typeof request>;
  let auditorToken: string;

  beforeAll(async () => {
    t = await startTestService({ env: { TRUST_PROXY: 'loopback', CONSOLE_SESSION_IDLE_MINUTES: '5', CONSOLE_SESSION_MAX_HOURS: '2' } });
    api = request(t.url);
    await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'sess-co' }).expect(201);
    auditorToken = (await api.post('/v1/admin/control/operators').set(t.auth).set(json).send({ operator_id: 'op_audrey', display_name: 'Audrey', role: 'auditor' }).expect(201)).body.token as string;
  }, 60_000);
  afterAll(async () => t.stop());

  async function signIn(token: string) {
    const res = await api.post('/v1/admin/session').set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(201);
    const setCookie = cookieOf(res);
    return { res, setCookie, cookie: `aionis_session=${valueOf(setCookie)}`, id: valueOf(setCookie), csrf: res.body.session.csrf_token as string };
  }

  it('sign-in sets an HttpOnly, SameSite=Strict cookie (not Secure over plain HTTP) and answers the operator and a CSRF token', async () => {
    const { res, setCookie, id, csrf } = await signIn(t.auth.Authorization.slice('Bearer '.length));
    expect(setCookie).toMatch(/; HttpOnly/);
    expect(setCookie).toMatch(/; SameSite=Strict/);
    expect(setCookie).toMatch(/; Path=\//);
    expect(setCookie).toMatch(/; Max-Age=7200/);
    expect(setCookie).not.toMatch(/Secure/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body.operator).toMatchObject({ role: 'owner' });
    expect(res.body.session).toMatchObject({ idle_timeout_seconds: 300 });
    expect(Date.parse(res.body.session.expires_at) - Date.now()).toBeGreaterThan(7000_000);
    expect(csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The cookie is a fresh random id: not the token, and stored only as a digest.
    expect(id).not.toContain('aio_admin_');
    const rows = await sql<{ session_hash: string }>`SELECT session_hash FROM operator_sessions`.execute(t.tdb.database.db);
    expect(rows.rows.map((r) => r.session_hash)).toContain(sessionHash(TEST_PEPPER, id));
    expect(JSON.stringify(rows.rows)).not.toContain(id);
  });

  it('the cookie is Secure when the request came over TLS (X-Forwarded-Proto from a trusted proxy)', async () => {
    const res = await api.post('/v1/admin/session').set(t.auth).set('X-Forwarded-Proto', 'https');
    expect(res.status).toBe(201);
    expect(cookieOf(res)).toMatch(/; Secure/);
  });

  it('the cookie reads the admin API; a change needs the CSRF token (missing or wrong: 403), a bearer token needs none', async () => {
    const { cookie, csrf } = await signIn(t.auth.Authorization.slice('Bearer '.length));
    expect((await api.get('/v1/admin/control/tenants/sess-co').set('Cookie', cookie)).status).toBe(200);
    const me = await api.get('/v1/admin/session').set('Cookie', cookie);
    expect(me.status).toBe(200);
    expect(me.body.session.csrf_token).toBe(csrf);
    const none = await api.post('/v1/admin/control/tenants').set('Cookie', cookie).set(json).send({ tenant_id: 'csrf-none' });
    expect(none.status).toBe(403);
    expect(none.body.code).toBe('forbidden');
    const wrong = await api.post('/v1/admin/control/tenants').set('Cookie', cookie).set('X-CSRF-Token', `${csrf.slice(0, -2)}xx`).set(json).send({ tenant_id: 'csrf-wrong' });
    expect(wrong.status).toBe(403);
    expect((await api.get('/v1/admin/control/tenants/csrf-none').set(t.auth)).status).toBe(404);
    expect((await api.post('/v1/admin/control/tenants').set('Cookie', cookie).set('X-CSRF-Token', csrf).set(json).send({ tenant_id: 'csrf-ok' })).status).toBe(201);
    // Another session's CSRF token does not fit this one.
    const other = await signIn(t.auth.Authorization.slice('Bearer '.length));
    expect((await api.post('/v1/admin/control/tenants').set('Cookie', cookie).set('X-CSRF-Token', other.csrf).set(json).send({ tenant_id: 'csrf-cross' })).status).toBe(403);
    // Bearer calls are unaffected.
    expect((await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'bearer-ok' })).status).toBe(201);
  });

  it('an auditor signed in reads everything and can change nothing, even with the CSRF token', async () => {
    const { cookie, csrf, res } = await signIn(auditorToken);
    expect(res.body.operator).toMatchObject({ operator_id: 'op_audrey', role: 'auditor' });
    expect((await api.get('/v1/admin/control/overview/tenants').set('Cookie', cookie)).status).toBe(200);
    const refused = await api.post('/v1/admin/control/dead-letters/replay').set('Cookie', cookie).set('X-CSRF-Token', csrf).set(json).send({ tenant_id: 'sess-co', reason: 'try' });
    expect(refused.status).toBe(403);
    expect(refused.body.detail).toMatch(/auditor role may not/);
  });

  it('a session cannot sign in again by itself: sign-in takes an operator token', async () => {
    const { cookie, csrf } = await signIn(t.auth.Authorization.slice('Bearer '.length));
    expect((await api.post('/v1/admin/session').set('Cookie', cookie).set('X-CSRF-Token', csrf)).status).toBe(401);
  });

  it('sign-out ends the session on the server (the cookie stops working) and clears the cookie; both are in the audit trail', async () => {
    const { cookie, csrf, res } = await signIn(auditorToken);
    expect((await api.delete('/v1/admin/session').set('Cookie', cookie)).status).toBe(403);
    const out = await api.delete('/v1/admin/session').set('Cookie', cookie).set('X-CSRF-Token', csrf);
    expect(out.status).toBe(200);
    expect(out.body).toEqual({ signed_out: true });
    expect(cookieOf(out)).toMatch(/^aionis_session=; .*Max-Age=0/);
    expect((await api.get('/v1/admin/control/tenants/sess-co').set('Cookie', cookie)).status).toBe(401);
    expect((await api.get('/v1/admin/session').set('Cookie', cookie)).status).toBe(401);
    const audit = await api.get('/v1/admin/control/audit-events').query({ resource_type: 'operator_session', actor_id: 'op_audrey' }).set(t.auth);
    expect(audit.status).toBe(200);
    const types = (audit.body.items as { type: string; actor: { id: string }; data: Record<string, unknown>; resource: { id: string } }[]).map((e) => e.type);
    expect(types).toContain('OperatorSignedIn');
    expect(types).toContain('OperatorSignedOut');
    const signedIn = audit.body.items.find((e: { type: string; data: { expires_at: string } }) => e.type === 'OperatorSignedIn' && e.data.expires_at === res.body.session.expires_at);
    expect(signedIn).toMatchObject({ actor: { type: 'operator', id: 'op_audrey' }, data: { operator_id: 'op_audrey', role: 'auditor', idle_timeout_seconds: 300 } });
    expect(JSON.stringify(audit.body)).not.toContain(valueOf(cookieOf(res)));
  });

  it('a session idle longer than CONSOLE_SESSION_IDLE_MINUTES, or past CONSOLE_SESSION_MAX_HOURS, is refused', async () => {
    const idle = await signIn(t.auth.Authorization.slice('Bearer '.length));
    const absolute = await signIn(t.auth.Authorization.slice('Bearer '.length));
    expect((await api.get('/v1/admin/session').set('Cookie', idle.cookie)).status).toBe(200);
    await sql`UPDATE operator_sessions SET last_seen_at = clock_timestamp() - interval '6 minutes' WHERE session_hash = ${sessionHash(TEST_PEPPER, idle.id)}`.execute(t.tdb.database.db);
    expect((await api.get('/v1/admin/session').set('Cookie', idle.cookie)).status).toBe(401);
    // Used within the idle window but past the absolute expiry.
    await sql`UPDATE operator_sessions SET expires_at = clock_timestamp() - interval '1 second' WHERE session_hash = ${sessionHash(TEST_PEPPER, absolute.id)}`.execute(t.tdb.database.db);
    expect((await api.get('/v1/admin/session').set('Cookie', absolute.cookie)).status).toBe(401);
  });

  it('a disabled operator’s session stops working at once', async () => {
    const token = (await api.post('/v1/admin/control/operators').set(t.auth).set(json).send({ operator_id: 'op_leaver', display_name: 'Leaver', role: 'operator' }).expect(201)).body.token as string;
    const { cookie } = await signIn(token);
    expect((await api.get('/v1/admin/session').set('Cookie', cookie)).status).toBe(200);
    await api.post('/v1/admin/control/operators/op_leaver/disable').set(t.auth).set(json).send({ reason: 'left' }).expect(200);
    expect((await api.get('/v1/admin/session').set('Cookie', cookie)).status).toBe(401);
  });

  it('the console is served at /console with a strict Content-Security-Policy and no inline script', async () => {
    const page = await api.get('/console');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    const csp = page.headers['content-security-policy'] as string;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.text).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    expect(page.text).not.toMatch(/\sstyle=|\son[a-z]+=/i);
    const css = await api.get('/console/assets/console.css');
    expect(css.status).toBe(200);
    expect(css.headers['content-security-policy']).toBe(csp);
    expect((await api.get('/console/assets/../../package.json')).status).toBe(404);
    expect((await api.post('/console').send({})).status).toBe(405);
    // An alert's console_url gets the same shell (with the same headers); other paths do not.
    const alertPage = await api.get('/console/alerts/0b9e6a52-3c1d-4f7e-9a8b-1c2d3e4f5a6b');
    expect(alertPage.status).toBe(200);
    expect(alertPage.text).toBe(page.text);
    expect(alertPage.headers['content-security-policy']).toBe(csp);
    expect((await api.get('/console/alerts/not-an-alert')).status).toBe(404);
  });
});

describe('console sessions in the logs (real process)', () => {
  let fresh: FreshService | undefined;
  afterAll(async () => fresh?.dispose());

  it('neither the operator token nor the session id nor the CSRF token appears in the logs', async () => {
    fresh = await spawnFreshService({ LOG_LEVEL: 'debug', LOG_FORMAT: 'json' });
    const api = request(fresh.url);
    const signedIn = await api.post('/v1/admin/session').set('Authorization', `Bearer ${fresh.adminToken}`);
    expect(signedIn.status).toBe(201);
    const id = valueOf(cookieOf(signedIn));
    const csrf = signedIn.body.session.csrf_token as string;
    const cookie = `aionis_session=${id}`;
    expect((await api.get('/v1/admin/control/tenants').set('Cookie', cookie)).status).toBe(200);
    expect((await api.post('/v1/admin/control/tenants').set('Cookie', cookie).set(json).send({ tenant_id: 'no-csrf' })).status).toBe(403);
    expect((await api.delete('/v1/admin/session').set('Cookie', cookie).set('X-CSRF-Token', csrf)).status).toBe(200);
    expect((await api.get('/v1/admin/control/tenants').set('Cookie', cookie)).status).toBe(401);
    await fresh.svc.stop();
    const out = fresh.svc.out();
    expect(out).toContain('/v1/admin/session');
    for (const secret of [fresh.adminToken, id, csrf]) expect(out.includes(secret)).toBe(false);
  });
});
