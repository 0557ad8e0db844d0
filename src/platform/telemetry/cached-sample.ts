/**
 * A value read from somewhere expensive (the database) for a metrics scrape, kept for `ttlMs` so
 * that scrapes (several Prometheus servers, an OTLP export, a curl) never hammer the source: within
 * the TTL the last value is served, and concurrent readers share one read in flight. A failed read
 * is not cached (the next scrape tries again) and is reported to the caller, who decides what to
 * observe: stale numbers are never served as current ones after a failure.
 */
export class CachedSample<T> {
  private value: { readonly at: number; readonly data: T } | undefined;
  private inFlight: Promise<T> | undefined;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly ttlMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get(): Promise<T> {
    if (this.value && this.now() - this.value.at < this.ttlMs) return Promise.resolve(this.value.data);
    this.inFlight ??= this.read().then(
      (data) => {
        this.value = { at: this.now(), data };
        this.inFlight = undefined;
        return data;
      },
      (err: unknown) => {
        this.value = undefined;
        this.inFlight = undefined;
        throw err;
      },
    );
    return this.inFlight;
  }
}
