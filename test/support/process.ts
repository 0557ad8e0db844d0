import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineBuffer } from './service-logs';

/** Running `src/main.ts` as a real process (compiled on the fly by swc), for multi-process tests. */
export const ROOT = join(__dirname, '../..');

export interface ServiceProcess {
  readonly child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  out(): string;
  /** What it wrote to stdout alone, and to stderr alone. */
  stdout(): string;
  stderr(): string;
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
  let stdout = '';
  let stderr = '';
  // Also kept as a log source: printed if a test fails while the process runs (environment.ts).
  const log = new LineBuffer(`process ${child.pid ?? '?'} (src/main.ts)`);
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    stdout += d.toString();
    log.write(d);
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
    stderr += d.toString();
    log.write(d);
  });
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
    stdout: () => stdout,
    stderr: () => stderr,
    url: async (timeoutMs = 60_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = /running at (https?:\/\/\S+)/.exec(out);
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

export interface FreshService {
  readonly svc: ServiceProcess;
  readonly url: string;
  readonly dataDir: string;
  /** The bootstrap owner's token and the key pepper the process generated on its first start. */
  readonly adminToken: string;
  readonly pepper: string;
  /** Kill the process and remove its data directory. */
  dispose(): Promise<void>;
}

/** A service process on a data directory of its own (embedded database), started and ready. */
export async function spawnFreshService(env: Record<string, string>): Promise<FreshService> {
  const dataDir = mkdtempSync(join(tmpdir(), 'aionis-proc-'));
  const svc = spawnService({ DATA_DIR: dataDir, PORT: '0', ...env });
  const dispose = async () => {
    await svc.stop('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const url = await svc.url();
    const read = (name: string) => readFileSync(join(dataDir, name), 'utf8').trim();
    return { svc, url, dataDir, adminToken: read('bootstrap-admin.token'), pepper: read('key-pepper'), dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}
