import { copyFileSync, writeFileSync } from 'node:fs';
import { spawnService } from '../support/process';
import { startTestService, type TestService } from '../support/service';
import { type Issued, type TestCa, TestPki, tlsRequest } from '../support/test-pki';

/**
 * TLS and mutual TLS on the main listener, with real handshakes against a CA the test makes
 * (docs/deployment-topologies.md): the service serves HTTPS, refuses a client without a
 * certificate or with one from another CA, and takes a new certificate without a restart.
 */
describe('TLS on the listener', () => {
  const pki = new TestPki();
  let ca: TestCa;
  let otherCa: TestCa;
  let server: Issued;
  let client: Issued;
  let stranger: Issued;
  let t: TestService;
  const serving = { cert: '', key: '' };

  beforeAll(async () => {
    ca = pki.ca('test-ca');
    otherCa = pki.ca('other-ca');
    server = pki.issue(ca, 'server-1', { kind: 'server', cn: 'aionis.test' });
    client = pki.issue(ca, 'agent', { kind: 'client', cn: 'agent-1' });
    stranger = pki.issue(otherCa, 'stranger', { kind: 'client', cn: 'agent-1' });
    // The files the service is configured with: replaced in place by the reload tests.
    serving.cert = `${pki.dir}/serving.pem`;
    serving.key = `${pki.dir}/serving.key`;
    copyFileSync(server.cert, serving.cert);
    copyFileSync(server.key, serving.key);
    t = await startTestService({
      env: { TLS_CERT_FILE: serving.cert, TLS_KEY_FILE: serving.key, TLS_CLIENT_CA_FILE: ca.cert, TLS_CLIENT_AUTH: 'require', TLS_RELOAD_INTERVAL_MS: '0' },
    });
  }, 60_000);

  afterAll(async () => {
    await t?.stop();
    pki.dispose();
  });

  it('serves HTTPS with the configured certificate to a client with a certificate of the client CA', async () => {
    expect(t.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const r = await tlsRequest(`${t.url}/health`, { ca: ca.cert, client });
    expect(r.status).toBe(200);
    expect(r.serverSerial).toBe(server.serial);
  });

  it('fails the handshake of a client without a certificate (TLS_CLIENT_AUTH=require)', async () => {
    await expect(tlsRequest(`${t.url}/health`, { ca: ca.cert })).rejects.toThrow(/certificate|socket hang up|ECONNRESET/i);
  });

  it('fails the handshake of a client whose certificate another CA signed', async () => {
    await expect(tlsRequest(`${t.url}/health`, { ca: ca.cert, client: stranger })).rejects.toThrow(/certificate|unknown ca|socket hang up|ECONNRESET/i);
  });

  it('refuses plain HTTP on the TLS port', async () => {
    await expect(fetch(t.url.replace('https:', 'http:') + '/health')).rejects.toThrow();
  });

  it('takes a replaced certificate without a restart: new handshakes see the new serial', async () => {
    const next = pki.issue(ca, 'server-2', { kind: 'server', cn: 'aionis.test' });
    copyFileSync(next.cert, serving.cert);
    copyFileSync(next.key, serving.key);
    expect(t.service.reloadTls()).toStrictEqual({ main: 'reloaded' });
    const r = await tlsRequest(`${t.url}/health`, { ca: ca.cert, client });
    expect(r.status).toBe(200);
    expect(r.serverSerial).toBe(next.serial);
    expect(r.serverSerial).not.toBe(server.serial);
  });

  it('keeps the current certificate when the new files do not load (a key of another certificate, then garbage)', async () => {
    const before = (await tlsRequest(`${t.url}/health`, { ca: ca.cert, client })).serverSerial;
    const mismatched = pki.issue(ca, 'server-3', { kind: 'server', cn: 'aionis.test' });
    copyFileSync(mismatched.cert, serving.cert);
    copyFileSync(server.key, serving.key);
    expect(t.service.reloadTls()).toStrictEqual({ main: 'failed' });
    expect((await tlsRequest(`${t.url}/health`, { ca: ca.cert, client })).serverSerial).toBe(before);
    writeFileSync(serving.cert, 'not a certificate');
    expect(t.service.reloadTls()).toStrictEqual({ main: 'failed' });
    expect((await tlsRequest(`${t.url}/health`, { ca: ca.cert, client })).serverSerial).toBe(before);
    const metrics = await tlsRequest(`${t.url}/metrics`, { ca: ca.cert, client });
    expect(String(metrics.body)).toMatch(/aionis_tls_reloads_total\{[^}]*listener="main"[^}]*outcome="failed"[^}]*\} 2/);
    expect(String(metrics.body)).toMatch(/aionis_tls_reloads_total\{[^}]*outcome="reloaded"[^}]*\} 1/);
  });
});

