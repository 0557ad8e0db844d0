/** DOM building without HTML strings: every value becomes a text node or an attribute, never markup. */
export type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, string | number | boolean | null | undefined | ((e: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

export const fmtInt = (n: number | null | undefined): string => (n === null || n === undefined ? '–' : n.toLocaleString('en-US'));
export const fmtPct = (r: number | null | undefined, digits = 2): string => (r === null || r === undefined ? '–' : `${(r * 100).toFixed(digits)}%`);
export const fmtMs = (v: number | string | null | undefined): string => (v === null || v === undefined ? '–' : typeof v === 'string' ? `${v} ms` : v > 5000 ? '>5000 ms' : `${v} ms`);
export const fmtTime = (iso: string | null | undefined): string => (iso ? new Date(iso).toISOString().replace('T', ' ').slice(0, 19) + 'Z' : '–');

export function table(headers: Child[], rows: Child[][], opts: { numeric?: number[]; testid?: string } = {}): HTMLTableElement {
  const num = new Set(opts.numeric ?? []);
  return h(
    'table',
    { 'data-testid': opts.testid },
    h('thead', {}, h('tr', {}, headers.map((x, i) => h('th', { class: num.has(i) ? 'num' : null }, x)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c, i) => h('td', { class: num.has(i) ? 'num' : null }, c))))),
  );
}

export const empty = (text: string, testid?: string): HTMLElement => h('div', { class: 'empty', 'data-testid': testid }, text);
export const errorBox = (err: unknown): HTMLElement => h('div', { class: 'error', role: 'alert' }, err instanceof Error ? err.message : String(err));
