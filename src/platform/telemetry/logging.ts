import { AsyncLocalStorage } from 'node:async_hooks';
import type { LoggerService } from '@nestjs/common';
import { Logger as NestPinoBridge, PinoLogger } from 'nestjs-pino';
import { pino, type DestinationStream, type Logger as Pino } from 'pino';
import { PinoPretty } from 'pino-pretty';
import type { AppConfig, LogLevel } from '../config/config';

/**
 * Where secrets could appear in a log record, redacted by pino before the line is written
 * (docs/observability.md). Request and response headers are never logged by the access log, but
 * an error or a debug line that carries them is still covered.
 */
export const REDACT_PATHS: readonly string[] = (() => {
  const headers = ['authorization', '["x-admin-token"]', '["x-api-key"]', 'cookie', '["set-cookie"]', '["proxy-authorization"]'];
  const fields = ['authorization', 'api_key', 'apiKey', 'token', 'admin_token', 'access_token', 'refresh_token', 'secret', 'secret_access_key', 'password', 'pepper', 'key_pepper', 'cookie'];
  const headerPaths = ['req.headers', 'res.headers', 'headers', 'err.headers', 'err.config.headers'].flatMap((p) => headers.map((h) => (h.startsWith('[') ? `${p}${h}` : `${p}.${h}`)));
  return [...headerPaths, ...fields, ...fields.map((f) => `*.${f}`), ...fields.map((f) => `*.*.${f}`)];
})();

export const REDACTED = '[redacted]';

/** Nest contexts whose `log` lines are the route table and module wiring: debug, not info. */
const WIRING_CONTEXTS = new Set(['RoutesResolver', 'RouterExplorer', 'InstanceLoader']);

/** The request's own logger (bound to its request id) while a request is being handled. */
const requestLogger = new AsyncLocalStorage<Pino>();

export interface LoggingConfig extends Pick<AppConfig, 'logFormat' | 'serviceName'> {
  /** `silent`: nothing at all (tests that start a service with `logger: false`). */
  readonly logLevel: LogLevel | 'silent';
}

/** The root logger of the process: JSON lines on stdout, or pino-pretty for a developer terminal. */
export function createRootLogger(config: LoggingConfig, destination?: DestinationStream): Pino {
  const stream =
    destination ??
    (config.logLevel === 'silent'
      ? { write: () => undefined }
      : config.logFormat === 'pretty'
        ? PinoPretty({ sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' })
        : pino.destination({ dest: 1, sync: true }));
  return pino(
    {
      level: config.logLevel,
      base: { service: config.serviceName, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...REDACT_PATHS], censor: REDACTED },
    },
    stream,
  );
}

/** pino's side of nestjs-pino's bridge: inside a request, the request's logger; else the root. */
class ServicePinoLogger extends PinoLogger {
  constructor(private readonly root: Pino) {
    super({ pinoHttp: { logger: root } });
  }

  override get logger(): Pino {
    return requestLogger.getStore() ?? this.root;
  }
}

/**
 * Nest's logger (framework lines and every `new Logger(context)`) through pino: an object passed as
 * the message becomes fields of the line, the context a `context` field. The route table and
 * module wiring are logged at debug.
 */
export class NestLogger extends NestPinoBridge implements LoggerService {
  constructor(root: Pino) {
    super(new ServicePinoLogger(root), {});
  }

  override log(message: unknown, ...optionalParams: unknown[]): void {
    const context = optionalParams[optionalParams.length - 1];
    if (typeof context === 'string' && WIRING_CONTEXTS.has(context)) super.debug(message, ...optionalParams);
    else super.log(message, ...optionalParams);
  }
}

export interface Logging {
  readonly root: Pino;
  readonly nest: LoggerService;
}

export function createLogging(config: LoggingConfig, destination?: DestinationStream): Logging {
  const root = createRootLogger(config, destination);
  return { root, nest: new NestLogger(root) };
}

/** Run the rest of the request with `log` as the logger of every Nest `Logger` call made for it. */
export function withRequestLogger<T>(log: Pino, fn: () => T): T {
  return requestLogger.run(log, fn);
}
