// Paired differences between two `sharpen eval --samples` files of the same prompts and initial
// noises (e.g. a base and a fine-tuned model): for the compositional score and every metric, the
// mean over prompts of (OTHER − BASE) with its 95% interval, then the compositional score by
// category. The same statistics as the comparison table (src/eval/compare.ts).
//   node --import tsx scripts/paired.ts BASE.jsonl OTHER.jsonl
import { assertPaired, readSamples } from '../src/eval/compare.js';
import { perPromptMeans, type EvalSample } from '../src/eval/model-eval.js';
import { pairedDifference } from '../src/eval/stats.js';

const [baseFile, otherFile] = process.argv.slice(2);
if (!baseFile || !otherFile) {
  console.error('usage: node --import tsx scripts/paired.ts BASE.jsonl OTHER.jsonl');
  process.exit(2);
}
try {
  const base = readSamples(baseFile);
  const other = readSamples(otherFile);
  assertPaired(base, other, baseFile, otherFile);
  const line = (name: string, a: EvalSample[], b: EvalSample[], key: string) => {
    const i = pairedDifference(perPromptMeans(a, key), perPromptMeans(b, key));
    const f = (v: number) => (v >= 0 ? '+' : '') + v.toFixed(4);
    console.log(`${name.padEnd(16)} ${f(i.mean)} [${f(i.lo)}, ${f(i.hi)}]`);
  };
  const metrics = [...new Set(base.flatMap((s) => Object.keys(s.metrics)))];
  console.log(`${otherFile} − ${baseFile}, paired over prompts`);
  for (const k of ['compositional', ...metrics]) line(k, base, other, k);
  for (const c of [...new Set(base.map((s) => s.category))]) {
    line(`  ${c}`, base.filter((s) => s.category === c), other.filter((s) => s.category === c), 'compositional');
  }
} catch (e) {
  console.error(`paired: ${(e as Error).message}`);
  process.exit(1);
}
