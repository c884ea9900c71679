import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderScene, renderBackground } from '../../src/world/render.js';
import { parsePrompt } from '../../src/world/grammar.js';
import { decodeImage, encodePng, makeGrid, resizeCenterCrop, flipHorizontal, createImage } from '../../src/world/image.js';
import { worldScale } from '../../src/world/geometry.js';
import { generatePrompt } from '../../src/world/prompts.js';
import { CATEGORIES } from '../../src/world/vocab.js';
import { Rng } from '../../src/world/rng.js';

const spec = parsePrompt('a small red striped circle above a large blue square');

test('render: deterministic for a seed, different across seeds', () => {
  const a = renderScene(spec, 42).image;
  const b = renderScene(spec, 42).image;
  const c = renderScene(spec, 43).image;
  assert.deepEqual(a.data, b.data);
  assert.notDeepEqual(a.data, c.data);
  assert.equal(a.width, 32);
  assert.equal(a.data.length, 3 * 32 * 32);
  assert.ok(a.data.every((v) => v >= 0 && v <= 1));
  const big = renderScene(spec, 42, { resolution: 64 }).image;
  assert.equal(big.data.length, 3 * 64 * 64);
});

test('render: layouts respect the specification (sizes, bounds, relations, gaps)', () => {
  const rng = new Rng(9);
  const s = worldScale(32);
  for (const c of CATEGORIES) {
    for (let i = 0; i < 60; i++) {
      const g = generatePrompt(c, rng);
      const { layout } = renderScene(g.spec, i);
      assert.equal(layout.objects.length, g.spec.entities.reduce((n, e) => n + e.count, 0));
      for (const o of layout.objects) {
        const e = g.spec.entities[o.entity]!;
        assert.equal(o.shape, e.shape);
        if (e.color) assert.equal(o.color, e.color);
        if (e.size) assert.equal(o.size, e.size);
        if (e.texture) assert.equal(o.texture, e.texture);
        const [lo, hi] = s.sizeRange[o.size];
        assert.ok(o.side >= lo - 1e-9 && o.side <= hi + 1e-9);
        assert.ok(o.cx - o.side / 2 >= 0 && o.cx + o.side / 2 <= 32 && o.cy - o.side / 2 >= 0 && o.cy + o.side / 2 <= 32, `${g.prompt}: out of the image`);
      }
      for (const r of g.spec.relations) {
        const a = layout.objects.find((o) => o.entity === r.subject)!;
        const b = layout.objects.find((o) => o.entity === r.object)!;
        const dx = b.cx - a.cx, dy = b.cy - a.cy;
        if (r.type === 'left_of') assert.ok(dx > 0 && dx > Math.abs(dy), g.prompt);
        if (r.type === 'right_of') assert.ok(dx < 0 && -dx > Math.abs(dy), g.prompt);
        if (r.type === 'above') assert.ok(dy > 0 && dy > Math.abs(dx), g.prompt);
        if (r.type === 'below') assert.ok(dy < 0 && -dy > Math.abs(dx), g.prompt);
      }
    }
  }
});

test('render: background-only images vary with the seed', () => {
  const a = renderBackground(1);
  const b = renderBackground(2);
  assert.notDeepEqual(a.data, b.data);
});

test('image: PNG round trip, resize + centre crop, flip, grid', () => {
  const img = renderScene(spec, 1).image;
  const back = decodeImage(encodePng(img));
  assert.equal(back.width, 32);
  for (let i = 0; i < img.data.length; i++) assert.ok(Math.abs(back.data[i]! - img.data[i]!) <= 0.5 / 255 + 1e-6);
  const wide = createImage(60, 30, [0.2, 0.4, 0.6]);
  const sq = resizeCenterCrop(wide, 16);
  assert.equal(sq.width, 16);
  assert.equal(sq.height, 16);
  assert.ok(Math.abs(sq.data[0]! - 0.2) < 1e-5 && Math.abs(sq.data[16 * 16 * 2]! - 0.6) < 1e-5);
  const f = flipHorizontal(img);
  assert.equal(f.data[0], img.data[31]);
  assert.deepEqual(flipHorizontal(f).data, img.data);
  const grid = makeGrid([img, img, img], 2, 1);
  assert.equal(grid.width, 2 * 32 + 3);
  assert.equal(grid.height, 2 * 32 + 3);
  assert.throws(() => decodeImage(Buffer.from('not an image'), 'x.png'), /x\.png: neither PNG nor JPEG/);
});
