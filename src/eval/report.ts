// A self-contained HTML report (no scripts, no external files but the images beside it): metric
// tables, line charts as inline SVG, and image grids. Used by `sharpen demo`, `sharpen paper` and the benchmarks.

export interface Series {
  name: string;
  /** [x, y] points, x ascending */
  points: [number, number][];
  color?: string;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
}

export type ReportBlock =
  | { kind: 'heading'; text: string }
  | { kind: 'paragraph'; text: string }
  | { kind: 'table'; columns: string[]; rows: (string | number | null)[][]; caption?: string }
  | { kind: 'chart'; series: Series[]; options: ChartOptions }
  | { kind: 'images'; items: { src: string; caption: string }[] }
  | { kind: 'pairs'; left: string; right: string; rows: PairRow[]; caption?: string }
  | { kind: 'code'; text: string }
  /** an SVG document rendered elsewhere (e.g. a vega-lite chart), inlined as it is */
  | { kind: 'svg'; svg: string; caption?: string };

/** One row of a 'pairs' block: two images of the same prompt (e.g. base and fine-tuned on the same
 *  initial noise), each with its score; the row shows the prompt in full and right − left, signed. */
export interface PairRow {
  label: string;
  /** a second, smaller line under the label (e.g. the category) */
  note?: string;
  left: { src: string; score: number };
  right: { src: string; score: number };
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function niceTicks(lo: number, hi: number, count: number): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** A line chart of one or more series as an SVG element. Non-finite points are left out. */
export function svgLineChart(series: Series[], o: ChartOptions): string {
  const W = o.width ?? 640;
  const H = o.height ?? 320;
  const m = { l: 60, r: 150, t: 30, b: 45 };
  const pts = series.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  if (pts.length === 0) return `<p><em>${escapeHtml(o.title)}: no data</em></p>`;
  let [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]))];
  if (x1 === x0) [x0, x1] = [x0 - 1, x1 + 1];
  if (y1 === y0) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const pad = (y1 - y0) * 0.05;
  [y0, y1] = [y0 - pad, y1 + pad];
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  parts.push(`<text x="${W / 2 - m.r / 2}" y="16" text-anchor="middle" font-size="13">${escapeHtml(o.title)}</text>`);
  for (const v of niceTicks(y0, y1, 5)) {
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${sy(v)}" y2="${sy(v)}" stroke="#ddd"/>`);
    parts.push(`<text x="${m.l - 6}" y="${sy(v) + 4}" text-anchor="end">${v}</text>`);
  }
  for (const v of niceTicks(x0, x1, 6)) {
    parts.push(`<text x="${sx(v)}" y="${H - m.b + 15}" text-anchor="middle">${v}</text>`);
  }
  parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#333"/>`);
  parts.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#333"/>`);
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 8}" text-anchor="middle">${escapeHtml(o.xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(o.yLabel)}</text>`);
  series.forEach((s, k) => {
    const color = s.color ?? PALETTE[k % PALETTE.length]!;
    const p = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (p.length) {
      const d = p.map(([x, y], i) => `${i ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
      parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.6"/>`);
    }
    const ly = m.t + 14 * k + 6;
    parts.push(`<line x1="${W - m.r + 10}" x2="${W - m.r + 28}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"/>`);
    parts.push(`<text x="${W - m.r + 32}" y="${ly + 4}">${escapeHtml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function cell(v: string | number | null): string {
  if (v === null) return '–';
  if (typeof v === 'number') return Number.isFinite(v) ? String(Number(v.toFixed(4))) : String(v);
  return escapeHtml(v);
}

function signed(v: number): string {
  return `${v > 0 ? '+' : v < 0 ? '\u2212' : '±'}${Math.abs(v).toFixed(4)}`;
}

/** A 'pairs' block as a table: rank, the prompt as text, the two images with their scores, the change. */
function pairsTable(b: Extract<ReportBlock, { kind: 'pairs' }>): string {
  const img = (side: string, x: { src: string; score: number }) =>
    `<td><figure><img src="${escapeHtml(x.src)}" alt="${escapeHtml(side)}"><figcaption>${escapeHtml(side)}: ${x.score.toFixed(4)}</figcaption></figure></td>`;
  return [
    '<table class="pairs">',
    b.caption ? `<caption>${escapeHtml(b.caption)}</caption>` : '',
    `<tr><th>#</th><th>prompt</th><th>${escapeHtml(b.left)}</th><th>${escapeHtml(b.right)}</th><th>change</th></tr>`,
    ...b.rows.map((r, i) => {
      const change = r.right.score - r.left.score;
      const cls = change > 0 ? 'up' : change < 0 ? 'down' : 'same';
      return `<tr data-change="${change}"><td>${i + 1}</td>` +
        `<td class="prompt">${escapeHtml(r.label)}${r.note ? `<br><small>${escapeHtml(r.note)}</small>` : ''}</td>` +
        `${img(b.left, r.left)}${img(b.right, r.right)}<td class="${cls}">${signed(change)}</td></tr>`;
    }),
    '</table>',
  ].join('\n');
}

/** The whole report as one HTML document. */
export function renderReport(title: string, blocks: ReportBlock[]): string {
  const body = blocks.map((b) => {
    switch (b.kind) {
      case 'heading':
        return `<h2>${escapeHtml(b.text)}</h2>`;
      case 'paragraph':
        return `<p>${escapeHtml(b.text)}</p>`;
      case 'code':
        return `<pre>${escapeHtml(b.text)}</pre>`;
      case 'table':
        return [
          '<table>',
          b.caption ? `<caption>${escapeHtml(b.caption)}</caption>` : '',
          `<tr>${b.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr>`,
          ...b.rows.map((r) => `<tr>${r.map((v) => `<td>${cell(v)}</td>`).join('')}</tr>`),
          '</table>',
        ].join('\n');
      case 'chart':
        return svgLineChart(b.series, b.options);
      case 'images':
        return `<div class="images">${b.items
          .map((i) => `<figure><img src="${escapeHtml(i.src)}" alt="${escapeHtml(i.caption)}"><figcaption>${escapeHtml(i.caption)}</figcaption></figure>`)
          .join('')}</div>`;
      case 'pairs':
        return pairsTable(b);
      case 'svg':
        return `<figure class="chart">${b.svg}${b.caption ? `<figcaption>${escapeHtml(b.caption)}</figcaption>` : ''}</figure>`;
    }
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
caption { caption-side: bottom; font-size: 0.9em; color: #555; padding-top: 4px; }
.images { display: flex; flex-wrap: wrap; gap: 16px; }
figure.chart { display: inline-block; margin: 8px; vertical-align: top; }
figure { margin: 0; } figure img { image-rendering: pixelated; max-width: 520px; }
table.pairs td { vertical-align: middle; text-align: center; }
table.pairs td.prompt { text-align: left; max-width: 380px; }
table.pairs figure img { display: block; margin: 0 auto; }
td.up { color: #1a7f37; font-weight: bold; } td.down { color: #c62828; font-weight: bold; } td.same { color: #777; }
pre { background: #f6f6f6; padding: 8px; overflow-x: auto; }
</style></head>
<body><h1>${escapeHtml(title)}</h1>
${body.join('\n')}
</body></html>
`;
}
