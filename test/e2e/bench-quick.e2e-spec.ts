import { spawn } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { pgOnly } from '../support/skips';

/**
 * `npm run bench -- --quick --json` keeps working: every scenario runs (briefly, scaled down) and
 * reports well-formed numbers next to a baseline with a ratio, plus the machine facts. Timings
 * are never asserted here (this machine is shared and tiny). PostgreSQL only: the harness needs
 * a server on which it creates and drops databases of its own (BENCH_DATABASE_URL = the test server).
 */
const pgIt = pgOnly.it;
const ROOT = join(__dirname, '../..');
const SCENARIOS = ['append', 'read', 'rebuild', 'lag', 'keys', 'memory', 'recall', 'policy'];

interface Figure {
  id: string;
  label: string;
  value: number;
  unit: string;
  better: string;
  baseline: { label: string; value: number; unit: string };
  ratio: number;
  peer?: { label: string; value: number; ratio: number };
}

function runBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-r', join(ROOT, 'test/support/swc-register.cjs'), join(ROOT, 'bench/run.ts'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', BENCH_DATABASE_URL: process.env.TEST_DATABASE_URL ?? '', SCARF_ANALYTICS: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const finite = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);

describe('npm run bench -- --quick --json (PostgreSQL only)', () => {
  pgIt(
    'runs every scenario and reports well-formed figures, baselines and ratios, and drops its databases',
    async () => {
      const { code, stdout, stderr } = await runBench(['--quick', '--json']);
      if (code !== 0) throw new Error(`bench exited ${code}\n${stderr.slice(-6000)}`);
      const report = JSON.parse(stdout) as {
        format: string;
        mode: string;
        machine: { cpus: number; postgres: string; node: string; ram_gib: number };
        scenarios: { name: string; ok: boolean; error?: string; scale: Record<string, unknown>; figures: Figure[]; machine: { cpus: number; postgres: string } }[];
      };
      expect(report.format).toBe('aionis-bench/1');
      expect(report.mode).toBe('quick');
      expect(report.machine.cpus).toBeGreaterThan(0);
      expect(report.machine.postgres).toMatch(/^PostgreSQL \d+/);
      expect(report.machine.node).toMatch(/^v\d+/);
      expect(report.scenarios.map((s) => s.name)).toEqual(SCENARIOS);
      for (const s of report.scenarios) {
        expect({ name: s.name, ok: s.ok, error: s.error }).toEqual({ name: s.name, ok: true, error: undefined });
        expect(Object.keys(s.scale).length).toBeGreaterThan(0);
        expect(s.machine.cpus).toBe(report.machine.cpus);
        expect(s.figures.length).toBeGreaterThan(0);
        for (const f of s.figures) {
          const where = `${s.name}/${f.id}`;
          expect([where, finite(f.value) && f.value >= 0]).toEqual([where, true]);
          expect([where, finite(f.baseline.value) && f.baseline.value > 0]).toEqual([where, true]);
          expect([where, finite(f.ratio) && f.ratio >= 0]).toEqual([where, true]);
          // ratio = value / baseline (both rounded for display, so compare loosely).
          expect([where, Math.abs(f.ratio - f.value / f.baseline.value) <= 0.03 * Math.max(1, f.ratio) + 0.002]).toEqual([where, true]);
          expect([where, ['higher', 'lower'].includes(f.better) && f.unit.length > 0 && f.baseline.label.length > 0]).toEqual([where, true]);
          if (f.peer) expect([where, finite(f.peer.value) && f.peer.value > 0 && finite(f.peer.ratio)]).toEqual([where, true]);
        }
      }
      // The harness dropped every database it created.
      const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
      await admin.connect();
      try {
        const left = await admin.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE 'aionis_bench_%'`);
        const runIds = new Set(left.rows.map((r) => r.datname.split('_')[2]));
        const mine = /run ([0-9a-f]{8}) on/.exec(stderr)?.[1];
        expect(mine).toBeDefined();
        expect(runIds.has(mine!)).toBe(false);
      } finally {
        await admin.end();
      }
    },
    300_000,
  );
});
