/**
 * Database errors after which the work can simply run again, because PostgreSQL guarantees that
 * nothing of it happened:
 * - `40001` serialization_failure and `40P01` deadlock_detected: the server rolled the whole
 *   transaction back (a deadlock victim is chosen at random among concurrent transactions);
 * - `53300` too_many_connections and `57P03` cannot_connect_now: the connection was refused, so
 *   no statement ran (a server shared by many processes can be at max_connections for a moment).
 * Anything else (a constraint, a lost connection mid-transaction, whose outcome is unknown) is
 * not retried here.
 */
export const ROLLED_BACK_SQLSTATES: ReadonlySet<string> = new Set(['40001', '40P01']);
export const REFUSED_CONNECTION_SQLSTATES: ReadonlySet<string> = new Set(['53300', '57P03']);
export const TRANSIENT_SQLSTATES: ReadonlySet<string> = new Set([...ROLLED_BACK_SQLSTATES, ...REFUSED_CONNECTION_SQLSTATES]);

/** The SQLSTATE of a database error (pg and PGlite both put it in `code`), if it is one of `codes`. */
export function sqlStateIn(err: unknown, codes: ReadonlySet<string> = TRANSIENT_SQLSTATES): string | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && codes.has(code) ? code : undefined;
}

export interface RetryOptions {
  /** Which SQLSTATEs to retry (default: TRANSIENT_SQLSTATES). */
  readonly codes?: ReadonlySet<string>;
  /** Tries in all (default 4). */
  readonly attempts?: number;
  /** First backoff; doubles each time, with full jitter (default 25 ms). */
  readonly baseMs?: number;
  readonly onRetry?: (code: string, attempt: number, err: unknown) => void;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

/** Run `work` again (bounded, with jittered backoff) while it fails with a transient SQLSTATE; other errors pass at once. */
export async function retryTransient<T>(work: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 4;
  const baseMs = options.baseMs ?? 25;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = options.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      const code = sqlStateIn(err, options.codes ?? TRANSIENT_SQLSTATES);
      if (code === undefined || attempt >= attempts) throw err;
      options.onRetry?.(code, attempt, err);
      await sleep(Math.round(baseMs * 2 ** (attempt - 1) * (0.5 + random() / 2)));
    }
  }
}
