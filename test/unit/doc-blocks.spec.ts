import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blockRuns, docsScript, shellBlocks } from '../support/doc-blocks';

describe('docs test: shell blocks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aionis-doc-blocks-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('given a Markdown file, when parsed, then only sh blocks count, with their line, expected statuses and skip marks', () => {
    writeFileSync(
      join(dir, 'a.md'),
      ['# t', '<!-- docs-test: skip (started by the test) -->', '```sh', 'npm start', '```', '```json', '{}', '```', '```sh', 'curl x   # expect: 404, 409', 'curl y', '```'].join('\n'),
    );
    const blocks = shellBlocks(dir, 'a.md');
    expect(blocks).toEqual([
      { file: 'a.md', line: 3, code: 'npm start', expects: [], skip: 'started by the test' },
      { file: 'a.md', line: 9, code: 'curl x   # expect: 404, 409\ncurl y', expects: [404, 409] },
    ]);
  });

  it('given an unclosed fence, when parsed, then it is an error naming the line', () => {
    writeFileSync(join(dir, 'b.md'), '```sh\ncurl x\n');
    expect(() => shellBlocks(dir, 'b.md')).toThrow('b.md:1: unclosed code fence');
  });

  it("given the script's output, when split, then each block gets its statuses and a failure names its block", () => {
    const blocks = shellBlocks(dir, 'a.md');
    expect(docsScript(blocks, 'X=1')).toContain('set -Eeuo pipefail');
    const out = ['@@docs-block 0', '@@docs-http 200', 'noise', '@@docs-block 1', '@@docs-http 404', '@@docs-http 409', '@@docs-block-failed 1'].join('\n');
    const r = blockRuns(blocks, out);
    expect(r.runs.map((x) => x.statuses)).toEqual([[200], [404, 409]]);
    expect(r.failed).toBe(1);
    expect(r.finished).toBe(false);
  });
});
