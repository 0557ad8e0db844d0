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

/** Parse `--json`, `--database-url URL` and the command's own flags; unknown flags are usage errors. */
export function parseFlags(argv: readonly string[], own: Record<string, 'bool' | 'string'> = {}): CommonFlags & { readonly values: Record<string, string | boolean> } {
  const values: Record<string, string | boolean> = {};
  let json = false;
  let databaseUrl: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [name, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const next = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${name} needs a value`);
      return v;
    };
    if (name === '--json') json = true;
    else if (name === '--database-url') databaseUrl = next();
    else if (name.startsWith('--') && own[name.slice(2)] === 'bool') values[name.slice(2)] = true;
    else if (name.startsWith('--') && own[name.slice(2)] === 'string') values[name.slice(2)] = next();
    else throw new UsageError(`unknown argument ${arg}`);
  }
  return { json, databaseUrl: databaseUrl ?? process.env.DATABASE_URL, values };
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
    const usage = err instanceof UsageError;
    process.stderr.write(`${usage ? 'usage error' : 'error'}: ${err instanceof Error ? err.message : String(err)}\n`);
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
