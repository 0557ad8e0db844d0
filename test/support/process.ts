import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineBuffer } from './service-logs';

/** Running `src/main.ts` as a real process (compiled on the fly by swc), for multi-process tests. */
export const ROOT = join(__dirname, '../..');

export interface ServiceProcess {
  readonly child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  out(): string;
  /** The URL from the start banner; rejects if the process exits or does not start in time. */
  url(timeoutMs?: number): Promise<string>;
  /** SIGTERM (or the given signal) and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Without DATA_DIR in `env`, the process gets a temp data dir of its own, removed when it exits. */
export function spawnService(env: Record<string, string>): ServiceProcess {
  const ownDataDir = env.DATA_DIR === undefined ? mkdtempSync(join(tmpdir(), 'aionis-proc-data-')) : undefined;
  const child = spawn(process.execPath, ['-r', join(ROOT, 'test/support/swc-register.cjs'), join(ROOT, 'src/main.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...(ownDataDir ? { DATA_DIR: ownDataDir } : {}), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  // Also kept as a log source: printed if a test fails while the process runs (environment.ts).
  const log = new LineBuffer(`process ${child.pid ?? '?'} (src/main.ts)`);
  const onData = (d: Buffer) => {
    out += d.toString();
    log.write(d);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  // Not closed at exit: a process that crashed is the one whose log a failing test needs.
  const exited = new Promise<void>((resolve) =>
    child.on('exit', () => {
      if (ownDataDir) rmSync(ownDataDir, { recursive: true, force: true });
      resolve();
    }),
  );
  return {
    child,
    out: () => out,
    url: async (timeoutMs = 60_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = /running at (http:\/\/\S+)/.exec(out);
        if (m) return m[1]!;
        if (child.exitCode !== null) throw new Error(`service exited (${child.exitCode}):\n${out}`);
        if (Date.now() > deadline) throw new Error(`service did not start:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
