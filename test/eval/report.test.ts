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

test("a 'pairs' block: a table with the prompt as text, both images with their scores, the change signed and coloured", () => {
  const prompt = 'a small red <circle> to the left of a "large" blue & striped square';
  const html = renderReport('r', [{
    kind: 'pairs', left: 'base', right: 'fine-tuned', caption: '1 improved & 1 worsened',
    rows: [
      { label: prompt, note: 'spatial', left: { src: 'pairs/1-base.png', score: 0.25 }, right: { src: 'pairs/1-finetuned.png', score: 1 } },
      { label: 'a blue circle', left: { src: 'pairs/2-base.png', score: 0.5 }, right: { src: 'pairs/2-finetuned.png', score: 0.25 } },
      { label: 'a square', left: { src: 'pairs/3-base.png', score: 0.5 }, right: { src: 'pairs/3-finetuned.png', score: 0.5 } },
    ],
  }]);
  assert.ok(html.includes('<table class="pairs">'));
  assert.ok(html.includes('<th>#</th><th>prompt</th><th>base</th><th>fine-tuned</th><th>change</th>'));
  assert.ok(html.includes(`<td class="prompt">${escapeHtml(prompt)}<br><small>spatial</small></td>`), 'the whole prompt, escaped, in one cell');
  assert.ok(html.includes('<td class="prompt">a blue circle</td>'), 'no note, no second line');
  assert.ok(html.includes('<img src="pairs/1-base.png" alt="base"><figcaption>base: 0.2500</figcaption>'));
  assert.ok(html.includes('<img src="pairs/1-finetuned.png" alt="fine-tuned"><figcaption>fine-tuned: 1.0000</figcaption>'));
  assert.ok(html.includes('<tr data-change="0.75"><td>1</td>') && html.includes('<td class="up">+0.7500</td>'));
  assert.ok(html.includes('<tr data-change="-0.25"><td>2</td>') && html.includes('<td class="down">\u22120.2500</td>'));
  assert.ok(html.includes('<td class="same">±0.0000</td>'));
  assert.ok(html.includes('<caption>1 improved &amp; 1 worsened</caption>'));
  assert.match(html, /td\.up \{ color: #1a7f37/);
});
