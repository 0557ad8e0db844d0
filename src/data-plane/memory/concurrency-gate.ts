import { AppError } from '../../platform/errors/app-error';

/**
 * A per-process concurrency gate (contract §1.6): at most `maxInflight` requests of a class run at
 * once, up to `maxQueue` wait, and none waits longer than `queueTimeoutMs`. Refusals are 429
 * `<class>_backpressure` with the gate's numbers. The time a request queued is handed to it (recall
 * uses it to adapt its knobs under load).
 */
export class ConcurrencyGate {
  private inflight = 0;
  private readonly queue: (() => void)[] = [];

  constructor(
    readonly name: 'recall' | 'write',
    readonly maxInflight: number,
    readonly maxQueue: number,
    readonly queueTimeoutMs: number,
  ) {}

  stats(): { inflight: number; queued: number; max_inflight: number; max_queue: number } {
    return { inflight: this.inflight, queued: this.queue.length, max_inflight: this.maxInflight, max_queue: this.maxQueue };
  }

  async run<T>(work: (waitMs: number) => Promise<T>): Promise<T> {
    const started = performance.now();
    if (!this.tryEnter()) await this.wait();
    const waitMs = performance.now() - started;
    try {
      return await work(Math.round(waitMs * 1000) / 1000);
    } finally {
      this.release();
    }
  }

  private wait(): Promise<void> {
    if (this.queue.length >= this.maxQueue) {
      return Promise.reject(this.refusal(`${this.maxQueue} ${this.name} requests are already queued in this process`, {}));
    }
    return new Promise<void>((resolve, reject) => {
      // Called by release(), which hands its slot over: inflight already counts this request.
      const enter = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        const i = this.queue.indexOf(enter);
        if (i >= 0) this.queue.splice(i, 1);
        reject(this.refusal(`waited ${this.queueTimeoutMs} ms for a ${this.name} slot`, { wait_ms: this.queueTimeoutMs, queue_timeout_ms: this.queueTimeoutMs }));
      }, this.queueTimeoutMs);
      this.queue.push(enter);
    });
  }

  /** Either hand the slot to the next queued request or free it. */
  private release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.inflight -= 1;
  }

  private refusal(message: string, extra: Record<string, number>): AppError {
    return new AppError(this.name === 'recall' ? 'recall_backpressure' : 'write_backpressure', message, { ...this.stats(), ...extra, retry_after_ms: 1000 });
  }

  /** Enter without queueing (run() calls this first). */
  tryEnter(): boolean {
    if (this.inflight >= this.maxInflight) return false;
    this.inflight += 1;
    return true;
  }
}
