import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScriptedAnnotator, DEFAULT_ANNOTATOR_WEIGHTS, ANNOTATOR_TERMS, paletteResidual } from '../../src/rewards/annotator.js';
import { renderScene, drawObject } from '../../src/world/render.js';
import { parsePrompt } from '../../src/world/grammar.js';
import { gaussianBlur, addGaussianNoise, colorShift } from '../../src/world/degrade.js';
import { createImage, cloneImage, type RgbImage } from '../../src/world/image.js';
import { worldScale } from '../../src/world/geometry.js';
import { COLOR_RGB } from '../../src/world/vocab.js';
import { Rng } from '../../src/world/rng.js';

const PROMPTS = ['a red circle', 'a blue square left of a green triangle', 'a small yellow striped circle', 'two purple diamonds', 'a large orange dotted square'];
const cases = PROMPTS.flatMap((prompt, i) => [0, 1, 2].map((s) => ({ prompt, img: renderScene(parsePrompt(prompt), 100 * i + s).image })));
const ann = new ScriptedAnnotator();

function meanTerm(images: RgbImage[], prompts: string[], term: (typeof ANNOTATOR_TERMS)[number]): number {
  return images.reduce((s, img, i) => s + ann.analyse(img, prompts[i]!).terms[term], 0) / images.length;
}
const prompts = cases.map((c) => c.prompt);
const clean = cases.map((c) => c.img);

test('annotator: terms lie in [0, 1] and are deterministic', () => {
  for (const { img, prompt } of cases) {
    const a = ann.analyse(img, prompt);
    const b = ann.analyse(cloneImage(img), prompt);
    assert.deepEqual(a, b);
    for (const t of ANNOTATOR_TERMS) assert.ok(a.terms[t] >= 0 && a.terms[t] <= 1, `${t} = ${a.terms[t]}`);
    assert.ok(a.foreground > 0);
  }
});

test('annotator: correctness is the evaluator score (a rendering of another prompt scores lower)', () => {
  const right = meanTerm(clean, prompts, 'correctness');
  const wrong = meanTerm(clean, prompts.map((_, i) => PROMPTS[(PROMPTS.indexOf(prompts[i]!) + 1) % PROMPTS.length]!), 'correctness');
  assert.ok(right > 0.9, `correct renderings: ${right}`);
  assert.ok(wrong < right - 0.3, `wrong prompt ${wrong} vs ${right}`);
  // no prompt: correctness is not judged
  assert.equal(ann.analyse(clean[0]!, null).terms.correctness, 0);
});

test('annotator: crispness falls as blur grows', () => {
  const c0 = meanTerm(clean, prompts, 'crispness');
  const c1 = meanTerm(clean.map((im) => gaussianBlur(im, 0.8)), prompts, 'crispness');
  const c2 = meanTerm(clean.map((im) => gaussianBlur(im, 1.6)), prompts, 'crispness');
  assert.ok(c0 > c1 + 0.05 && c1 > c2 + 0.05, `crispness ${c0} > ${c1} > ${c2}`);
});

test('annotator: colour falls with a colour shift and with desaturation', () => {
  const c0 = meanTerm(clean, prompts, 'colour');
  const shifted = meanTerm(clean.map((im, i) => colorShift(im, 0.12, new Rng(i))), prompts, 'colour');
  const grey = clean.map((im) => {
    const out = cloneImage(im);
    const n = im.width * im.height;
    for (let i = 0; i < n; i++) {
      const l = (im.data[i]! + im.data[n + i]! + im.data[2 * n + i]!) / 3;
      for (let c = 0; c < 3; c++) out.data[c * n + i] = 0.5 * im.data[c * n + i]! + 0.5 * l;
    }
    return out;
  });
  const desat = meanTerm(grey, prompts, 'colour');
  assert.ok(shifted < c0 - 0.1, `shifted ${shifted} vs ${c0}`);
  assert.ok(desat < c0 - 0.3, `desaturated ${desat} vs ${c0}`);
  // a palette colour and its dark shade are exact; grey is far from every colour
  assert.ok(paletteResidual(...COLOR_RGB.red) < 1e-6);
  assert.ok(paletteResidual(...(COLOR_RGB.blue.map((v) => 0.3 * v) as [number, number, number])) < 1e-6);
  assert.ok(paletteResidual(0.5, 0.5, 0.5) > 0.2);
});

test('annotator: framing falls when an object is cut by the border', () => {
  const s = worldScale(32);
  const place = (cx: number, cy: number) => {
    const img = createImage(32, 32, [0.92, 0.92, 0.92]);
    drawObject(img, { entity: 0, shape: 'square', color: 'red', size: 'large', texture: 'plain', side: 12, cx, cy }, s, COLOR_RGB.red);
    return img;
  };
  const centred = ann.analyse(place(16, 16), 'a red square').terms.framing;
  const atEdge = ann.analyse(place(4, 16), 'a red square').terms.framing;
  const cut = ann.analyse(place(1, 1), 'a red square').terms.framing;
  assert.equal(centred, 1);
  assert.ok(atEdge < centred && cut < atEdge, `framing ${centred} > ${atEdge} > ${cut}`);
});

