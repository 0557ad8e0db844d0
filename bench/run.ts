import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchServer } from './lib/bench-db';
import type { BenchContext } from './lib/context';
import { closeHttp } from './lib/http';
import { machineFacts } from './lib/machine';
import { enableProfiling, stopAllChildren } from './lib/processes';
import { type BenchReport, renderTable, REPORT_FORMAT, type ScenarioResult } from './lib/report';
import { SCENARIOS } from './scenarios';

/**
 * `npm run bench -- [--quick] [--json] [--scenario NAME]... [--out FILE] [--profile]`
 * Runs the scenarios against the PostgreSQL server in BENCH_DATABASE_URL, in databases of its own
 * (created here, dropped at the end, also on failure or Ctrl-C). See bench/README.md.
 */
const USAGE = `usage: npm run -s bench -- [--quick] [--json] [--scenario NAME]... [--out FILE] [--profile]
  BENCH_DATABASE_URL  a PostgreSQL server URL (e.g. postgres://postgres@127.0.0.1:5432/postgres);
                      the harness creates aionis_bench_<run id>_* databases on it and drops them at the end
  --quick             every scenario briefly, at a smaller scale (CI: keeps the benches working; timings mean little)
  --json              print one JSON document on stdout instead of the table (progress goes to stderr)
  --scenario NAME     run only this scenario (repeatable): ${SCENARIOS.map((s) => s.name).join(', ')}
  --out FILE          also write the JSON document to FILE
  --profile           start the service and floor processes with --cpu-prof (profiles in $TMPDIR/aionis-bench-profiles/<run id>/)`;

interface Args {
  quick: boolean;
  json: boolean;
  scenarios: string[];
  out: string | undefined;
  profile: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { quick: false, json: false, scenarios: [], out: undefined, profile: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      if (!v) throw new Error(`${arg} needs a value\n${USAGE}`);
      return v;
    };
    if (arg === '--quick') a.quick = true;
    else if (arg === '--json') a.json = true;
    else if (arg === '--profile') a.profile = true;
    else if (arg === '--scenario' || arg.startsWith('--scenario=')) a.scenarios.push(value());
    else if (arg === '--out' || arg.startsWith('--out=')) a.out = value();
    else if (arg === '--help' || arg === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw new Error(`unknown argument ${arg}\n${USAGE}`);
  }
  for (const s of a.scenarios) if (!SCENARIOS.some((x) => x.name === s)) throw new Error(`unknown scenario ${s}; known: ${SCENARIOS.map((x) => x.name).join(', ')}`);
  return a;
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  const url = process.env.BENCH_DATABASE_URL;
  if (!url) {
    process.stderr.write(`BENCH_DATABASE_URL is not set\n${USAGE}\n`);
    return 2;
  }
  const log = (m: string) => process.stderr.write(`[bench +${(performance.now() / 1000).toFixed(1)}s] ${m}\n`);
  // stdout carries the report only: anything else printed while the scenarios run (framework
  // loggers of in-process components, libraries) goes to stderr.
  const writeReport = process.stdout.write.bind(process.stdout);
  process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
  const server = new BenchServer(url);
  const tmpDir = mkdtempSync(join(tmpdir(), 'aionis-bench-'));
  const profileDir = join(tmpdir(), 'aionis-bench-profiles', server.runId);
  if (args.profile) enableProfiling(profileDir);
  const cleanups: (() => Promise<void> | void)[] = [];
  const sharedValues = new Map<string, Promise<unknown>>();
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      for (const fn of cleanups.reverse()) {
        try {
          await fn();
        } catch (err) {
          log(`cleanup: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      await stopAllChildren();
      const problems = await server.dropAll();
      for (const p of problems) log(`could not drop ${p}`);
      closeHttp();
      rmSync(tmpDir, { recursive: true, force: true });
    })());
  // A stray error must not leave databases or processes behind either.
  for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
    process.once(event, (err: unknown) => {
      log(`${event}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}; cleaning up`);
      void cleanup().finally(() => process.exit(1));
    });
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping, dropping the databases of this run (${server.prefix}_*)`);
      void cleanup().finally(() => process.exit(130));
    });
  }

  const started = new Date();
  const postgres = await server.serverVersion();
  const machine = machineFacts(postgres);
  log(`${args.quick ? 'quick' : 'full'} run ${server.runId} on ${postgres}, ${machine.cpus} CPU, Node ${machine.node}`);
  if (args.profile) log(`CPU profiles of the processes it starts go to ${profileDir} (summarise with bench/tools/profile-summary.ts)`);
  const ctx: BenchContext = {
    quick: args.quick,
    server,
    machine,
    tmpDir,
    log,
    onCleanup: (fn) => cleanups.push(fn),
    shared: <T>(key: string, create: () => Promise<T>): Promise<T> => {
      let p = sharedValues.get(key) as Promise<T> | undefined;
      if (!p) {
        p = create();
        sharedValues.set(key, p);
      }
      return p;
    },
  };
  const selected = args.scenarios.length > 0 ? SCENARIOS.filter((s) => args.scenarios.includes(s.name)) : SCENARIOS;
  const results: ScenarioResult[] = [];
  try {
    for (const s of selected) {
      log(`scenario ${s.name}: ${s.title}`);
      const t0 = performance.now();
      try {
        const out = await s.run(ctx);
        results.push({ name: s.name, title: s.title, ok: true, duration_s: (performance.now() - t0) / 1000, scale: out.scale, figures: out.figures, notes: out.notes, machine: { cpus: machine.cpus, postgres } });
      } catch (err) {
        log(`scenario ${s.name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        results.push({ name: s.name, title: s.title, ok: false, error: err instanceof Error ? err.message : String(err), duration_s: (performance.now() - t0) / 1000, scale: {}, figures: [], notes: [], machine: { cpus: machine.cpus, postgres } });
      }
      log(`scenario ${s.name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  } finally {
    await cleanup();
  }
  const report: BenchReport = {
    format: REPORT_FORMAT,
    mode: args.quick ? 'quick' : 'full',
    started_at: started.toISOString(),
    duration_s: Math.round((Date.now() - started.getTime()) / 100) / 10,
    machine,
    scenarios: results,
  };
  const json = `${JSON.stringify(report, null, 2)}\n`;
  if (args.out) writeFileSync(args.out, json);
  await new Promise<void>((resolve) => writeReport(args.json ? json : renderTable(report), () => resolve()));
  return results.every((r) => r.ok) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
