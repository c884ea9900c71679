import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderReport, svgLineChart, escapeHtml } from '../../src/eval/report.js';

test('report escapes text and renders tables, charts and images', () => {
  const html = renderReport('A <b> report', [
    { kind: 'heading', text: 'Metrics & more' },
    { kind: 'table', columns: ['metric', 'base'], rows: [['color', 0.61234567], ['mllm', null]] },
    { kind: 'chart', series: [{ name: 'reward', points: [[0, 0.1], [1, 0.3], [2, NaN]] }], options: { title: 'r', xLabel: 'step', yLabel: 'reward' } },
    { kind: 'images', items: [{ src: 'base.png', caption: 'base "x"' }] },
  ]);
  assert.ok(html.includes('<title>A &lt;b&gt; report</title>'));
  assert.ok(html.includes('<h2>Metrics &amp; more</h2>'));
  assert.ok(html.includes('<td>0.6123</td>'));
  assert.ok(html.includes('<td>–</td>'));
  assert.ok(html.includes('<path d="M'));
  assert.ok(html.includes('src="base.png"') && html.includes('base &quot;x&quot;'));
  assert.equal(escapeHtml(`'&`), '&#39;&amp;');
});

test('a chart drops non-finite points and says when there is no data', () => {
  const svg = svgLineChart([{ name: 's', points: [[0, 1], [1, Infinity], [2, 3]] }], { title: 't', xLabel: 'x', yLabel: 'y' });
  const d = /<path d="([^"]+)"/.exec(svg)![1]!;
  assert.equal(d.split(' ').length, 2);
  assert.match(svgLineChart([{ name: 's', points: [] }], { title: 'empty', xLabel: 'x', yLabel: 'y' }), /empty: no data/);
});
