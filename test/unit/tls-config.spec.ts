import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/platform/config/config';
import { isDataPlanePath } from '../../src/platform/http/listeners';
import { type Issued, type TestCa, TestPki } from '../support/test-pki';

/** Run loadConfig and return the problems of the ConfigError it throws. */
function problemsOf(env: NodeJS.ProcessEnv): readonly string[] {
  try {
    loadConfig({ LOG_FORMAT: 'json', ...env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected loadConfig to throw a ConfigError');
}

describe('network configuration (TLS, admin listener, private endpoints)', () => {
  const pki = new TestPki();
  let ca: TestCa;
  let server: Issued;
  let other: Issued;
  beforeAll(() => {
    ca = pki.ca('config-ca');
    server = pki.issue(ca, 'server', { kind: 'server', cn: 'aionis.test' });
    other = pki.issue(ca, 'other', { kind: 'server', cn: 'other.test' });
  });
  afterAll(() => pki.dispose());

  it('is plain HTTP on one listener by default', () => {
    const c = loadConfig({ LOG_FORMAT: 'json' });
    expect(c.network).toStrictEqual({ tls: undefined, tlsReloadIntervalMs: 60_000, admin: undefined, privateEndpoints: [] });
    expect(c.publicUrl).toBe('http://127.0.0.1:3000');
  });

  it('reads TLS files and client authentication, and the public URL becomes https', () => {
    const c = loadConfig({ LOG_FORMAT: 'json', TLS_CERT_FILE: server.cert, TLS_KEY_FILE: server.key, TLS_CLIENT_CA_FILE: ca.cert, TLS_CLIENT_AUTH: 'require', TLS_RELOAD_INTERVAL_MS: '0' });
    expect(c.network.tls).toStrictEqual({ certFile: server.cert, keyFile: server.key, clientCaFile: ca.cert, clientAuth: 'require' });
    expect(c.network.tlsReloadIntervalMs).toBe(0);
    expect(c.publicUrl).toBe('https://127.0.0.1:3000');
  });

  it('lists every bad TLS variable at once: an unreadable file, a key of another certificate, a file that is not PEM', () => {
    const garbage = join(pki.dir, 'garbage.pem');
    writeFileSync(garbage, 'hello');
    const problems = problemsOf({
      TLS_CERT_FILE: server.cert,
      TLS_KEY_FILE: other.key,
      TLS_CLIENT_CA_FILE: join(pki.dir, 'missing-ca.pem'),
      TLS_CLIENT_AUTH: 'optional',
      ADMIN_PORT: '9443',
      ADMIN_TLS_CERT_FILE: garbage,
      ADMIN_TLS_KEY_FILE: server.key,
    });
    expect(problems).toStrictEqual([
      expect.stringMatching(/^TLS_CLIENT_CA_FILE: cannot read .*missing-ca\.pem \(ENOENT\)$/),
      expect.stringMatching(/^TLS_KEY_FILE: the key in .*other\.key does not match the certificate in .*server\.pem$/),
      expect.stringMatching(/^ADMIN_TLS_CERT_FILE: .*garbage\.pem is not a PEM file$/),
    ]);
  });

  it('refuses half a pair, client authentication without a CA, a CA without client authentication, and a bad mode', () => {
    expect(problemsOf({ TLS_CERT_FILE: server.cert })).toStrictEqual(['TLS_KEY_FILE: required with TLS_CERT_FILE (certificate and key go in pairs)']);
    expect(problemsOf({ TLS_CERT_FILE: server.cert, TLS_KEY_FILE: server.key, TLS_CLIENT_AUTH: 'require' })).toStrictEqual([
      'TLS_CLIENT_CA_FILE: required with TLS_CLIENT_AUTH=require (the CAs whose client certificates are accepted)',
    ]);
    expect(problemsOf({ TLS_CERT_FILE: server.cert, TLS_KEY_FILE: server.key, TLS_CLIENT_CA_FILE: ca.cert })).toStrictEqual(['TLS_CLIENT_AUTH: set it to optional or require to use TLS_CLIENT_CA_FILE']);
    expect(problemsOf({ TLS_CLIENT_AUTH: 'always' })).toStrictEqual(['TLS_CLIENT_AUTH: must be none, optional or require']);
    expect(problemsOf({ TLS_RELOAD_INTERVAL_MS: '50' })).toStrictEqual(['TLS_RELOAD_INTERVAL_MS: must be 0 (SIGHUP only) or >= 100']);
  });

  it('puts the admin API on ADMIN_PORT (ADMIN_HOST defaulting to HOST), sharing the main TLS unless ADMIN_TLS_* is set', () => {
    const shared = loadConfig({ LOG_FORMAT: 'json', HOST: '0.0.0.0', ADMIN_PORT: '9000', TLS_CERT_FILE: server.cert, TLS_KEY_FILE: server.key });
    expect(shared.network.admin).toStrictEqual({ host: '0.0.0.0', port: 9000, tls: shared.network.tls });
    const own = loadConfig({ LOG_FORMAT: 'json', ADMIN_PORT: '9000', ADMIN_HOST: '10.0.0.5', ADMIN_TLS_CERT_FILE: other.cert, ADMIN_TLS_KEY_FILE: other.key });
    expect(own.network.tls).toBeUndefined();
    expect(own.network.admin).toStrictEqual({ host: '10.0.0.5', port: 9000, tls: { certFile: other.cert, keyFile: other.key, clientCaFile: undefined, clientAuth: 'none' } });
  });

  it('refuses ADMIN_HOST or ADMIN_TLS_* without ADMIN_PORT, and ADMIN_PORT equal to PORT', () => {
    expect(problemsOf({ ADMIN_HOST: '10.0.0.5', ADMIN_TLS_CERT_FILE: server.cert })).toStrictEqual([
      'ADMIN_HOST: only with ADMIN_PORT (the admin listener)',
      'ADMIN_TLS_*: only with ADMIN_PORT (the admin listener)',
    ]);
    expect(problemsOf({ PORT: '8080', ADMIN_PORT: '8080' })).toStrictEqual(['ADMIN_PORT: must differ from PORT (8080)']);
    expect(problemsOf({ ADMIN_PORT: 'x' })).toStrictEqual(['ADMIN_PORT: must be a whole number']);
  });

  it('parses PRIVATE_ENDPOINTS: mutual TLS always, the main certificate by default', () => {
    const c = loadConfig({
      LOG_FORMAT: 'json',
      TLS_CERT_FILE: server.cert,
      TLS_KEY_FILE: server.key,
      PRIVATE_ENDPOINTS: JSON.stringify([{ name: 'acme-pl', host: '10.1.0.4', port: 8443, tenant_id: 'acme', allowed_cidrs: ['10.20.0.0/16'], client_ca_file: ca.cert }]),
    });
    expect(c.network.privateEndpoints).toStrictEqual([
      { name: 'acme-pl', host: '10.1.0.4', port: 8443, tenantId: 'acme', allowedCidrs: ['10.20.0.0/16'], tls: { certFile: server.cert, keyFile: server.key, clientCaFile: ca.cert, clientAuth: 'require' } },
    ]);
  });

  it('lists what is wrong with PRIVATE_ENDPOINTS', () => {
    expect(problemsOf({ PRIVATE_ENDPOINTS: 'acme:8443' })).toStrictEqual(['PRIVATE_ENDPOINTS: must be a JSON array of endpoints (docs/deployment-topologies.md)']);
    const [shape] = problemsOf({ PRIVATE_ENDPOINTS: JSON.stringify([{ name: 'Bad Name', host: 'h', port: 1, tenant_id: 'acme', allowed_cidrs: [], client_ca_file: 'x', extra: 1 }]) });
    expect(shape).toMatch(/^PRIVATE_ENDPOINTS: .*\[0\.name\] must be 1-63 lowercase.*\[0\.allowed_cidrs\] must list at least one CIDR/);
    const ep = { host: '127.0.0.1', tenant_id: 'acme', allowed_cidrs: ['10.0.0.0/8'], client_ca_file: ca.cert };
    expect(
      problemsOf({
        PORT: '8000',
        PRIVATE_ENDPOINTS: JSON.stringify([
          { ...ep, name: 'a', port: 8000 },
          { ...ep, name: 'a', port: 8001, cert_file: server.cert, key_file: other.key },
        ]),
      }),
    ).toStrictEqual([
      "PRIVATE_ENDPOINTS[0] (a): port 8000 is already PORT's",
      'PRIVATE_ENDPOINTS[0] (a): cert_file and key_file are required when TLS_CERT_FILE and TLS_KEY_FILE are unset',
      'PRIVATE_ENDPOINTS[1] (a): the name is used twice',
      expect.stringMatching(/^PRIVATE_ENDPOINTS\[1\] \(a\)\.key_file: the key in .*other\.key does not match the certificate/),
    ]);
  });
});

describe('isDataPlanePath (what the public listener and private endpoints serve beside an admin listener)', () => {
  it.each(['/v1/memory/write', '/v1/memory/recall_text', '/V1/Memory/write', '/health', '/health/', '/health/live', '/health/ready', '/v1/auth/whoami', '/v1/audit/public-key'])('serves %s', (p) => {
    expect(isDataPlanePath(p)).toBe(true);
  });
  it.each(['/v1/admin/control/tenants', '/V1/ADMIN/control/tenants', '/v1/admin/session', '/console', '/console/assets/app.js', '/metrics', '/docs', '/docs-json', '/v1/memory', '/v1/memoryx/write', '//v1/admin/control/tenants', '/v1/audit/public-key/x', '/'])('hides %s', (p) => {
    expect(isDataPlanePath(p)).toBe(false);
  });
});
