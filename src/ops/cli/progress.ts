/**
 * Progress of a long operation on stderr (stdout stays for the result): a redrawn bar on a TTY,
 * otherwise one JSON line at most every `intervalMs` (and always for the final update).
 */
export interface ProgressUpdate {
  readonly label: string;
  readonly done: number;
  /** Null when the total is unknown. */
  readonly total: number | null;
  readonly ratePerSecond: number;
  readonly etaSeconds: number | null;
  readonly fields?: Record<string, unknown>;
}

export class ProgressReporter {
  private lastJsonAt = 0;
  private drewBar = false;

  constructor(
    private readonly operation: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly intervalMs = 1000,
  ) {}

  update(u: ProgressUpdate, final = false): void {
    if (this.stream.isTTY) {
      const width = 30;
      const ratio = u.total && u.total > 0 ? Math.min(1, u.done / u.total) : 0;
      const filled = Math.round(ratio * width);
      const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
      const eta = u.etaSeconds === null ? '--' : formatSeconds(u.etaSeconds);
      this.stream.write(`\r${this.operation} ${u.label} ${bar} ${u.total ? `${Math.floor(ratio * 100)}%` : ''} ${u.done} ev, ${u.ratePerSecond} ev/s, ETA ${eta}   `);
      this.drewBar = true;
      if (final) this.end();
      return;
    }
    const now = Date.now();
    if (!final && now - this.lastJsonAt < this.intervalMs) return;
    this.lastJsonAt = now;
    this.stream.write(
      `${JSON.stringify({ progress: this.operation, label: u.label, done: u.done, total: u.total, events_per_s: u.ratePerSecond, eta_s: u.etaSeconds, ...(u.fields ?? {}) })}\n`,
    );
  }

  end(): void {
    if (this.drewBar) this.stream.write('\n');
    this.drewBar = false;
  }
}

function formatSeconds(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * Progress of a run made of known steps (a gate and its sub-gates), on stderr: one line as each
 * step starts, `operation [i/N] step` on a TTY, otherwise a JSON line
 * `{"progress", "step", "done", "total", "elapsed_ms"}`; a final line when the run is over.
 */
export class StepProgress {
  private done = 0;
  private readonly started = Date.now();

  constructor(
    private readonly operation: string,
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  step(label: string): void {
    this.write(label, this.done);
    this.done++;
  }

  finish(label = 'done'): void {
    this.write(label, this.total);
  }

  private write(label: string, done: number): void {
    const elapsedMs = Date.now() - this.started;
    if (this.stream.isTTY) this.stream.write(`${this.operation} [${Math.min(done + 1, this.total)}/${this.total}] ${label} (${formatSeconds(Math.round(elapsedMs / 1000))})\n`);
    else this.stream.write(`${JSON.stringify({ progress: this.operation, step: label, done, total: this.total, elapsed_ms: elapsedMs })}\n`);
  }
}
