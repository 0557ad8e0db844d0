import { skipReasons as reasons } from './skip-records';

/**
 * Tests that run only where they can (PostgreSQL-only, PGlite-only) say why they are skipped
 * elsewhere: `pgOnly.it(...)`, `pgOnly.describe(...)`, `onlyIf(cond, reason).it(...)`. The test
 * environment (environment.ts) records every skipped test with its reason, and `npm test`
 * (scripts/run-tests.mjs) prints a summary of them at the end of the run.
 *
 */
/** A test-name template of `.each` (`%s`, `$name`, ...) as a pattern matching the names it makes. */
function templatePattern(template: string): RegExp {
  const parts = template.split(/%[sdifjopP#%]|\$[\w.]+/);
  return new RegExp(`^${parts.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[\\s\\S]*')}$`);
}

type Fn = (...args: never[]) => unknown;

function skipping<T extends typeof it | typeof describe>(skip: T, reason: string): T {
  const named = (name: unknown) => {
    if (typeof name === 'string') reasons().names.set(name, reason);
    else if (typeof name === 'function' && name.name) reasons().names.set(name.name, reason);
  };
  const f = ((name: string, ...rest: unknown[]) => {
    named(name);
    return (skip as unknown as Fn)(...([name, ...rest] as never[]));
  }) as unknown as T;
  const each = ((...table: unknown[]) =>
    (name: string, ...rest: unknown[]) => {
      reasons().patterns.push([templatePattern(String(name)), reason]);
      return ((skip.each as unknown as Fn)(...(table as never[])) as Fn)(...([name, ...rest] as never[]));
    }) as unknown;
  Object.assign(f, skip, { each });
  return f;
}

/** `it` and `describe` when the condition holds; otherwise their skipping twins, with the reason recorded. */
export function onlyIf(condition: boolean, reason: string): { readonly it: typeof it; readonly describe: typeof describe } {
  return condition ? { it, describe } : { it: skipping(it.skip, reason), describe: skipping(describe.skip, reason) };
}

const onPostgres = Boolean(process.env.TEST_DATABASE_URL);
/** Needs a real PostgreSQL server (several connections or processes, pg-only features). */
export const pgOnly = onlyIf(onPostgres, 'needs PostgreSQL: TEST_DATABASE_URL is unset (this run is on PGlite)');
