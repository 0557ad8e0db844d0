import { isIP } from 'node:net';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Counter } from '@opentelemetry/api';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { AppError } from '../errors/app-error';
import { METRICS, type Metrics } from '../telemetry/metrics';

export interface AuthFailureLimits {
  /** Failed authentications a source may make per window before it is throttled; 0 = never throttle. */
  readonly limit: number;
  readonly windowMs: number;
  /** Most source addresses tracked at once: the oldest windows are forgotten first. */
  readonly maxSources: number;
}

export type FailureDecision =
  | { readonly throttled: false }
  /** `first`: the first throttled failure of this window (announce it once, not per request). */
  | { readonly throttled: true; readonly retryAfterMs: number; readonly first: boolean };

interface Window {
  readonly start: number;
  failures: number;
  announced: boolean;
}

/**
 * The decision, pure and in memory: failures per source address in a fixed window that starts at
 * the source's first failure. Once more than `limit` failures fall in the window, every further
 * failure from that source is throttled until the window ends. Only failures are counted: the
 * caller decides, after checking the credential, whether to ask at all, so a valid credential is
 * never refused, and does not reset the count either (an attacker holding one valid key could
 * otherwise interleave it to keep guessing others).
 *
 * Memory is bounded by `maxSources`: windows are kept in the order they started (a restarted
 * window is re-inserted), ended ones are dropped from the front, and when still full the oldest
 * window is forgotten, so many addresses can only make the limiter forget, never grow.
 */
export class AuthFailureLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(private readonly limits: AuthFailureLimits) {}

  /** Sources tracked now. */
  get size(): number {
    return this.windows.size;
  }

  failed(source: string, now: number): FailureDecision {
    if (this.limits.limit === 0) return { throttled: false };
    let w = this.windows.get(source);
    if (w && now - w.start >= this.limits.windowMs) {
      this.windows.delete(source);
      w = undefined;
    }
    if (!w) {
      this.makeRoom(now);
      w = { start: now, failures: 0, announced: false };
      this.windows.set(source, w);
    }
    w.failures += 1;
    if (w.failures <= this.limits.limit) return { throttled: false };
    const first = !w.announced;
    w.announced = true;
    return { throttled: true, retryAfterMs: Math.max(1, w.start + this.limits.windowMs - now), first };
  }

  private makeRoom(now: number): void {
    for (const [source, w] of this.windows) {
      if (now - w.start < this.limits.windowMs) break;
      this.windows.delete(source);
    }
    while (this.windows.size >= this.limits.maxSources) {
      const oldest = this.windows.keys().next();
      if (oldest.done) break;
      this.windows.delete(oldest.value);
    }
  }
}

/**
 * What a source is counted as: an IPv4 address (IPv4-mapped IPv6 included) as itself, an IPv6
 * address by its /64 (one subscriber's allocation: otherwise every guess could come from a fresh
 * address of the same network), anything else (no address) as `unknown`.
 */
export function sourceKey(ip: string | null): string {
  if (!ip) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  const family = isIP(ip);
  if (family === 4) return ip;
  if (family !== 6) return 'unknown';
  const [head = '', tail] = ip.toLowerCase().split('%')[0]!.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  // An embedded IPv4 tail (::1.2.3.4) only touches the last 32 bits: outside the /64.
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

export type FailedCredential = 'api_key' | 'operator_token';

/**
 * Failed authentications per source address (docs/api.md, "Failed authentications"): the
 * authentication guards report each failure here and answer `429 auth_throttled` with
 * `Retry-After` instead of `401` once the source is over AUTH_FAILURE_LIMIT in
 * AUTH_FAILURE_WINDOW_MS. The source is the request context's address (TRUST_PROXY decides),
 * IPv6 by its /64 (sourceKey).
 */
@Injectable()
export class AuthThrottle {
  private readonly logger = new Logger('AuthThrottle');
  private readonly limiter: AuthFailureLimiter;
  private readonly throttled: Counter;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig, @Inject(METRICS) metrics: Metrics) {
    this.limiter = new AuthFailureLimiter(config.http.authFailures);
    this.throttled = metrics.meter.createCounter('aionis_auth_throttled', {
      description: 'Failed authentications answered 429 because their source address is over the failure limit, by credential',
    });
    metrics.meter
      .createObservableGauge('aionis_auth_throttle_sources', { description: 'Source addresses the failed-authentication limiter tracks' })
      .addCallback((r) => r.observe(this.limiter.size));
  }

  /** Count a failed authentication; the error to answer instead of 401 when its source is throttled. */
  refusal(sourceIp: string | null, credential: FailedCredential): AppError | undefined {
    const d = this.limiter.failed(sourceKey(sourceIp), Date.now());
    if (!d.throttled) return undefined;
    this.throttled.add(1, { credential });
    const { limit, windowMs } = this.config.http.authFailures;
    if (d.first) {
      this.logger.warn({ msg: 'authentication failures throttled', security: true, ip: sourceIp, credential, limit, window_ms: windowMs, retry_after_ms: d.retryAfterMs });
    }
    return new AppError('auth_throttled', `more than ${limit} failed authentications from this address within ${windowMs} ms; retry later`, {
      retry_after_ms: d.retryAfterMs,
    });
  }
}
