/**
 * Generates docs/packaging-matrix.md from the tier data (src/control-plane/quotas/tiers.ts).
 *
 *   npm run docs:packaging-matrix           write the file
 *   npm run docs:packaging-matrix:check     exit 2 if the checked-in file is not current (CI), 1 on errors
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { QUOTA_FIELD_SPECS, QUOTA_FIELDS, TIER_LABELS, TIER_QUOTAS, TIERS } from '../src/control-plane/quotas/tiers';

export const MATRIX_PATH = join(__dirname, '..', 'docs', 'packaging-matrix.md');

/** 1234567 -> "1,234,567" (locale-independent, so the output is the same on every machine). */
export function formatNumber(n: number): string {
  const [int = '', frac] = String(n).split('.');
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return frac === undefined ? grouped : `${grouped}.${frac}`;
}

const cell = (s: string): string => s.replace(/\|/g, '\\|');

/** The whole document, deterministic: a pure function of tiers.ts. */
export function renderPackagingMatrix(): string {
  const header = ['Limit', 'Field', 'Unit', ...TIERS.map((t) => TIER_LABELS[t]), 'Override range'];
  const rows = QUOTA_FIELDS.map((f) => {
    const spec = QUOTA_FIELD_SPECS[f];
    return [spec.label, `\`${f}\``, spec.unit, ...TIERS.map((t) => formatNumber(TIER_QUOTAS[t][f])), `${formatNumber(spec.min)} – ${formatNumber(spec.max)}`];
  });
  const line = (cells: readonly string[]): string => `| ${cells.map(cell).join(' | ')} |`;
  return [
    '<!-- GENERATED FILE: do not edit by hand. -->',
    '<!-- Source: src/control-plane/quotas/tiers.ts. Regenerate with `npm run docs:packaging-matrix`; CI runs `npm run docs:packaging-matrix:check`. -->',
    '',
    '# Packaging matrix',
    '',
    'The quota defaults of each tier. This file is generated from `src/control-plane/quotas/tiers.ts`',
    'by `npm run docs:packaging-matrix` and must not be edited by hand: change the tier data and',
    'regenerate (CI fails when this file is not current).',
    '',
    line(header),
    line(header.map((_h, i) => (i >= 3 ? '---:' : '---'))),
    ...rows.map(line),
    '',
    'Rates are per tenant and per second; a burst is how many requests may arrive at once (the size',
    'of the token bucket). *Write* is memory writes, *recall* memory reads and searches (429',
    '`tenant_rate_limited_write` / `_recall`); *admin* is admin calls about a tenant, counted per',
    'operator and tenant (429 `admin_rate_limited`). Telemetry retention is how many days a',
    'tenant\'s telemetry is kept. Enforcement reads these values through `EffectiveQuotaService`.',
    '',
    'Any value can be overridden per tenant within the override range',
    '(`PUT /v1/admin/control/tenants/:tenant_id/quota`, see [api.md](api.md#quotas-and-tiers));',
    'an override stays in force when the tenant changes tier.',
    '',
  ].join('\n');
}

function main(argv: readonly string[]): number {
  const args = argv.slice(2);
  const unknown = args.filter((a) => a !== '--check');
  if (unknown.length > 0) {
    process.stderr.write(`unknown argument(s): ${unknown.join(' ')}\nusage: gen-packaging-matrix [--check]\n`);
    return 1;
  }
  const expected = renderPackagingMatrix();
  const shown = relative(process.cwd(), MATRIX_PATH) || MATRIX_PATH;
  if (args.includes('--check')) {
    let actual: string | null;
    try {
      actual = readFileSync(MATRIX_PATH, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      actual = null;
    }
    if (actual === expected) {
      process.stdout.write(`${shown} is current\n`);
      return 0;
    }
    process.stderr.write(`${shown} is ${actual === null ? 'missing' : 'out of date'}: run \`npm run docs:packaging-matrix\` and commit the result\n`);
    return 2;
  }
  writeFileSync(MATRIX_PATH, expected);
  process.stdout.write(`wrote ${shown}\n`);
  return 0;
}

if (require.main === module) {
  try {
    process.exitCode = main(process.argv);
  } catch (err) {
    process.stderr.write(`gen-packaging-matrix failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  }
}