describe('TLS certificate files watched for changes', () => {
  const pki = new TestPki();
  let t: TestService;

  afterAll(async () => {
    await t?.stop();
    pki.dispose();
  });

  it('reloads by itself when the files change (TLS_RELOAD_INTERVAL_MS), with no client certificate asked (TLS_CLIENT_AUTH unset)', async () => {
    const ca = pki.ca('watch-ca');
    const first = pki.issue(ca, 'watched', { kind: 'server', cn: 'aionis.test' });
    t = await startTestService({ env: { TLS_CERT_FILE: first.cert, TLS_KEY_FILE: first.key, TLS_RELOAD_INTERVAL_MS: '100' } });
    expect((await tlsRequest(`${t.url}/health/live`, { ca: ca.cert })).serverSerial).toBe(first.serial);
    // Issued over the same paths: the watcher sees new files and loads them.
    const second = pki.issue(ca, 'watched', { kind: 'server', cn: 'aionis.test' });
    const deadline = Date.now() + 10_000;
    let seen = first.serial;
    while (seen !== second.serial && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      seen = (await tlsRequest(`${t.url}/health/live`, { ca: ca.cert })).serverSerial;
    }
    expect(seen).toBe(second.serial);
  }, 60_000);
});

describe('TLS in the real process', () => {
  const pki = new TestPki();
  afterAll(() => pki.dispose());

  it('refuses to boot on bad TLS files, listing every problem, before touching the database', async () => {
    const ca = pki.ca('boot-ca');
    const a = pki.issue(ca, 'boot-a', { kind: 'server', cn: 'a.test' });
    const b = pki.issue(ca, 'boot-b', { kind: 'server', cn: 'b.test' });
    const svc = spawnService({ PORT: '0', TLS_CERT_FILE: a.cert, TLS_KEY_FILE: b.key, TLS_CLIENT_AUTH: 'require', TLS_CLIENT_CA_FILE: `${pki.dir}/nope.pem`, LOG_FORMAT: 'json' });
    await expect(svc.url(30_000)).rejects.toThrow(/exited \(1\)/);
    expect(svc.stderr()).toContain('Invalid configuration');
    expect(svc.stderr()).toMatch(/TLS_CLIENT_CA_FILE: cannot read .*nope\.pem \(ENOENT\)/);
    expect(svc.stderr()).toMatch(/TLS_KEY_FILE: the key in .*boot-b\.key does not match the certificate in .*boot-a\.pem/);
  }, 60_000);

  it('reloads its certificate on SIGHUP without a restart', async () => {
    const ca = pki.ca('hup-ca');
    const first = pki.issue(ca, 'hup', { kind: 'server', cn: 'aionis.test' });
    const svc = spawnService({ PORT: '0', TLS_CERT_FILE: first.cert, TLS_KEY_FILE: first.key, TLS_RELOAD_INTERVAL_MS: '0', LOG_FORMAT: 'json' });
    try {
      const url = await svc.url(110_000);
      expect(url).toMatch(/^https:/);
      expect((await tlsRequest(`${url}/health/live`, { ca: ca.cert })).serverSerial).toBe(first.serial);
      const second = pki.issue(ca, 'hup', { kind: 'server', cn: 'aionis.test' });
      // Watching is off (TLS_RELOAD_INTERVAL_MS=0): only the signal reloads.
      expect((await tlsRequest(`${url}/health/live`, { ca: ca.cert })).serverSerial).toBe(first.serial);
      svc.child.kill('SIGHUP');
      const deadline = Date.now() + 10_000;
      let seen = first.serial;
      while (seen !== second.serial && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        seen = (await tlsRequest(`${url}/health/live`, { ca: ca.cert })).serverSerial;
      }
      expect(seen).toBe(second.serial);
      expect(svc.child.exitCode).toBeNull();
      expect(svc.out()).toContain('TLS certificate reloaded');
    } finally {
      await svc.stop();
    }
  }, 150_000);
});
