import type { Checkpoint, RecordedEvent, SubscribeOptions, Subscription } from './event-store';

type ReadPage = (after: Checkpoint, limit: number) => Promise<RecordedEvent[]>;

/**
 * An ordered catch-up subscription over the global log: reads pages from its checkpoint, hands
 * each to the handler, advances only after the handler resolves, and when caught up sleeps
 * until a NOTIFY arrives or the poll interval passes (the fallback when notifications are lost).
 * After a wake-up that finds nothing (an older transaction still open hides newer commits),
 * it re-polls quickly with backoff, so a commit that becomes visible late is not left to the poll.
 */
export class CatchUpSubscription implements Subscription {
  private current: Checkpoint;
  private running = false;
  private wake: (() => void) | undefined;
  private woken = false;
  private unregister: (() => void) | undefined;
  private resolveDone!: () => void;
  private rejectDone!: (err: unknown) => void;
  readonly done: Promise<void>;

  constructor(
    private readonly readPage: ReadPage,
    private readonly options: SubscribeOptions,
    private readonly register: (waker: () => void) => () => void,
  ) {
    this.current = options.from;
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // A failed subscription is observed through `done`; never an unhandled rejection.
    this.done.catch(() => undefined);
  }

  get position(): Checkpoint {
    return this.current;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unregister = this.register(() => this.poke());
    void this.loop();
  }

  private poke(): void {
    this.woken = true;
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.woken || !this.running) {
        resolve();
        return;
      }
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async loop(): Promise<void> {
    const batchSize = this.options.batchSize ?? 500;
    const poll = this.options.pollIntervalMs ?? 500;
    let quick = 0;
    try {
      while (this.running) {
        this.woken = false;
        const events = await this.readPage(this.current, batchSize);
        if (!this.running) break;
        if (events.length > 0) {
          await this.options.handler(events);
          const last = events[events.length - 1]!;
          this.current = { transactionId: last.transactionId, globalPosition: last.globalPosition };
          quick = events.length === batchSize ? 0 : 1;
          if (events.length === batchSize) continue;
        }
        if (this.woken) {
          quick = 1;
          continue;
        }
        // Just woken or just delivered: look again soon (5, 10, 20 ... ms) before settling on the poll interval.
        const wait = quick > 0 && quick <= 6 ? Math.min(poll, 5 * 2 ** (quick - 1)) : poll;
        if (quick > 0) quick += 1;
        await this.sleep(wait);
        if (this.woken) quick = 1;
      }
      this.finish();
    } catch (err) {
      this.running = false;
      this.unregister?.();
      this.rejectDone(err);
    }
  }

  private finish(): void {
    this.unregister?.();
    this.resolveDone();
  }

  async stop(): Promise<void> {
    if (!this.running) {
      await this.done.catch(() => undefined);
      return;
    }
    this.running = false;
    this.poke();
    await this.done.catch(() => undefined);
  }
}
