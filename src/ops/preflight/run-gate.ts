import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { type CheckResult, type GateSummary } from '../checks/check-result';

/** The outcome of one child process: a gate CLI or an npm script. */
export interface ChildRun {
  readonly command: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
  readonly error: string | null;
}

/** Run a command, collecting its output; never throws (a spawn failure is in `error`). */
export function runChild(file: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number; label?: string }): Promise<ChildRun> {
  const started = performance.now();
  const command = opts.label ?? [file, ...args].join(' ');
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let error: string | null = null;
    const child = spawn(file, [...args], { cwd: opts.cwd ?? process.cwd(), env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      error = `timed out after ${opts.timeoutMs} ms`;
      child.kill('SIGTERM');
    }, opts.timeoutMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => {
      error = err.message;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ command, exitCode: code, signal, stdout, stderr, durationMs: Math.round(performance.now() - started), error });
    });
  });
}

/**
 * Run a sibling gate CLI (`src/ops/cli/<name>.ts` or `dist/src/ops/cli/<name>.js`) the way this
 * process runs: the built .js with plain node, or the .ts source with the same `-r` preloads
 * (the tests run the sources through swc). `--json` is always passed; the summary is parsed.
 */
export async function runGateCli(name: string, args: readonly string[], opts: { env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<{ run: ChildRun; summary: GateSummary | null }> {
  const file = join(__dirname, '..', 'cli', `${name}${extname(__filename)}`);
  const run = await runChild(process.execPath, [...process.execArgv, file, '--json', ...args], { env: opts.env, timeoutMs: opts.timeoutMs, label: `${name} --json ${args.join(' ')}`.trim() });
  let summary: GateSummary | null = null;
  try {
    const parsed = JSON.parse(run.stdout) as GateSummary;
    if (parsed && typeof parsed === 'object' && typeof parsed.ok === 'boolean' && Array.isArray(parsed.checks)) summary = parsed;
  } catch {
    summary = null;
  }
  return { run, summary };
}

function tail(text: string, lines = 8): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

/**
 * One check for a gate run as a child: passes when the child exited 0 with a summary that says
 * ok. The failing checks of the child are the sample; its exit code and failing names the detail.
 */
export function gateRunCheck(checkName: string, gate: string, r: { run: ChildRun; summary: GateSummary | null }): CheckResult {
  const { run, summary } = r;
  const pass = run.exitCode === 0 && summary !== null && summary.ok;
  let detail: string;
  if (run.error) detail = `${run.command}: ${run.error}`;
  else if (summary === null) detail = `${run.command} exited ${run.exitCode ?? run.signal} without a JSON summary: ${tail(run.stderr || run.stdout) || '(no output)'}`;
  else detail = `${gate}: exit ${run.exitCode}, ${summary.ok ? 'ok' : `FAILED (${summary.failing.join(', ')})`}, ${summary.errors} error(s), ${summary.warnings} warning(s), ${run.durationMs} ms`;
  const sample = summary ? summary.checks.filter((c) => !c.pass).map((c) => ({ name: c.name, severity: c.severity, count: c.count, detail: c.detail })) : [];
  return { name: checkName, severity: 'error', pass, count: pass ? 0 : Math.max(1, summary?.failing.length ?? 1), sample: sample.slice(0, 5), detail };
}

/** With --out DIR: write a child gate's summary to DIR/<gate>/summary.json (or its failure when it had none). */
export async function writeGateSummary(outDir: string | undefined, gate: string, r: { run: ChildRun; summary: GateSummary | null }): Promise<void> {
  if (!outDir) return;
  const dir = join(outDir, gate);
  await mkdir(dir, { recursive: true });
  const body = r.summary ?? { ok: false, gate, error: r.run.error ?? `exit ${r.run.exitCode ?? r.run.signal} without a JSON summary`, stderr_tail: tail(r.run.stderr, 20) };
  await writeFile(join(dir, 'summary.json'), `${JSON.stringify(body, null, 2)}\n`);
}

/** A check for an npm script run in the repository root (type check, build). */
export function scriptCheck(name: string, run: ChildRun): CheckResult {
  const pass = run.exitCode === 0 && run.error === null;
  const detail = pass ? `${run.command}: ok (${run.durationMs} ms)` : `${run.command}: ${run.error ?? `exit ${run.exitCode ?? run.signal}`}: ${tail(run.stdout + run.stderr) || '(no output)'}`;
  return { name, severity: 'error', pass, count: pass ? 0 : 1, sample: pass ? [] : [{ output_tail: tail(run.stdout + run.stderr, 20) }], detail };
}
