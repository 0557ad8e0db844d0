/** A small SVG line chart (no library): one or more series over time, with y-axis ticks and a legend. */
const SVG = 'http://www.w3.org/2000/svg';

export interface Series {
  readonly label: string;
  readonly points: readonly { t: string; v: number | null }[];
}

function el(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

const COLOURS = ['#0a58ca', '#b54708', '#7a2ecc', '#b42318'];

export function lineChart(title: string, series: readonly Series[], opts: { unit?: (v: number) => string; testid?: string; integer?: boolean } = {}): HTMLElement {
  const W = 600;
  const H = 180;
  const L = 56;
  const B = 22;
  const fmt = opts.unit ?? ((v: number) => String(Math.round(v * 1000) / 1000));
  const card = document.createElement('div');
  card.className = 'card';
  if (opts.testid) card.setAttribute('data-testid', opts.testid);
  const h3 = document.createElement('h3');
  h3.textContent = title;
  card.appendChild(h3);
  const times = [...new Set(series.flatMap((s) => s.points.map((p) => Date.parse(p.t))))].sort((a, b) => a - b);
  const values = series.flatMap((s) => s.points.map((p) => p.v).filter((v): v is number => v !== null && Number.isFinite(v)));
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title }) as SVGSVGElement;
  card.appendChild(svg);
  if (times.length === 0 || values.length === 0) {
    svg.appendChild(el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' }, 'no data in this window'));
    card.setAttribute('data-points', '0');
    return card;
  }
  const top = Math.max(...values, 0) || 1;
  // Counts: a top that is a multiple of 4, so the 4 grid lines fall on whole numbers.
  const max = opts.integer ? Math.max(4, Math.ceil(top / 4) * 4) : top;
  const t0 = times[0]!;
  const t1 = times.at(-1)! === t0 ? t0 + 60_000 : times.at(-1)!;
  const x = (t: number) => L + ((t - t0) / (t1 - t0)) * (W - L - 8);
  const y = (v: number) => H - B - (v / max) * (H - B - 10);
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    svg.appendChild(el('line', { x1: L, x2: W - 8, y1: y(v), y2: y(v), class: 'axis' }));
    svg.appendChild(el('text', { x: L - 4, y: y(v) + 3, 'text-anchor': 'end' }, fmt(v)));
  }
  const label = (t: number) => new Date(t).toISOString().slice(5, 16).replace('T', ' ');
  svg.appendChild(el('text', { x: L, y: H - 6 }, label(t0)));
  svg.appendChild(el('text', { x: W - 8, y: H - 6, 'text-anchor': 'end' }, label(t1)));
  let drawn = 0;
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => p.v !== null && Number.isFinite(p.v)).map((p) => `${x(Date.parse(p.t)).toFixed(1)},${y(p.v as number).toFixed(1)}`);
    drawn += pts.length;
    if (pts.length === 1) svg.appendChild(el('circle', { cx: pts[0]!.split(',')[0]!, cy: pts[0]!.split(',')[1]!, r: 3, fill: COLOURS[i % 4]! }));
    else if (pts.length > 1) svg.appendChild(el('polyline', { points: pts.join(' '), fill: 'none', stroke: COLOURS[i % 4]!, 'stroke-width': 1.8 }));
  });
  card.setAttribute('data-points', String(drawn));
  const legend = document.createElement('div');
  legend.className = 'legend';
  series.forEach((s, i) => {
    const item = document.createElement('span');
    const sw = document.createElement('i');
    sw.className = `sw${i % 4}`;
    item.append(sw, s.label);
    legend.appendChild(item);
  });
  card.appendChild(legend);
  return card;
}
