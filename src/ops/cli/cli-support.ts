import { Command, CommanderError, Option } from 'commander';
import { loadConfig } from '../../platform/config/config';
import { openDatabase } from '../../service';
import type { Database } from '../../platform/db/database';

/** Exit codes shared by every CLI: 0 pass, 2 a failed gate/check, 1 usage or runtime error. */
export const EXIT = { ok: 0, runtime: 1, gateFailed: 2 } as const;

export class UsageError extends Error {}

export interface CommonFlags {
  readonly json: boolean;
  readonly databaseUrl: string | undefined;
}

/** One flag of a CLI: commander's flag syntax (`--name <value>`, `--switch`, `--no-thing`) and its help line. */
export type FlagSpec = readonly [flags: string, description: string] | readonly [flags: string, description: string, opts: { readonly repeat?: boolean }];

export interface CliSpec {
  /** The npm script, e.g. `projections:rebuild` (the usage line reads `npm run -s NAME -- ...`). */
  readonly name: string;
  readonly description: string;
  readonly options?: readonly FlagSpec[];
  /** Positional arguments in commander syntax (`<file>`, `[ref]`) with their help lines. */
  readonly args?: readonly (readonly [name: string, description: string])[];
  /** Adds `--database-url URL` (default DATABASE_URL). */
  readonly database?: boolean;
  /** More help, printed after the options (exit codes, environment, examples). */
  readonly details?: string;
}

export interface ParsedCli extends CommonFlags {
  /** Each flag by its long name without dashes (`batch-size`): a string, true for a switch, undefined when not given. */
  readonly values: Record<string, string | boolean>;
  /** Repeatable flags, by long name: every value in order (empty when not given). */
  readonly lists: Record<string, string[]>;
  readonly args: string[];
  /** The one-line usage, for usage errors. */
  readonly usage: string;
}

let currentUsage: string | undefined;

/** The commander program of a CLI: uniform `-h/--help` (stdout, exit 0), `--json`, unknown flags and extra arguments refused (usage on stderr, exit 1). */
export function cliCommand(spec: CliSpec): Command {
  const cmd = new Command(`npm run -s ${spec.name} --`)
    .description(spec.description)
    .helpOption('-h, --help', 'show this help and exit 0')
    .option('--json', 'print the result as JSON on stdout (progress and errors go to stderr)')
    .allowExcessArguments(false)
    .showHelpAfterError()
    .exitOverride();
  for (const [name, description] of spec.args ?? []) cmd.argument(name, description);
  if (spec.database) cmd.option('--database-url <url>', "the deployment's database (default DATABASE_URL; else the embedded one in DATA_DIR)");
  for (const [flags, description, opts] of spec.options ?? []) {
    const o = new Option(flags, description);
    if (opts?.repeat) o.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
    cmd.addOption(o);
  }
  cmd.addHelpText('after', `${spec.details ? `\n${spec.details}` : ''}\nExit codes: 0 pass, 2 a failed gate or check, 1 usage or runtime error.`);
  return cmd;
}

/** Parse argv (default: this process's) against the CLI's spec. Call it inside runCli: help and usage errors end the process there. */
export function parseCli(spec: CliSpec, argv: readonly string[] = process.argv.slice(2)): ParsedCli {
  const cmd = cliCommand(spec);
  currentUsage = `usage: ${cmd.name()} ${cmd.usage()} (--help for details)`;
  cmd.parse([...argv], { from: 'user' });
  const opts = cmd.opts<Record<string, unknown>>();
  const values: Record<string, string | boolean> = {};
  const lists: Record<string, string[]> = {};
  for (const o of cmd.options) {
    const key = o.long?.replace(/^--/, '') ?? '';
    const v = opts[o.attributeName()];
    if (o.negate) {
      if (v === false) values[key] = true;
    } else if (Array.isArray(v)) lists[key] = v.map(String);
    else if (typeof v === 'string' || v === true) values[key] = v;
  }
  for (const [flags, , o] of spec.options ?? []) {
    const key = /--([a-z0-9-]+)/.exec(flags)?.[1] ?? '';
    if (o?.repeat && !lists[key]) lists[key] = [];
  }
  const databaseUrl = typeof values['database-url'] === 'string' ? values['database-url'] : process.env.DATABASE_URL || undefined;
  return { json: values.json === true, databaseUrl, values, lists, args: cmd.args, usage: currentUsage };
}

/** Open the deployment's database: --database-url / DATABASE_URL, else the embedded one in DATA_DIR (only while the service is stopped). */
export async function openTarget(flags: CommonFlags): Promise<{ database: Database; release: () => Promise<void> }> {
  const env = { ...process.env, ...(flags.databaseUrl ? { DATABASE_URL: flags.databaseUrl } : {}) };
  return openDatabase(loadConfig(env));
}

export async function runCli(main: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await main();
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has written the help (stdout) or the error and the usage (stderr) already.
      process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.runtime;
      return;
    }
    const usage = err instanceof UsageError;
    process.stderr.write(`${usage ? 'usage error' : 'error'}: ${err instanceof Error ? err.message : String(err)}\n${usage && currentUsage ? `${currentUsage}\n` : ''}`);
    process.exitCode = EXIT.runtime;
  }
}

/** A numeric flag, or its default; out of range or not a number is a usage error. */
export function numberFlag(values: Record<string, string | boolean>, name: string, dflt: number, min = 0, max = Number.MAX_SAFE_INTEGER, integer = false): number {
  const raw = values[name];
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new UsageError(max === Number.MAX_SAFE_INTEGER ? `--${name} must be ${integer ? 'a whole number' : 'a number'} >= ${min}` : `--${name} must be ${integer ? 'a whole number' : 'a number'} between ${min} and ${max}`);
  }
  return n;
}

/**
 * The deployment a runtime gate targets: its PostgreSQL (--database-url / DATABASE_URL), its
 * running server (--base-url / AIONIS_BASE_URL) and an operator token (AIONIS_ADMIN_TOKEN).
 * Each missing or malformed one is a usage error; `tokenWhy` says in the message what the token is for.
 */
export function deploymentTarget(flags: CommonFlags & { readonly values: Record<string, string | boolean> }, tokenWhy: string, databaseWhy = "the deployment's PostgreSQL"): { databaseUrl: string; baseUrl: string; adminToken: string } {
  const baseUrl = (typeof flags.values['base-url'] === 'string' ? flags.values['base-url'] : process.env.AIONIS_BASE_URL)?.trim();
  const adminToken = process.env.AIONIS_ADMIN_TOKEN?.trim();
  if (!flags.databaseUrl) throw new UsageError(`give --database-url or DATABASE_URL (${databaseWhy})`);
  if (!/^postgres(ql)?:\/\//.test(flags.databaseUrl)) throw new UsageError('--database-url must be a postgres:// or postgresql:// URL');
  if (!baseUrl) throw new UsageError('give --base-url or AIONIS_BASE_URL (the running server, e.g. http://127.0.0.1:3000)');
  if (!/^https?:\/\/\S+$/.test(baseUrl)) throw new UsageError('--base-url must be an http(s) URL');
  if (!adminToken) throw new UsageError(`set AIONIS_ADMIN_TOKEN to ${tokenWhy}`);
  return { databaseUrl: flags.databaseUrl, baseUrl, adminToken };
}
