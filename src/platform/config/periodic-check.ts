/**
 * The shell of a scheduler that checks every `tickMs` whether a cron period is due (the weekly
 * governance report, the SLO statement month close): start, stop (waiting for a run in progress),
 * and one check at a time: concurrent `tick` calls share the running one. Subclasses decide what a
 * check does; `tick(now)` is exposed for tests.
 */
export abstract class PeriodicCheck<T> {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<T> | undefined;

  protected constructor(private readonly tickMs: number) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.tickMs);
    this.timer.unref();
    void this.tick();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  tick(now = new Date()): Promise<T> {
    if (this.running) return this.running;
    this.running = this.check(now).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  protected abstract check(now: Date): Promise<T>;
}
