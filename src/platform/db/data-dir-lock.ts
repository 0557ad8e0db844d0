import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holder: { pid?: number; hostname?: string; started_at?: string },
  ) {
    super(
      `DATA_DIR ${dataDir} is in use by another Aionis process (pid ${holder.pid ?? '?'} on ${holder.hostname ?? '?'}, started ${holder.started_at ?? '?'}). ` +
        'The embedded database allows one process at a time: stop that process, choose another DATA_DIR, ' +
        'or run several instances against PostgreSQL with DATABASE_URL.',
    );
    this.name = 'DataDirLockedError';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * An exclusive lock on DATA_DIR for the embedded database (PGlite does not lock, and two processes
 * on one data dir lose writes). The lock file records its holder; a lock left by a process that no
 * longer exists on this host is taken over.
 */
export function lockDataDir(dataDir: string): { release(): void } {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, 'aionis.lock');
  const me = { pid: process.pid, hostname: hostname(), started_at: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, JSON.stringify(me));
      closeSync(fd);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        try {
          const holder = JSON.parse(readFileSync(file, 'utf8')) as { pid?: number };
          if (holder.pid === process.pid) unlinkSync(file);
        } catch {
          /* already gone */
        }
      };
      process.once('exit', release);
      return { release };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder: { pid?: number; hostname?: string; started_at?: string } = {};
      try {
        holder = JSON.parse(readFileSync(file, 'utf8')) as typeof holder;
      } catch {
        /* half-written lock file: treat as stale below if its writer is gone */
      }
      const sameHost = holder.hostname === undefined || holder.hostname === me.hostname;
      if (holder.pid !== undefined && (!sameHost || alive(holder.pid))) throw new DataDirLockedError(dataDir, holder);
      if (holder.pid === undefined && attempt === 0) {
        // Give a concurrent writer a moment to finish writing its lock file.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
        continue;
      }
      try {
        unlinkSync(file); // stale: its process is gone
      } catch {
        /* someone else removed it */
      }
    }
  }
  throw new DataDirLockedError(dataDir, {});
}
