// An image folder (metadata.jsonl, the format `finetune --data DIR` reads) of a checkpoint's own
// best samples: for each prompt of a split, K images from the checkpoint's sampler, scored with the
// world's compositional evaluator; the best of the K is kept when its score reaches MIN. This is
// reward-filtered self-training data (the "best-of-K" datasets of RAFT, Dong et al. 2023, §3): data
// the checkpoint can reach but does not produce every time, on which plain fine-tuning is expected
// to raise the reward. Used to compare SFT-Sharpening with standard fine-tuning on such data
// (results/sharpening/README.md, "SFT-Sharpening against standard fine-tuning on best-of-4 self-samples").
//   node --import tsx scripts/best-of-folder.ts OUT [CKPT] [PER_CATEGORY] [K] [MIN] [SEED]
// (defaults: checkpoints/base 100 4 1 0; the train split; the checkpoint's sampling settings)
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import { TextToImageModel } from '../src/models/t2i.js';
import { generate } from '../src/models/generate.js';
import { selectPrompts, tensorToRgbImages } from '../src/eval/model-eval.js';
import { evaluateImage } from '../src/world/evaluate.js';
import { writePng } from '../src/world/image.js';
import { Progress } from '../src/util/progress.js';
import { repeatEach } from '../src/util/arrays.js';
import { selectPerExample } from '../src/train/rollout.js';

const [out, ckpt = 'checkpoints/base', perCatArg = '100', kArg = '4', minArg = '1', seedArg = '0'] = process.argv.slice(2);
const perCategory = Number(perCatArg);
const K = Number(kArg);
const minScore = Number(minArg);
const seed = Number(seedArg);
if (!out || !Number.isInteger(perCategory) || perCategory < 1 || !Number.isInteger(K) || K < 1
  || !Number.isFinite(minScore) || !Number.isInteger(seed)) {
  console.error('usage: node --import tsx scripts/best-of-folder.ts OUT [CKPT] [PER_CATEGORY ≥ 1] [K ≥ 1] [MIN score] [SEED]');
  process.exit(2);
}
if (existsSync(out) && readdirSync(out).length > 0) {
  console.error(`${out}: exists and is not empty; choose a new folder`);
  process.exit(2);
}
// written under OUT.partial and renamed when complete: a killed run leaves no folder that looks whole
const partial = `${out}.partial`;
if (existsSync(partial)) {
  console.error(`removing ${partial}, an earlier run's unfinished folder`);
  rmSync(partial, { recursive: true });
}

const model = await TextToImageModel.load(ckpt);
model.train(false);
const prompts = selectPrompts('train', perCategory);
torch.manualSeed(seed);
mkdirSync(partial, { recursive: true });
const lines: string[] = [];
const perChunk = Math.max(1, Math.floor(32 / K));
let scoreSum = 0;
let bestSum = 0;
const bar = new Progress({ total: prompts.length, label: `best of ${K}`, unit: 'prompt' });
for (let i = 0; i < prompts.length; i += perChunk) {
  const chunk = prompts.slice(i, i + perChunk);
  const rows = repeatEach(chunk, K); // row j·K + k: sample k of prompt j
  const r = generate(model, rows.map((p) => p.prompt));
  const imgs = tensorToRgbImages(r.images);
  r.images.dispose();
  const scores = imgs.map((img, k) => evaluateImage(img, rows[k]!.prompt, rows[k]!.category).score);
  const { best } = selectPerExample(scores, chunk.length, K); // ties: the first sample
  scoreSum += scores.reduce((a, b) => a + b, 0);
  chunk.forEach((p, j) => {
    const top = scores[j * K + best[j]!]!;
    bestSum += top;
    if (top < minScore) return;
    const file = `${String(i + j).padStart(5, '0')}.png`;
    writePng(join(partial, file), imgs[j * K + best[j]!]!);
    lines.push(JSON.stringify({ file_name: file, text: p.prompt, category: p.category, seen: p.seen, score: top }));
  });
  bar.update(Math.min(prompts.length, i + perChunk));
}
bar.finish();
if (lines.length === 0) {
  rmSync(partial, { recursive: true });
  console.error(`no prompt reached score ${minScore} in ${K} samples; nothing written`);
  process.exit(1);
}
writeFileSync(join(partial, 'metadata.jsonl'), lines.join('\n') + '\n');
if (existsSync(out)) rmSync(out, { recursive: true }); // empty (checked above)
renameSync(partial, out);
const n = prompts.length;
console.log(`${ckpt}: ${n} train prompts × ${K} samples; mean score ${(scoreSum / (n * K)).toFixed(4)}, best of ${K} ${(bestSum / n).toFixed(4)}; `
  + `kept ${lines.length} (best ≥ ${minScore}) in ${out}`);
model.dispose();
