import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The project root: the nearest directory above this file with our package.json (works from src/ and dist/src/). */
export function projectRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const file = join(dir, 'package.json');
    if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'aionis-hosted') return dir;
    dir = dirname(dir);
  }
  throw new Error('cannot find the aionis-hosted package.json above this file');
}

let cached: { version: string; commit: string } | undefined;

/** Version from package.json; commit from BUILD_COMMIT, else `git rev-parse HEAD`, else "unknown". */
export function buildInfo(): { version: string; commit: string } {
  if (cached) return cached;
  const root = projectRoot();
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  let commit = process.env.BUILD_COMMIT?.trim() ?? '';
  if (!commit) {
    try {
      commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      commit = 'unknown';
    }
  }
  cached = { version, commit };
  return cached;
}
