import * as path from 'node:path';
import { ConfigError, loadConfig } from '../../src/platform/config/config';

/** Run loadConfig and return the ConfigError it throws (fails the test if it does not throw one). */
function configErrorOf(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected loadConfig to throw a ConfigError');
}

describe('loadConfig', () => {
  describe('defaults', () => {
    const config = loadConfig({ LOG_FORMAT: 'json' });

    it('listens on 127.0.0.1:3000', () => {
      expect(config.port).toBe(3000);
      expect(config.host).toBe('127.0.0.1');
    });

    it('runs every role', () => {
      expect([...config.roles].sort()).toStrictEqual(['api', 'projector', 'worker']);
    });

    it('uses the embedded database and generated secrets', () => {
      expect(config.databaseUrl).toBeUndefined();
      expect(config.adminBootstrapToken).toBeUndefined();
      expect(config.keyPepper).toBeUndefined();
      expect(config.dataDir).toBe(path.resolve('./.data'));
    });

    it('has the documented tuning defaults', () => {
      expect(config.databasePoolSize).toBe(20);
      expect(config.logLevel).toBe('info');
      expect(config.serviceName).toBe('aionis-hosted');
      expect(config.projector).toStrictEqual({ batchSize: 1000, pollIntervalMs: 500, readyMaxLagMs: 30_000, heartbeatStaleMs: 30_000 });
      expect(config.http).toStrictEqual({ bodyLimit: '1mb', commandWaitMs: 2000, trustProxy: false, authFailures: { limit: 30, windowMs: 60_000, maxSources: 100_000 }, adminRateLimits: true });
      expect(loadConfig({ LOG_FORMAT: 'json', ADMIN_RATE_LIMITS: 'false' }).http.adminRateLimits).toBe(false);
    });

    it('console sessions: 30 minutes idle and 12 hours at most by default, both configurable within bounds', () => {
      expect(config.console).toStrictEqual({ sessionIdleMs: 30 * 60_000, sessionMaxMs: 12 * 3_600_000 });
      expect(loadConfig({ CONSOLE_SESSION_IDLE_MINUTES: '5', CONSOLE_SESSION_MAX_HOURS: '1' }).console).toStrictEqual({ sessionIdleMs: 300_000, sessionMaxMs: 3_600_000 });
      expect(() => loadConfig({ CONSOLE_SESSION_IDLE_MINUTES: '0' })).toThrow(/CONSOLE_SESSION_IDLE_MINUTES/);
      expect(() => loadConfig({ CONSOLE_SESSION_MAX_HOURS: '169' })).toThrow(/CONSOLE_SESSION_MAX_HOURS/);
    });

    it('parses TRUST_PROXY as false, true, a hop count or a list of trusted addresses, and rejects anything else', () => {
      expect(loadConfig({ TRUST_PROXY: 'false' }).http.trustProxy).toBe(false);
      expect(loadConfig({ TRUST_PROXY: 'true' }).http.trustProxy).toBe(true);
      expect(loadConfig({ TRUST_PROXY: '2' }).http.trustProxy).toBe(2);
      expect(loadConfig({ TRUST_PROXY: 'loopback, uniquelocal' }).http.trustProxy).toBe('loopback, uniquelocal');
      expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8,192.168.1.1' }).http.trustProxy).toBe('10.0.0.0/8,192.168.1.1');
      expect(() => loadConfig({ TRUST_PROXY: 'everyone' })).toThrow(/TRUST_PROXY/);
    });

    it('treats empty or blank variables as unset', () => {
      const c = loadConfig({ HOST: '', DATABASE_URL: '   ', KEY_PEPPER: '', LOG_FORMAT: 'json' });
      expect(c.host).toBe('127.0.0.1');
      expect(c.databaseUrl).toBeUndefined();
      expect(c.keyPepper).toBeUndefined();
    });
  });

  describe('valid values', () => {
    it('parses and trims what it is given', () => {
      const c = loadConfig({
        PORT: ' 8080 ',
        HOST: '0.0.0.0',
        DATABASE_URL: 'postgresql://u:p@db:5432/aionis',
        ADMIN_BOOTSTRAP_TOKEN: 't'.repeat(32),
        KEY_PEPPER: 'p'.repeat(40),
        AIONIS_ROLES: ' projector , worker ',
        LOG_FORMAT: 'pretty',
        LOG_LEVEL: 'debug',
      });
      expect(c.port).toBe(8080);
      expect(c.host).toBe('0.0.0.0');
      expect(c.databaseUrl).toBe('postgresql://u:p@db:5432/aionis');
      expect(c.adminBootstrapToken).toBe('t'.repeat(32));
      expect(c.keyPepper).toBe('p'.repeat(40));
      expect([...c.roles].sort()).toStrictEqual(['projector', 'worker']);
      expect(c.logFormat).toBe('pretty');
      expect(c.logLevel).toBe('debug');
    });

    it('accepts both postgres:// and postgresql:// URLs', () => {
      expect(loadConfig({ DATABASE_URL: 'postgres://localhost/db', LOG_FORMAT: 'json' }).databaseUrl).toBe('postgres://localhost/db');
      expect(loadConfig({ DATABASE_URL: 'postgresql://localhost/db', LOG_FORMAT: 'json' }).databaseUrl).toBe('postgresql://localhost/db');
    });

    it('accepts the port range bounds', () => {
      expect(loadConfig({ PORT: '0', LOG_FORMAT: 'json' }).port).toBe(0);
      expect(loadConfig({ PORT: '65535', LOG_FORMAT: 'json' }).port).toBe(65535);
    });
  });

  describe('invalid values', () => {
    it('lists every bad variable at once', () => {
      const err = configErrorOf({ PORT: 'abc', DATABASE_URL: 'mysql://x', KEY_PEPPER: 'short', AIONIS_ROLES: 'api,bogus' });
      expect(err.problems).toHaveLength(4);
      for (const name of ['PORT', 'DATABASE_URL', 'KEY_PEPPER', 'AIONIS_ROLES']) {
        expect(err.problems.filter((p) => p.startsWith(`${name}: `))).toHaveLength(1);
      }
      expect(err.problems.find((p) => p.startsWith('AIONIS_ROLES'))).toContain('api,bogus');
      for (const p of err.problems) expect(err.message).toContain(p);
    });

    it('bounds the failed-authentication limiter (0 turns the limit off; the window and the table cannot be made unbounded)', () => {
      expect(loadConfig({ AUTH_FAILURE_LIMIT: '0', AUTH_FAILURE_WINDOW_MS: '1000', AUTH_FAILURE_MAX_SOURCES: '100' }).http.authFailures).toStrictEqual({ limit: 0, windowMs: 1000, maxSources: 100 });
      const err = configErrorOf({ AUTH_FAILURE_LIMIT: '-1', AUTH_FAILURE_WINDOW_MS: '999', AUTH_FAILURE_MAX_SOURCES: '99999999' });
      expect(err.problems.map((p) => p.split(':')[0]).sort()).toEqual(['AUTH_FAILURE_LIMIT', 'AUTH_FAILURE_MAX_SOURCES', 'AUTH_FAILURE_WINDOW_MS']);
    });

    it('never echoes a secret value in the problems', () => {
      const err = configErrorOf({ KEY_PEPPER: 'short-secret', ADMIN_BOOTSTRAP_TOKEN: 'tiny-token' });
      expect(err.message).not.toContain('short-secret');
      expect(err.message).not.toContain('tiny-token');
    });

    it('rejects an ADMIN_BOOTSTRAP_TOKEN shorter than 32 characters', () => {
      const err = configErrorOf({ ADMIN_BOOTSTRAP_TOKEN: 'x'.repeat(31) });
      expect(err.problems).toHaveLength(1);
      expect(err.problems[0]).toMatch(/^ADMIN_BOOTSTRAP_TOKEN: .*32/);
    });

    it('rejects a KEY_PEPPER shorter than 32 characters', () => {
      expect(configErrorOf({ KEY_PEPPER: 'k'.repeat(31) }).problems).toStrictEqual([expect.stringMatching(/^KEY_PEPPER: /)]);
    });

    it.each([['-1'], ['65536'], ['80.5'], ['1e3']])('rejects PORT=%s', (port) => {
      expect(configErrorOf({ PORT: port }).problems).toStrictEqual([expect.stringMatching(/^PORT: /)]);
    });

    it.each([['api,bogus'], ['API'], [','], ['']])('rejects AIONIS_ROLES=%p', (roles) => {
      expect(configErrorOf({ AIONIS_ROLES: roles }).problems).toStrictEqual([expect.stringMatching(/^AIONIS_ROLES: /)]);
    });

    it('rejects an unknown LOG_LEVEL and a non-http OTLP endpoint', () => {
      const err = configErrorOf({ LOG_LEVEL: 'verbose', OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://collector:4317' });
      expect(err.problems.map((p) => p.split(':')[0]).sort()).toStrictEqual(['LOG_LEVEL', 'OTEL_EXPORTER_OTLP_ENDPOINT']);
    });
  });
});

describe('the S3 evidence archive configuration', () => {
  it('is off without a bucket, and any other ARCHIVE_S3_* variable without one is a boot error', () => {
    expect(loadConfig({}).governance.s3).toBeUndefined();
    expect(() => loadConfig({ ARCHIVE_S3_ENDPOINT: 'http://minio:9000' })).toThrow(/ARCHIVE_S3_BUCKET: required when ARCHIVE_S3_ENDPOINT is set/);
  });

  it('with a bucket alone: AWS S3, the default credential chain, the region from AWS_REGION', () => {
    expect(loadConfig({ ARCHIVE_S3_BUCKET: 'evidence', AWS_REGION: 'eu-west-3' }).governance.s3).toEqual({ endpoint: undefined, bucket: 'evidence', prefix: 'aionis-evidence', region: 'eu-west-3', credentials: undefined });
    expect(loadConfig({ ARCHIVE_S3_BUCKET: 'evidence' }).governance.s3?.region).toBe('us-east-1');
  });

  it('static keys go in pairs, a session token only with them', () => {
    expect(() => loadConfig({ ARCHIVE_S3_BUCKET: 'evidence', ARCHIVE_S3_ACCESS_KEY_ID: 'AKID' })).toThrow(/ARCHIVE_S3_SECRET_ACCESS_KEY: required with ARCHIVE_S3_ACCESS_KEY_ID/);
    expect(() => loadConfig({ ARCHIVE_S3_BUCKET: 'evidence', ARCHIVE_S3_SESSION_TOKEN: 'tok' })).toThrow(/ARCHIVE_S3_SESSION_TOKEN: only with/);
    const s3 = loadConfig({ ARCHIVE_S3_BUCKET: 'evidence', ARCHIVE_S3_ENDPOINT: 'http://minio:9000', ARCHIVE_S3_REGION: 'x-1', ARCHIVE_S3_ACCESS_KEY_ID: 'ASIA', ARCHIVE_S3_SECRET_ACCESS_KEY: 'secret', ARCHIVE_S3_SESSION_TOKEN: 'tok' }).governance.s3;
    expect(s3).toMatchObject({ endpoint: 'http://minio:9000', region: 'x-1', credentials: { accessKeyId: 'ASIA', secretAccessKey: 'secret', sessionToken: 'tok' } });
  });
});

describe('SHARD_URLS', () => {
  const base = { KEY_PEPPER: 'p'.repeat(32) };
  it('maps reference names to URLs', () => {
    const c = loadConfig({ ...base, SHARD_URLS: 'dedicated-1=postgres://u:secret@db1/aionis, eu_2=postgresql://db2/aionis' });
    expect([...c.shardUrls.keys()]).toEqual(['dedicated-1', 'eu_2']);
    expect(c.shardUrls.get('dedicated-1')).toBe('postgres://u:secret@db1/aionis');
    expect(loadConfig(base).shardUrls.size).toBe(0);
  });
  it('lists every bad entry by position and name, never with its URL', () => {
    let err: unknown;
    try {
      loadConfig({ ...base, SHARD_URLS: 'shared=postgres://u:pw1@x/a,Bad=postgres://u:pw2@x/a,ok=mysql://u:pw3@x/a,ok2=postgres://u:pw4@x/a,ok2=postgres://u:pw5@x/a' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems).toHaveLength(4);
    expect(problems.every((p) => p.startsWith('SHARD_URLS: '))).toBe(true);
    expect(problems.join('\n')).not.toMatch(/pw\d/);
    expect(problems.join('\n')).toMatch(/entry 1 \(shared\).*primary/);
    expect(problems.join('\n')).toMatch(/entry 5 \(ok2\).*twice/);
  });
});
