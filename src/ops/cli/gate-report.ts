import { mkdir, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type { Database } from '../../platform/db/database';
import { eventMetadata, newCommandId, systemCommandContext } from '../../platform/event-store/command-context';
import { PostgresEventStore } from '../../platform/event-store/postgres-event-store';
import type { CheckResult, GateSummary } from '../checks/check-result';
import { EXIT } from './cli-support';

export type { GateSummary };

/** Build the summary every gate reports: it fails on an error-level failure, or a warning with --strict-warnings. */
export function summarise(gate: string, checks: readonly CheckResult[], strict: boolean, extra: Record<string, unknown> = {}): GateSummary {
  const failing = checks.filter((c) => !c.pass && (c.severity === 'error' || strict));
  return {
    ok: failing.length === 0,
    gate,
    strict_warnings: strict,
    errors: checks.filter((c) => !c.pass && c.severity === 'error').length,
    warnings: checks.filter((c) => !c.pass && c.severity === 'warning').length,
    failing: failing.map((c) => c.name),
    ...extra,
    checks,
  };
}

/**
 * Print the summary (one JSON document with --json, else one line per check), write
 * `DIR/summary.json` with --out, record the run in the log when given a database (the weekly
 * governance report lists them), and return the exit code: 0 pass, 2 failed gate.
 */
export async function reportGate(summary: GateSummary, opts: { json: boolean; out?: string | undefined; title: string; record?: { database: Database; command: string } }): Promise<number> {
  if (opts.record) await recordGateRun(opts.record.database, summary, opts.record.command);
  if (opts.out) {
    await mkdir(opts.out, { recursive: true });
    await writeFile(join(opts.out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  }
  if (opts.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  else {
    for (const c of summary.checks) {
      const mark = c.pass ? 'pass' : c.severity === 'error' || summary.strict_warnings ? 'FAIL' : 'warn';
      process.stdout.write(`${mark.padEnd(4)}  ${c.name} (${c.count})  ${c.detail}\n`);
    }
    process.stdout.write(summary.ok ? `${opts.title}: ok\n` : `${opts.title}: FAILED (${summary.failing.join(', ')})\n`);
  }
  return summary.ok ? EXIT.ok : EXIT.gateFailed;
}

/**
 * Record a gate run in the log (stream `gate-runs`, event GateRunRecorded): the governance weekly
 * report lists the week's gate results from these. An operational record, not business data;
 * best effort (a gate still reports its result when the database refuses the write).
 */
export async function recordGateRun(database: Database, summary: GateSummary, command: string): Promise<void> {
  const actor = { type: 'operator' as const, id: `cli:${userInfo().username}`, display: command };
  try {
    await new PostgresEventStore(database).append(
      'gate-runs',
      [{ type: 'GateRunRecorded', data: { gate: summary.gate, ok: summary.ok, strict_warnings: summary.strict_warnings, errors: summary.errors, warnings: summary.warnings, failing: summary.failing, checks: summary.checks.map((c) => ({ name: c.name, severity: c.severity, pass: c.pass, count: c.count })) } }],
      { expectedRevision: 'any', tenantId: null, metadata: eventMetadata(systemCommandContext({ actor }), newCommandId()) },
    );
  } catch (err) {
    process.stderr.write(`warning: could not record the gate run: ${err instanceof Error ? err.message : String(err)}\n`);
  }
}
