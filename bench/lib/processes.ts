import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Repository root (bench/lib/ is two levels down). */
export const ROOT = join(__dirname, '../..');
export const SWC_REGISTER = join(ROOT, 'test/support/swc-register.cjs');

/** Every child process the harness started, so that a failure or Ctrl-C stops them all. */
const children = new Set<ChildProcess>();

export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** SIGTERM every child still running, then SIGKILL what is left after `graceMs`. */
export async function stopAllChildren(graceMs = 5000): Promise<void> {
  const running = [...children].filter((c) => c.exitCode === null && c.signalCode === null);
  await Promise.all(running.map((c) => stopChild(c, graceMs)));
}

export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Where --profile writes CPU profiles of the processes it starts (outside the repository). */
export let profileDir: string | undefined;
export function enableProfiling(dir: string): void {
  mkdirSync(dir, { recursive: true });
  profileDir = dir;
}

/** Node arguments for a TypeScript entry point run through swc (no build needed), with --cpu-prof when profiling. */
export function tsNodeArgs(entry: string, profileName?: string): string[] {
  const prof = profileDir && profileName ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${profileName}-${Date.now()}.cpuprofile`] : [];
  return [...prof, '-r', SWC_REGISTER, join(ROOT, entry)];
}

export const BENCH_ADMIN_TOKEN = 'aio_admin_bench-0123456789abcdef0123456789abcdef';
export const BENCH_PEPPER = 'bench-pepper-0123456789abcdef0123456789abcdef';

export interface ServiceProcess {
  readonly url: string;
  readonly name: string;
  out(): string;
  stop(): Promise<void>;
}

/**
 * Start a TypeScript entry point as its own process (compiled on the fly by swc, no build needed)
 * and wait until its output matches `ready` (the first group is the URL).
 */
export async function startTsProcess(name: string, entry: string, env: Record<string, string>, ready: RegExp, timeoutMs = 60_000): Promise<ServiceProcess> {
  const child = track(
    spawn(process.execPath, tsNodeArgs(entry, name), {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', SCARF_ANALYTICS: 'false', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const deadline = Date.now() + timeoutMs;
  let url = '';
  for (;;) {
    const m = ready.exec(out);
    if (m) {
      url = m[1] ?? '';
      break;
    }
    if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}):\n${out.slice(-4000)}`);
    if (Date.now() > deadline) {
      await stopChild(child);
      throw new Error(`${name} did not start in ${timeoutMs} ms:\n${out.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return { url, name, out: () => out, stop: () => stopChild(child, 10_000) };
}

/**
 * Start `src/main.ts` as its own process (the way `npm start` runs it, with every role) on the
 * given database, and wait for its start banner.
 */
export async function startServiceProcess(name: string, databaseUrl: string, env: Record<string, string> = {}): Promise<ServiceProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), `aionis-bench-${name}-`));
  const p = await startTsProcess(
    `service-${name}`,
    'src/main.ts',
    {
      DATABASE_URL: databaseUrl,
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      KEY_PEPPER: BENCH_PEPPER,
      ADMIN_BOOTSTRAP_TOKEN: BENCH_ADMIN_TOKEN,
      LOG_LEVEL: 'error',
      LOG_FORMAT: 'json',
      ...env,
    },
    /running at (http:\/\/\S+)/,
  );
  return {
    ...p,
    stop: async () => {
      await p.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
