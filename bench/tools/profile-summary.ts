import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

/**
 * Summarise a V8 .cpuprofile (from `npm run bench -- --profile`, or any `node --cpu-prof`):
 * self time by function and by where the code lives (our src/, projections/, a package), so that
 * "where does the time go" has an answer without a flame-graph viewer.
 *   node -r ./test/support/swc-register.cjs bench/tools/profile-summary.ts FILE.cpuprofile [--top 25] [--from S] [--to S]
 * --from/--to keep the samples taken between S seconds after the profile started (the harness
 * prints `[bench +S s]` on every progress line, on the same clock to within a few milliseconds).
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function where(url: string): string {
  if (!url) return '(native / V8)';
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = path.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (path.startsWith('node:')) return path;
  const rel = relative(process.cwd(), path);
  return rel.startsWith('..') ? path : rel.split('/').slice(0, 2).join('/');
}

function main(): void {
  const args = process.argv.slice(2);
  const file = args.find((a, i) => !a.startsWith('--') && !['--top', '--from', '--to'].includes(args[i - 1] ?? ''));
  const topIdx = args.indexOf('--top');
  const top = topIdx >= 0 ? Number(args[topIdx + 1]) : 25;
  const opt = (name: string, dflt: number) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : dflt;
  };
  const fromUs = opt('--from', 0) * 1e6;
  const toUs = opt('--to', Number.POSITIVE_INFINITY) * 1e6;
  if (!file) throw new Error('usage: profile-summary FILE.cpuprofile [--top N]');
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfMs = new Map<number, number>();
  let at = 0;
  let windowUs = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const d = p.timeDeltas[i] ?? 0;
    at += d;
    if (at < fromUs || at > toUs) continue;
    windowUs += d;
    selfMs.set(p.samples[i]!, (selfMs.get(p.samples[i]!) ?? 0) + d / 1000);
  }
  const totalMs = windowUs / 1000;
  const fn = new Map<string, number>();
  const area = new Map<string, number>();
  let idle = 0;
  for (const [id, ms] of selfMs) {
    const n = byId.get(id)!;
    const name = n.callFrame.functionName || '(anonymous)';
    if (name === '(idle)') {
      idle += ms;
      continue;
    }
    const key = `${name}  ${n.callFrame.url ? `${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}` : ''}`;
    fn.set(key, (fn.get(key) ?? 0) + ms);
    const a = name === '(garbage collector)' ? '(garbage collector)' : name === '(program)' ? '(program)' : where(n.callFrame.url);
    area.set(a, (area.get(a) ?? 0) + ms);
  }
  const busy = totalMs - idle;
  const pct = (ms: number) => `${((100 * ms) / busy).toFixed(1).padStart(5)}%`;
  process.stdout.write(`${file}: ${(totalMs / 1000).toFixed(1)} s profiled, ${(busy / 1000).toFixed(1)} s on CPU (${((100 * busy) / totalMs).toFixed(0)}%)\n\nself time by area (share of CPU time):\n`);
  for (const [k, ms] of [...area].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`  ${pct(ms)}  ${k}\n`);
  process.stdout.write('\nself time by function:\n');
  for (const [k, ms] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`  ${pct(ms)}  ${k}\n`);
}

main();
