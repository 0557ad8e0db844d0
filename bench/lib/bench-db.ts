import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The PostgreSQL server the benchmarks run against (BENCH_DATABASE_URL). The harness creates its
 * own databases on it, named `aionis_bench_<run id>_<purpose>`, and drops exactly those at the
 * end (also on failure and on Ctrl-C). It never touches any other database.
 */
export class BenchServer {
  readonly runId = randomBytes(4).toString('hex');
  private readonly created = new Set<string>();

  constructor(readonly serverUrl: string) {
    const u = new URL(serverUrl);
    if (!/^postgres(ql)?:$/.test(u.protocol)) throw new Error('BENCH_DATABASE_URL must be a postgres:// URL');
  }

  /** Prefix of every database this run creates. */
  get prefix(): string {
    return `aionis_bench_${this.runId}`;
  }

  private async admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const c = new pg.Client({ connectionString: this.serverUrl, application_name: 'aionis-bench-admin' });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  urlOf(name: string): string {
    const u = new URL(this.serverUrl);
    u.pathname = `/${name}`;
    return u.toString();
  }

  /** Create an empty database `aionis_bench_<run>_<purpose>` and return its URL. */
  async create(purpose: string): Promise<{ name: string; url: string }> {
    if (!/^[a-z0-9_]{1,24}$/.test(purpose)) throw new Error(`bad database purpose ${purpose}`);
    const name = `${this.prefix}_${purpose}`;
    if (this.created.has(name)) throw new Error(`database ${name} already created in this run`);
    this.created.add(name);
    await this.admin((c) => c.query(`CREATE DATABASE ${name}`));
    return { name, url: this.urlOf(name) };
  }

  async drop(name: string): Promise<void> {
    if (!this.created.has(name)) throw new Error(`refusing to drop ${name}: not created by this run`);
    await this.admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    this.created.delete(name);
  }

  /** Drop every database this run created; errors are collected, never thrown half-way. */
  async dropAll(): Promise<string[]> {
    const problems: string[] = [];
    for (const name of [...this.created]) {
      try {
        await this.drop(name);
      } catch (err) {
        problems.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return problems;
  }

  async serverVersion(): Promise<string> {
    return this.admin(async (c) => {
      const r = await c.query<{ v: string }>('SELECT version() AS v');
      const v = r.rows[0]?.v ?? 'unknown';
      return v.replace(/ on .*$/, '');
    });
  }
}
