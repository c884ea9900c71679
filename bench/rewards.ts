// `npm run bench -- rewards`: images per second of each local reward at batch 32 — score()
// (no graph) and, for differentiable rewards, scoreDifferentiable() with a backward pass to the
// images — median of several runs on rendered world images of held-out prompts. A reward whose
// checkpoint is missing is listed as skipped, with the reason. One JSON line last.
import * as torch from '../src/torch/index.js';
import { makeReward, hasReward } from '../src/rewards/index.js';
import { renderScene } from '../src/world/render.js';
import { loadSplit } from '../src/world/splits.js';
import { median, printTable } from './util.js';

const REWARDS = ['compositional', 'clip', 'preference', 'aesthetic'];
const BATCH = 32;
const RUNS = 5;

export async function run(): Promise<void> {
  const recs = loadSplit('test').slice(0, BATCH * 4);
  const prompts = Array.from({ length: BATCH }, (_, i) => recs[(i * 7) % recs.length]!.prompt);
  const specs = Array.from({ length: BATCH }, (_, i) => recs[(i * 7) % recs.length]!.spec);
  const per = 3 * 32 * 32;
  const data = new Float32Array(BATCH * per);
  specs.forEach((s, i) => data.set(renderScene(s, i).image.data, i * per));
  const images = torch.fromTypedArray(data, [BATCH, 3, 32, 32]);

  const rows: (string | number)[][] = [];
  const json: Record<string, unknown> = { bench: 'rewards', batch: BATCH, runs: RUNS, threads: torch.getNumThreads() };
  for (const name of REWARDS) {
    if (!hasReward(name)) {
      rows.push([name, 'skipped: not registered', '', '']);
      json[name] = { skipped: 'not registered' };
      continue;
    }
    let reward;
    try {
      reward = await makeReward(name);
    } catch (e) {
      const why = (e as Error).message.split('\n')[0]!.slice(0, 120);
      rows.push([name, `skipped: ${why}`, '', '']);
      json[name] = { skipped: why };
      continue;
    }
    await reward.score(images, prompts); // warm-up
    const ms: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const t0 = performance.now();
      await reward.score(images, prompts);
      ms.push(performance.now() - t0);
    }
    const ips = (BATCH / median(ms)) * 1000;
    let gradIps: number | null = null;
    if (reward.differentiable && reward.scoreDifferentiable) {
      const gms: number[] = [];
      for (let r = 0; r <= RUNS; r++) {
        const x = images.clone().requiresGrad_(true);
        const t0 = performance.now();
        torch.tidy(() => reward.scoreDifferentiable!(x, prompts).sum().backward());
        if (r > 0) gms.push(performance.now() - t0);
        x.dispose();
      }
      gradIps = (BATCH / median(gms)) * 1000;
    }
    rows.push([name, ips.toFixed(1), gradIps === null ? '-' : gradIps.toFixed(1), reward.scale.kind === 'range' ? `[${reward.scale.min}, ${reward.scale.max}]` : `N(${reward.scale.mean}, ${reward.scale.std}²)`]);
    json[name] = { images_per_sec: Number(ips.toFixed(1)), grad_images_per_sec: gradIps === null ? null : Number(gradIps.toFixed(1)) };
    reward.dispose?.();
  }
  printTable(['reward', `score() images/s (batch ${BATCH})`, 'score + backward images/s', 'scale'], rows);
  console.log(JSON.stringify(json));
  images.dispose();
}
