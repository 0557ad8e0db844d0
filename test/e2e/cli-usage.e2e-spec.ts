import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../support/cli';
import { ROOT } from '../support/process';

/** Every CLI of src/ops/cli (the entry points: the files an npm script runs). */
const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
const entryPoints = Object.entries(scripts)
  .map(([script, command]) => [script, /^node dist\/src\/ops\/cli\/([a-z-]+)\.js$/.exec(command)?.[1]] as const)
  .filter((e): e is readonly [string, string] => e[1] !== undefined)
  .sort((a, b) => a[1].localeCompare(b[1]));

describe('every CLI has the same command line: -h/--help exit 0, an unknown flag exits 1 with usage on stderr', () => {
  it('every CLI file in src/ops/cli has an npm script', () => {
    const helpers = new Set(['cli-support', 'progress', 'gate-report', 'drill-support']);
    const files = readdirSync(join(ROOT, 'src/ops/cli')).map((f) => f.replace(/\.ts$/, '')).filter((f) => !helpers.has(f)).sort();
    expect(entryPoints.map(([, file]) => file).sort()).toEqual(files);
  });

  // Nothing here reaches a database or a server: help and usage errors come before any connection.
  const env = { DATABASE_URL: 'postgres://nobody@127.0.0.1:9/none', AIONIS_BASE_URL: 'http://127.0.0.1:9', AIONIS_ADMIN_TOKEN: 'x' };
  it.each(entryPoints)('%s (%s.ts)', async (script, file) => {
    const [long, short, unknown] = await Promise.all([
      runCli(`${file}.ts`, ['--help'], env),
      runCli(`${file}.ts`, ['-h'], env),
      runCli(`${file}.ts`, ['--no-such-flag'], env),
    ]);
    expect([long.status, short.status, unknown.status]).toEqual([0, 0, 1]);
    for (const help of [long, short]) {
      expect(help.stdout).toContain(`Usage: npm run -s ${script} --`);
      expect(help.stdout).toMatch(/--json +print the result as JSON/);
      expect(help.stdout).toContain('-h, --help');
      expect(help.stderr).toBe('');
    }
    expect(long.stdout).toBe(short.stdout);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toContain("error: unknown option '--no-such-flag'");
    expect(unknown.stderr).toContain(`Usage: npm run -s ${script} --`);
  }, 60_000);
});