test('annotator: artefacts fall with background noise and with stray specks', () => {
  const a0 = meanTerm(clean, prompts, 'artefacts');
  const noisy = meanTerm(clean.map((im, i) => addGaussianNoise(im, 0.05, new Rng(i))), prompts, 'artefacts');
  assert.ok(noisy < a0 - 0.3, `noisy ${noisy} vs clean ${a0}`);
  const flat = createImage(32, 32, [0.92, 0.92, 0.92]);
  drawObject(flat, { entity: 0, shape: 'circle', color: 'blue', size: 'large', texture: 'plain', side: 12, cx: 16, cy: 16 }, worldScale(32), COLOR_RGB.blue);
  const specked = cloneImage(flat);
  for (const [x, y] of [[3, 3], [27, 4], [4, 27], [28, 28]]) for (let c = 0; c < 3; c++) specked.data[c * 1024 + y! * 32 + x!] = 0.1;
  const f = ann.analyse(flat, 'a blue circle').terms.artefacts;
  const sp = ann.analyse(specked, 'a blue circle').terms.artefacts;
  assert.ok(f > 0.95, `flat background ${f}`);
  assert.ok(sp < f - 0.3, `specks ${sp} vs ${f}`);
});

test('annotator: ratings in [1, 10]; degraded images rate lower; the prompt-free rating ignores the prompt', () => {
  for (let i = 0; i < cases.length; i++) {
    const { img, prompt } = cases[i]!;
    const bad = addGaussianNoise(gaussianBlur(img, 1.5), 0.06, new Rng(i));
    const r = ann.rate(img, prompt);
    const rb = ann.rate(bad, prompt);
    assert.ok(r.rating >= 1 && r.rating <= 10 && rb.rating >= 1 && rb.rating <= 10);
    assert.ok(r.rating > rb.rating, `${prompt}: ${r.rating} vs degraded ${rb.rating}`);
    assert.ok(Math.abs(r.rating - (1 + 9 * r.utility)) < 1e-9);
    assert.equal(ann.rate(img).rating, ann.rate(img).rating);
  }
  // prompt-free: correctness has no weight, so a wrong prompt cannot matter
  const { img } = cases[0]!;
  const free = ann.rate(img);
  const w = DEFAULT_ANNOTATOR_WEIGHTS;
  const u = (w.crispness * free.terms.crispness + w.colour * free.terms.colour + w.framing * free.terms.framing + w.artefacts * free.terms.artefacts) / (1 - w.correctness);
  assert.ok(Math.abs(free.utility - u) < 1e-12);
});

test('annotator: choices prefer the better image, mirror when swapped, tie on equal images', () => {
  for (let i = 0; i < cases.length; i++) {
    const { img, prompt } = cases[i]!;
    const bad = addGaussianNoise(gaussianBlur(img, 1.5), 0.06, new Rng(i));
    assert.equal(ann.choose(img, bad, prompt).choice, 'A');
    assert.equal(ann.choose(bad, img, prompt).choice, 'B');
    assert.equal(ann.choose(img, cloneImage(img), prompt).choice, 'tie');
  }
  // a wide tie band makes a small difference a tie
  const { img, prompt } = cases[1]!;
  const slightly = addGaussianNoise(img, 0.01, new Rng(5));
  const d = Math.abs(ann.choose(img, slightly, prompt).margin);
  assert.equal(new ScriptedAnnotator({ tieBand: d + 1e-3 }).choose(img, slightly, prompt).choice, 'tie');
});

test('annotator: rater noise is seeded by the inputs, mirrors under a swap, and flips close calls', () => {
  const noisy = new ScriptedAnnotator({ noise: 0.2, seed: 3 });
  assert.match(noisy.name, /noise/);
  let flips = 0;
  for (let i = 0; i < cases.length; i++) {
    const { img, prompt } = cases[i]!;
    const other = addGaussianNoise(img, 0.02, new Rng(i));
    const c1 = noisy.choose(img, other, prompt);
    const c2 = noisy.choose(img, other, prompt);
    assert.equal(c1.margin, c2.margin);
    const sw = noisy.choose(other, img, prompt);
    assert.ok(Math.abs(c1.margin + sw.margin) < 1e-12);
    if (Math.sign(c1.margin) !== Math.sign(c1.utilityA - c1.utilityB)) flips++;
  }
  assert.ok(flips > 0, 'σ = 0.2 should flip some close calls');
});

test('annotator: bad options and inputs are clear errors', () => {
  assert.throws(() => new ScriptedAnnotator({ weights: { correctness: 0.9 } }), /sum to 1/);
  assert.throws(() => new ScriptedAnnotator({ weights: { beauty: 0.1 } as never }), /unknown weight 'beauty'/);
  assert.throws(() => new ScriptedAnnotator({ noise: -1 }), /noise/);
  assert.throws(() => new ScriptedAnnotator({ colour: 1 } as never), /unknown option 'colour'/);
  assert.throws(() => ann.rate({ width: 4, height: 4, data: new Float32Array(48) }), /at least 8×8/);
  const nan = cloneImage(clean[0]!);
  nan.data[7] = NaN;
  assert.throws(() => ann.rate(nan), /non-finite/);
  assert.throws(() => ann.choose(clean[0]!, clean[1]!, 'a red elephant'), /cannot judge the prompt/);
});

test('annotator: clutter (an image with hardly any background) has the worst artefacts score', () => {
  const rng = new Rng(1);
  const junk = createImage(32, 32);
  for (let i = 0; i < junk.data.length; i++) junk.data[i] = rng.float();
  const t = ann.analyse(junk, 'a red circle').terms;
  assert.equal(t.artefacts, 0);
  assert.ok(ann.rate(junk).rating < 6, `random pixels rate ${ann.rate(junk).rating}`);
});
