// A fixed set of images and prompts for pinning the world's evaluator bit for bit: renders of val
// prompts of every category (clean, degraded as generated images are, heavily degraded, drowned in
// noise, and scored against another prompt), a few at 16×16 and 64×64, pure noise and flat images.
// Everything is drawn from seeded generators, so the set is the same on every run.
import { createImage, type RgbImage } from '../../src/world/image.js';
import { renderScene, renderBackground } from '../../src/world/render.js';
import { addGaussianNoise, degrade } from '../../src/world/degrade.js';
import { loadSplit } from '../../src/world/splits.js';
import { CATEGORIES } from '../../src/world/vocab.js';
import { Rng } from '../../src/world/rng.js';

export interface EvaluatorFixture {
  /** what the image is, for messages */
  label: string;
  image: RgbImage;
  /** the prompt it is scored against */
  prompt: string;
}

export function evaluatorFixtures(): EvaluatorFixture[] {
  const recs = CATEGORIES.flatMap((c) => loadSplit('val', c).slice(0, 6));
  const out: EvaluatorFixture[] = [];
  recs.forEach((r, i) => {
    const { image } = renderScene(r.spec, 1000 + i);
    const rng = new Rng(7, 'evaluator-fixtures', i);
    out.push({ label: `render ${i}`, image, prompt: r.prompt });
    out.push({ label: `degraded ${i}`, image: degrade(image, rng), prompt: r.prompt });
    out.push({ label: `heavily degraded ${i}`, image: degrade(image, rng, { noise: 0.15, blur: 1, shift: 0.08 }), prompt: r.prompt });
    out.push({ label: `noisy ${i}`, image: addGaussianNoise(image, 0.3, rng), prompt: r.prompt });
    out.push({ label: `render ${i} against prompt ${(i + 1) % recs.length}`, image, prompt: recs[(i + 1) % recs.length]!.prompt });
  });
  recs.slice(0, 6).forEach((r, i) => {
    for (const resolution of [16, 64]) {
      const { image } = renderScene(r.spec, 2000 + i, { resolution });
      out.push({ label: `render ${i} at ${resolution}`, image, prompt: r.prompt });
      out.push({ label: `degraded ${i} at ${resolution}`, image: degrade(image, new Rng(8, 'evaluator-fixtures', resolution, i)), prompt: r.prompt });
    }
  });
  for (let i = 0; i < 4; i++) {
    const rng = new Rng(9, 'evaluator-fixtures-noise', i);
    const img = createImage(32, 32);
    for (let j = 0; j < img.data.length; j++) img.data[j] = rng.float();
    out.push({ label: `uniform noise ${i}`, image: img, prompt: recs[i * 7]!.prompt });
    out.push({ label: `background ${i}`, image: renderBackground(300 + i), prompt: recs[i * 5 + 1]!.prompt });
  }
  out.push({ label: 'flat grey', image: createImage(32, 32, [0.5, 0.5, 0.5]), prompt: recs[0]!.prompt });
  out.push({ label: 'flat white', image: createImage(32, 32, [1, 1, 1]), prompt: recs[3]!.prompt });
  return out;
}
