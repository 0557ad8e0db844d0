import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blockRuns, docsScript, type ShellBlock, shellBlocks } from '../support/doc-blocks';
import { ROOT, type ServiceProcess, spawnService } from '../support/process';

/**
 * The docs run as written: the shell blocks of README.md, docs/control-plane-api.md and
 * docs/memory-api.md, pasted in that order into one bash, against a service started as a newcomer
 * starts it (the embedded database in ./.data, the first operator's token in
 * ./.data/bootstrap-admin.token, AIONIS_BASE_URL exported from the banner's URL). The script is
 * strict (an unset variable or a failed command stops it), no response may be a 5xx or a failed
 * connection, and a 4xx is allowed only in a block that says it expects it (`# expect: 409`).
 */
const DOCS = ['README.md', 'docs/control-plane-api.md', 'docs/memory-api.md'];

function run(script: string, cwd: string, env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script], { cwd, env: { PATH: process.env.PATH ?? '', HOME: cwd, LANG: 'C.UTF-8', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

const where = (b: ShellBlock) => `${b.file}:${b.line}`;

describe('docs run as written', () => {
  let dir: string;
  let svc: ServiceProcess | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'aionis-docs-'));
  });
  afterAll(async () => {
    await svc?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('README.md, control-plane-api.md and memory-api.md, in order, on a fresh start', async () => {
    const blocks = DOCS.flatMap((f) => shellBlocks(ROOT, f));
    const skipped = blocks.filter((b) => b.skip !== undefined);
    const runnable = blocks.filter((b) => b.skip === undefined);
    expect(runnable.length).toBeGreaterThan(100);
    // The two commands are what this test stands for (it starts the service; it runs under npm test);
    // the shard registry's mutations need PostgreSQL and a second database, which this embedded run has not.
    const needsPostgres = (b: ShellBlock) => b.skip?.startsWith('needs PostgreSQL') === true;
    expect(skipped.filter((b) => !needsPostgres(b)).map((b) => b.code.trim())).toEqual(['npm install && npm start', 'npm install && npm test']);
    expect(skipped.filter(needsPostgres).map((b) => `${b.file}: ${b.code.split('\n').filter((l) => l.startsWith('curl')).length} commands`)).toEqual(['docs/control-plane-api.md: 4 commands']);

    svc = spawnService({ DATA_DIR: join(dir, '.data'), PORT: '0', LOG_LEVEL: 'warn' });
    const url = await svc.url(120_000);
    // All stdout and stderr in one ordered stream (curl's status lines go to stderr).
    const script = docsScript(runnable, `exec 2>&1\nexport AIONIS_BASE_URL=${url}`);
    writeFileSync(join(dir, 'docs.sh'), script);
    const { code, out } = await run(script, dir, {});
    const { runs, failed, finished } = blockRuns(runnable, out);
    const failedAt = failed !== undefined ? runnable[failed] : runs.at(-1)?.block;
    const context = () => `${out.slice(-4000)}\n(script: ${join(dir, 'docs.sh')})`;
    if (code !== 0 || !finished) throw new Error(`the docs stopped at ${failedAt ? where(failedAt) : '?'} (exit ${code}):\n${context()}`);

    const problems: string[] = [];
    for (const r of runs) {
      for (const s of r.statuses) {
        if (s === 0 || s >= 500) problems.push(`${where(r.block)}: answered ${s}`);
        else if (s >= 400 && !r.block.expects.includes(s)) problems.push(`${where(r.block)}: answered ${s}, which the block does not say it expects (# expect: ${s})`);
      }
      for (const e of r.block.expects) {
        if (!r.statuses.includes(e)) problems.push(`${where(r.block)}: says it expects ${e} but got ${r.statuses.join(', ') || 'no response'}`);
      }
    }
    expect(problems).toEqual([]);
    expect(runs).toHaveLength(runnable.length);
  }, 600_000);
});
