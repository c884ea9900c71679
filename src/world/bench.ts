// Rendering (and evaluation) speed on one core: renders the train split's prompts, in order,
// for a fixed time. `sharpen world bench` prints the result.
import { renderScene } from './render.js';
import { detectObjects } from './evaluate.js';
import { loadSplit } from './splits.js';
import type { SceneSpec } from './spec.js';

export interface BenchResult {
  resolution: number;
  images: number;
  seconds: number;
  imagesPerSecond: number;
  /** evaluator speed on the same images (detections per second) */
  evaluationsPerSecond: number;
}

export function benchRender(opts: { seconds?: number; resolution?: number; specs?: SceneSpec[] } = {}): BenchResult {
  const seconds = opts.seconds ?? 2;
  const resolution = opts.resolution ?? 32;
  const specs = opts.specs ?? loadSplit('train').map((r) => r.spec);
  // warm up the JIT
  for (let i = 0; i < 200; i++) renderScene(specs[i % specs.length]!, i, { resolution });
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < seconds * 1000) {
    for (let k = 0; k < 100; k++, n++) renderScene(specs[n % specs.length]!, n, { resolution });
    t = performance.now();
  }
  const renderSeconds = (t - t0) / 1000;
  const images = Array.from({ length: 300 }, (_, i) => renderScene(specs[i % specs.length]!, i, { resolution }).image);
  const e0 = performance.now();
  for (const img of images) detectObjects(img);
  const evalSeconds = (performance.now() - e0) / 1000;
  return { resolution, images: n, seconds: renderSeconds, imagesPerSecond: n / renderSeconds, evaluationsPerSecond: images.length / evalSeconds };
}
