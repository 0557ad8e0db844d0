import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './process';

/** What a CLI run gave: its exit status, its output, and stdout parsed as JSON (null if it was not JSON). */
export interface CliRun<T> {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly out: T | null;
}

const argv = (file: string, args: readonly string[]) => ['-r', join(ROOT, 'test/support/swc-register.cjs'), join(ROOT, 'src/ops/cli', file), ...args];
/** A clean environment: only what the CLI is given (never the test runner's DATABASE_URL and the like). */
const envOf = (env: Record<string, string>) => ({ PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env });

function parse<T>(stdout: string): T | null {
  try {
    return JSON.parse(stdout) as T;
  } catch {
    return null;
  }
}

/**
 * Run a CLI of src/ops/cli from source as a child process. Async: use it when the server under
 * test runs in this process (a synchronous spawn would block it).
 */
export function runCli<T = Record<string, unknown>>(file: string, args: readonly string[], env: Record<string, string> = {}): Promise<CliRun<T>> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, argv(file, args), { cwd: ROOT, env: envOf(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr, out: parse<T>(stdout) }));
  });
}

/** The same, synchronous: for CLIs that need nothing from this process (offline tools, a server in another process). */
export function runCliSync<T = Record<string, unknown>>(file: string, args: readonly string[], env: Record<string, string> = {}, timeoutMs = 60_000): CliRun<T> {
  const r = spawnSync(process.execPath, argv(file, args), { cwd: ROOT, env: envOf(env), encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, out: parse<T>(r.stdout) };
}
