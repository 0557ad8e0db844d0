import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One fenced ```sh block of a Markdown document, where it is, and the statuses it says it expects. */
export interface ShellBlock {
  readonly file: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  readonly code: string;
  /** HTTP 4xx statuses the block says it answers on purpose (`# expect: 401, 409`). */
  readonly expects: readonly number[];
  /** Set when the block is marked `<!-- docs-test: skip (reason) -->` on the line before the fence. */
  readonly skip?: string;
}

const SKIP = /^<!--\s*docs-test:\s*skip\s*\(([^)]+)\)\s*-->\s*$/;
const EXPECT = /#\s*expect:\s*([0-9][0-9,\s]*)/g;

/** The ```sh blocks of a Markdown file, in document order (other languages are prose: json, http...). */
export function shellBlocks(root: string, file: string): ShellBlock[] {
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  const blocks: ShellBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```sh') continue;
    const start = i;
    const body: string[] = [];
    for (i += 1; i < lines.length && lines[i]!.trim() !== '```'; i++) body.push(lines[i]!);
    if (i >= lines.length) throw new Error(`${file}:${start + 1}: unclosed code fence`);
    const code = body.join('\n');
    const expects = [...code.matchAll(EXPECT)].flatMap((m) => m[1]!.split(/[,\s]+/).filter(Boolean).map(Number));
    const skip = SKIP.exec(lines[start - 1]?.trim() ?? '')?.[1];
    blocks.push({ file, line: start + 1, code, expects, ...(skip !== undefined ? { skip } : {}) });
  }
  return blocks;
}

/** A block's HTTP statuses, from the marker lines the docs test's curl wrapper writes to stderr. */
export interface BlockRun {
  readonly block: ShellBlock;
  readonly statuses: number[];
}

export const STATUS_MARK = '@@docs-http';
export const BLOCK_MARK = '@@docs-block';

/**
 * One bash script that runs the blocks in order in one shell (variables carry over, as when pasted),
 * strict (`set -Eeuo pipefail`: an unset variable or a failed command stops it), with a `curl`
 * wrapper that reports every response's status on stderr; the docs' own `-w` wins where they set one.
 */
export function docsScript(blocks: readonly ShellBlock[], preamble: string): string {
  const parts = [
    'set -Eeuo pipefail',
    `trap 'echo "${BLOCK_MARK}-failed $__DOCS_BLOCK" >&2' ERR`,
    `curl() { command curl -w '%{stderr}\\n${STATUS_MARK} %{http_code}\\n' "$@"; }`,
    preamble,
  ];
  blocks.forEach((b, i) => {
    parts.push(`__DOCS_BLOCK=${i}; echo "${BLOCK_MARK} ${i}" >&2`, b.code);
  });
  parts.push(`echo "${BLOCK_MARK} end" >&2`);
  return `${parts.join('\n')}\n`;
}

/** Split the script's stderr into each block's statuses; also the index of the block that failed, if any. */
export function blockRuns(blocks: readonly ShellBlock[], stderr: string): { runs: BlockRun[]; failed?: number; finished: boolean } {
  const runs: BlockRun[] = [];
  let current: BlockRun | undefined;
  let failed: number | undefined;
  let finished = false;
  for (const line of stderr.split('\n')) {
    if (line.startsWith(`${BLOCK_MARK}-failed `)) failed = Number(line.slice(BLOCK_MARK.length + 8));
    else if (line === `${BLOCK_MARK} end`) finished = true;
    else if (line.startsWith(`${BLOCK_MARK} `)) {
      current = { block: blocks[Number(line.slice(BLOCK_MARK.length + 1))]!, statuses: [] };
      runs.push(current);
    } else if (line.startsWith(`${STATUS_MARK} `) && current) current.statuses.push(Number(line.slice(STATUS_MARK.length + 1)));
  }
  return { runs, ...(failed !== undefined ? { failed } : {}), finished };
}
