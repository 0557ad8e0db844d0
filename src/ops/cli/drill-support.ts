import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { type EmbeddingProvider, EmbeddingError } from '../../data-plane/embeddings/embedding-provider';
import { LocalEmbeddingProvider } from '../../data-plane/embeddings/local-provider';
import type { ParsedCli } from './cli-support';
import { UsageError } from './cli-support';

/**
 * What the drills (`drill:dead-letter`, `drill:slo-burn`) share: their step reporter (a line per
 * step, or JSON lines with --json), a throw-away data directory removed whatever the outcome, the
 * deployment-keys guard for a drill run on a deployment's PostgreSQL, an embedding provider the
 * drill can break and restore, and a small admin-API client that fails loudly.
 */
export type Say = (step: string, detail?: Record<string, unknown>) => void;

export function stepReporter(json: boolean): Say {
  return (step, detail = {}) => {
    if (json) process.stdout.write(`${JSON.stringify({ step, ...detail })}\n`);
    else process.stdout.write(`- ${step}${Object.keys(detail).length ? ` ${JSON.stringify(detail)}` : ''}\n`);
  };
}

/** Runs the drill in a new temporary directory and removes it afterwards, whatever the outcome. */
export async function inThrowAwayDir<T>(run: (dataDir: string) => Promise<T>): Promise<T> {
  const dataDir = mkdtempSync(join(tmpdir(), 'aionis-drill-'));
  try {
    return await run(dataDir);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * On a deployment's PostgreSQL the drill's service seals the log and verifies tokens: with keys of
 * its own it would sign the deployment's seals with a throw-away key. Returns the admin token: the
 * deployment's (AIONIS_ADMIN_TOKEN), or a new bootstrap token for a new database.
 */
export function drillAdminToken(flags: ParsedCli): string {
  if (flags.databaseUrl && (!process.env.KEY_PEPPER || !process.env.AUDIT_SEAL_PRIVATE_KEY)) {
    throw new UsageError("on PostgreSQL the drill runs with the deployment's KEY_PEPPER and AUDIT_SEAL_PRIVATE_KEY: set both (and AIONIS_ADMIN_TOKEN unless the database is new)");
  }
  return process.env.AIONIS_ADMIN_TOKEN?.trim() || `aio_admin_drill-${randomBytes(16).toString('hex')}`;
}

/** The local embedding provider behind a switch: while broken, every call fails as an unavailable provider does (retryable). */
export function switchableProvider(dimension: number): { provider: EmbeddingProvider; setBroken: (broken: boolean) => void } {
  const local = new LocalEmbeddingProvider(dimension);
  let broken = false;
  return {
    provider: {
      model: local.model,
      dimensions: local.dimensions,
      embed: (texts) => (broken ? Promise.reject(new EmbeddingError('drill: the embedding provider is down', true)) : local.embed(texts)),
    },
    setBroken: (b) => {
      broken = b;
    },
  };
}

export interface DrillClient {
  /** An admin-API call (or any call with `headers`); a status of 300 or more throws with the body. */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Record<string, unknown>>;
  /** Polls `cond` every 100 ms; throws (a runtime error, exit 1) after `ms`. */
  wait(what: string, cond: () => Promise<boolean>, ms?: number): Promise<void>;
}

export function drillClient(base: string, token: string): DrillClient {
  const admin = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
  return {
    async call(method, path, body, headers = admin) {
      const res = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
      const json = (await res.json()) as Record<string, unknown>;
      if (res.status >= 300) throw new Error(`${method} ${path} -> ${res.status} ${JSON.stringify(json)}`);
      return json;
    },
    async wait(what, cond, ms = 60_000) {
      const until = Date.now() + ms;
      while (!(await cond())) {
        if (Date.now() > until) throw new Error(`drill: timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}
