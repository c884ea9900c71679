// Agreement of a preference checkpoint with the labels of a label directory, on its held-out pairs
// (the prompts that hash into the held-out fraction, as train-preference splits them) or on all:
// the share of decided pairs whose choice the model's scores agree with, and with ties counted ½.
// It lets two checkpoints trained on different label sets be compared on the same pairs.
//   node --import tsx scripts/preference-agreement.ts CKPT LABEL_DIR [--all] [--held-out 0.15]
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import { loadPairData } from '../src/train/reward-models.js';
import { PreferenceReward } from '../src/rewards/preference.js';
import { pairAgreement } from '../src/models/preference.js';

const args = process.argv.slice(2);
const [ckpt, labels] = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--held-out');
const hoIdx = args.indexOf('--held-out');
const fraction = hoIdx >= 0 ? Number(args[hoIdx + 1]) : 0.15;
if (!ckpt || !labels || !(fraction > 0 && fraction < 1)) {
  console.error('usage: node --import tsx scripts/preference-agreement.ts CKPT LABEL_DIR [--all] [--held-out FRACTION in (0, 1)]');
  process.exit(2);
}
try {
  const data = loadPairData(join(labels, 'pairs.jsonl'), fraction);
  const keep = data.choices.map((_, k) => k).filter((k) => args.includes('--all') || data.heldOut[k]);
  if (keep.length === 0) throw new Error(`${labels}: no pairs selected`);
  const reward = await PreferenceReward.load({ ckpt });
  // each (image, prompt) scored once, though an image stands in several pairs
  const jobs = new Map<string, { image: number; prompt: string }>();
  const keyOf = (image: number, prompt: string) => `${image}\u0000${prompt}`;
  for (const k of keep) {
    for (const image of [data.a[k]!, data.b[k]!]) jobs.set(keyOf(image, data.prompts[k]!), { image, prompt: data.prompts[k]! });
  }
  const list = [...jobs.values()];
  const images = torch.tidy(() => torch.stack(list.map((j) => data.images.select(0, j.image))));
  let scores: number[];
  try {
    scores = (await reward.score(images, list.map((j) => j.prompt))).scores;
  } finally {
    images.dispose();
  }
  const scoreOf = new Map([...jobs.keys()].map((key, i) => [key, scores[i]!]));
  const of = (idx: Int32Array) => keep.map((k) => scoreOf.get(keyOf(idx[k]!, data.prompts[k]!))!);
  const ag = pairAgreement(of(data.a), of(data.b), keep.map((k) => data.choices[k]!));
  console.log(JSON.stringify({ ckpt, labels, heldOutOnly: !args.includes("--all"), ...ag }));
} catch (e) {
  console.error(`preference-agreement: ${(e as Error).message}`);
  process.exit(1);
}
