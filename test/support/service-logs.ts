import type { LoggerService } from '@nestjs/common';

/**
 * What the services and processes a test started have logged, so that a failing test can show it
 * (test/support/environment.ts prints the lines logged during a failed test or hook). Sources are
 * registered on the test file's global (so they go with the file); each keeps at most MAX_LINES lines.
 */
export interface LogSource {
  readonly name: string;
  /** Every line captured so far (oldest first; older lines beyond MAX_LINES dropped). */
  lines(): readonly string[];
  /** How many lines were ever captured (a mark: lines after it are new). */
  count(): number;
}

const MAX_LINES = 2000;
const REGISTRY = Symbol.for('aionis.test.logSources');

export function logSources(scope: object = globalThis): Set<LogSource> {
  const g = scope as { [REGISTRY]?: Set<LogSource> };
  return (g[REGISTRY] ??= new Set());
}

/** A bounded line buffer registered as a log source until `close()`. */
export class LineBuffer implements LogSource {
  private readonly buf: string[] = [];
  private total = 0;
  private partial = '';

  constructor(readonly name: string) {
    logSources().add(this);
  }

  push(line: string): void {
    this.buf.push(line);
    this.total += 1;
    if (this.buf.length > MAX_LINES) this.buf.splice(0, this.buf.length - MAX_LINES);
  }

  /** Raw output of a process: split into lines. */
  write(chunk: Buffer | string): void {
    const parts = (this.partial + chunk.toString()).split('\n');
    this.partial = parts.pop() ?? '';
    for (const p of parts) this.push(p);
  }

  lines(): readonly string[] {
    return this.partial ? [...this.buf, this.partial] : this.buf;
  }

  count(): number {
    return this.total;
  }

  close(): void {
    logSources().delete(this);
  }
}

/** A Nest logger that keeps every line (all levels but debug and verbose) instead of printing it. */
export class CapturingLogger extends LineBuffer implements LoggerService {
  private line(level: string, message: unknown, rest: unknown[]): void {
    const context = rest.length > 0 && typeof rest[rest.length - 1] === 'string' ? (rest[rest.length - 1] as string) : '';
    // Structured lines (pino style) carry errors as fields: keep their stacks.
    const json = (x: unknown) => JSON.stringify(x, (_k, v: unknown) => (v instanceof Error ? (v.stack ?? v.message) : v));
    const extra = rest.slice(0, context ? -1 : undefined).map((x) => (x instanceof Error ? (x.stack ?? x.message) : typeof x === 'string' ? x : json(x)));
    const text = message instanceof Error ? (message.stack ?? message.message) : typeof message === 'string' ? message : json(message);
    this.push([new Date().toISOString(), level.toUpperCase(), context ? `[${context}]` : '', text, ...extra].filter(Boolean).join(' '));
  }

  log(message: unknown, ...rest: unknown[]): void {
    this.line('log', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.line('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.line('warn', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.line('fatal', message, rest);
  }
  debug(): void {}
  verbose(): void {}
}
