// Labelled grids: labelLines 'fit' makes room for the longest label, so no prompt is cut.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { makeGrid } from '../../src/eval/grid.js';
import { GLYPH_H, wrapText } from '../../src/eval/font.js';

test("makeGrid: labelLines 'fit' draws every line of a long label; the default cuts it at 3", () => {
  const long = 'a small red circle with stripes to the left of a large blue square with dots';
  const images = torch.zeros([2, 3, 8, 8]);
  try {
    const lines = wrapText(long, 8); // cells of 8 characters (8×3 pixels < 8 characters' width)
    assert.ok(lines.length > 3);
    const cut = makeGrid(images, [long, ''], { cols: 2 });
    const fit = makeGrid(images, [long, ''], { cols: 2, labelLines: 'fit' });
    assert.equal(cut.width, fit.width);
    assert.equal(fit.height - cut.height, (lines.length - 3) * (GLYPH_H + 2));
    // ink in the last line's band of the fitted grid (the rows below the image and the first lines)
    const inkRows = (g: { width: number; height: number; data: Uint8Array }, y0: number, y1: number) => {
      let ink = 0;
      for (let y = y0; y < y1; y++) for (let x = 0; x < g.width; x++) if (g.data[(y * g.width + x) * 3] === 0) ink++;
      return ink;
    };
    const lastLineY = 4 + 8 * 3 + 4 + (lines.length - 1) * (GLYPH_H + 2);
    assert.ok(inkRows(fit, lastLineY, lastLineY + GLYPH_H) > 0, 'the last line is drawn');
    assert.equal(makeGrid(images, ['', ''], { labelLines: 'fit' }).height, makeGrid(images, ['', ''], { labelLines: 1 }).height, 'no labels: one line');
  } finally {
    images.dispose();
  }
});
