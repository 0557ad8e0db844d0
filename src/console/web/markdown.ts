import { h } from './dom.js';

/**
 * A deliberately small Markdown renderer for the weekly reports (headings, paragraphs, lists,
 * tables, code blocks, inline code and bold). It builds DOM nodes from text: nothing in a report
 * can become markup or script.
 */
function inline(text: string): (Node | string)[] {
  const out: (Node | string)[] = [];
  const re = /(`[^`]+`|\*\*[^*]+\*\*)/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    const at = m.index ?? 0;
    if (at > last) out.push(text.slice(last, at));
    const tok = m[0];
    out.push(tok.startsWith('`') ? h('code', {}, tok.slice(1, -1)) : h('strong', {}, tok.slice(2, -2)));
    last = at + tok.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

const cells = (line: string): string[] => line.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').map((c) => c.trim());

export function renderMarkdown(md: string): HTMLElement {
  const root = h('div', { class: 'markdown', 'data-testid': 'report-markdown' });
  const lines = md.replace(/\r\n/g, '\n').split('\n');
  for (let i = 0; i < lines.length; ) {
    const line = lines[i]!;
    if (line.startsWith('```')) {
      const body: string[] = [];
      for (i++; i < lines.length && !lines[i]!.startsWith('```'); i++) body.push(lines[i]!);
      i++;
      root.appendChild(h('pre', {}, h('code', {}, body.join('\n'))));
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      const level = Math.min(6, heading[1]!.length + 1) as 2 | 3 | 4 | 5 | 6;
      root.appendChild(h(`h${level}`, {}, ...inline(heading[2]!)));
      i++;
      continue;
    }
    if (line.trim().startsWith('|') && i + 1 < lines.length && /^\s*\|?[\s:-]+\|/.test(lines[i + 1]!)) {
      const head = cells(line);
      const rows: string[][] = [];
      for (i += 2; i < lines.length && lines[i]!.trim().startsWith('|'); i++) rows.push(cells(lines[i]!));
      root.appendChild(h('table', {}, h('thead', {}, h('tr', {}, head.map((c) => h('th', {}, ...inline(c))))), h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, ...inline(c))))))));
      continue;
    }
    if (/^\s*([-*]|\d+\.)\s+/.test(line)) {
      const items: string[] = [];
      for (; i < lines.length && /^\s*([-*]|\d+\.)\s+/.test(lines[i]!); i++) items.push(lines[i]!.replace(/^\s*([-*]|\d+\.)\s+/, ''));
      root.appendChild(h('ul', {}, items.map((t) => h('li', {}, ...inline(t)))));
      continue;
    }
    if (line.trim() === '') {
      i++;
      continue;
    }
    const para: string[] = [];
    for (; i < lines.length && lines[i]!.trim() !== '' && !/^(#|```|\s*\||\s*[-*]\s)/.test(lines[i]!); i++) para.push(lines[i]!);
    if (para.length === 0) {
      root.appendChild(h('p', {}, ...inline(line)));
      i++;
    } else root.appendChild(h('p', {}, ...inline(para.join(' '))));
  }
  return root;
}
