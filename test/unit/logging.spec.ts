import { accessLevel } from '../../src/platform/http/access-log';
import { createLogging, REDACTED } from '../../src/platform/telemetry/logging';

/** The logging configuration: redaction, levels, and Nest's logger bridged to pino. */

function capture(logLevel: 'info' | 'debug' = 'info') {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const logging = createLogging({ logLevel, logFormat: 'json', serviceName: 'test' }, { write: (s: string) => (raw.push(s), lines.push(JSON.parse(s) as Record<string, unknown>)) });
  return { ...logging, lines, raw };
}

describe('logging', () => {
  it('given secrets in headers and in fields, when logged, then every value is redacted by configuration', () => {
    const { root, lines, raw } = capture();
    root.warn(
      {
        req: { headers: { authorization: 'Bearer s1', 'x-api-key': 's2', 'x-admin-token': 's3', cookie: 's4', accept: 'application/json' } },
        res: { headers: { 'set-cookie': 's5' } },
        api_key: 's6',
        body: { token: 's7', password: 's8', nested: { secret: 's9' } },
        config: { key_pepper: 's10' },
      },
      'with secrets',
    );
    expect(lines).toHaveLength(1);
    const text = raw.join('');
    for (const s of ['s1', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9', 's10']) expect(text).not.toContain(`"${s}"`);
    expect(lines[0]).toMatchObject({ level: 'warn', msg: 'with secrets', api_key: REDACTED, req: { headers: { authorization: REDACTED, accept: 'application/json' } } });
  });

  it("given Nest's logger, when a context logs an object, then its members are fields of the line and the level is a name", () => {
    const { nest, lines } = capture();
    nest.warn({ msg: 'api key refused', security: true, reason: 'malformed' }, 'KeyAuth');
    nest.log('plain text', 'Projector');
    expect(lines).toEqual([
      expect.objectContaining({ level: 'warn', context: 'KeyAuth', msg: 'api key refused', security: true, reason: 'malformed', service: 'test' }),
      expect.objectContaining({ level: 'info', context: 'Projector', msg: 'plain text' }),
    ]);
  });

  it('given an error in a line, when logged, then it is serialized with its type, message and stack', () => {
    const { nest, lines } = capture();
    nest.error({ msg: 'unhandled error', path: '/x', err: new TypeError('boom') }, 'HTTP');
    expect(lines[0]).toMatchObject({ level: 'error', context: 'HTTP', msg: 'unhandled error', path: '/x', err: { type: 'TypeError', message: 'boom', stack: expect.stringContaining('boom') } });
  });

  it('given the route table and module wiring, when Nest logs them, then they are debug lines, absent at info', () => {
    const info = capture('info');
    info.nest.log('Mapped {/v1/auth/whoami, GET} route', 'RouterExplorer');
    info.nest.log('WhoamiController {/v1/auth}:', 'RoutesResolver');
    info.nest.log('AppModule dependencies initialized', 'InstanceLoader');
    expect(info.lines).toEqual([]);
    const debug = capture('debug');
    debug.nest.log('Mapped {/v1/auth/whoami, GET} route', 'RouterExplorer');
    expect(debug.lines).toEqual([expect.objectContaining({ level: 'debug', context: 'RouterExplorer', msg: 'Mapped {/v1/auth/whoami, GET} route' })]);
  });

  it('given a status, then the access line level is error for 5xx, warn for 4xx and info otherwise', () => {
    expect([200, 204, 304, 400, 401, 429, 500, 503].map(accessLevel)).toEqual(['info', 'info', 'info', 'warn', 'warn', 'warn', 'error', 'error']);
  });
});
