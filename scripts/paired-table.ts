// A markdown table of paired differences to one base, for several `sharpen eval --samples` files of
// the same prompts and initial noises (e.g. several methods and training seeds): per file, each
// metric's mean and its difference to the base, mean over prompts with the 95% interval
// (src/eval/stats.ts pairedDifference, as scripts/paired.ts and the comparison table).
//   node --import tsx scripts/paired-table.ts BASE.jsonl LABEL=FILE.jsonl [LABEL=FILE.jsonl …]
import { assertPaired, readSamples } from '../src/eval/compare.js';
import { perPromptMeans } from '../src/eval/model-eval.js';
import { pairedDifference } from '../src/eval/stats.js';

const [baseFile, ...rows] = process.argv.slice(2);
if (!baseFile || rows.length === 0 || rows.some((r) => !/^[^=]+=.+/.test(r))) {
  console.error('usage: node --import tsx scripts/paired-table.ts BASE.jsonl LABEL=FILE.jsonl [LABEL=FILE.jsonl …]');
  process.exit(2);
}
try {
  const base = readSamples(baseFile);
  const others = rows.map((r) => {
    const at = r.indexOf('=');
    const file = r.slice(at + 1);
    const samples = readSamples(file);
    assertPaired(base, samples, baseFile, file);
    return { label: r.slice(0, at), samples };
  });
  const metrics = ['compositional', ...new Set(base.flatMap((s) => Object.keys(s.metrics)))];
  const f = (v: number, d: number) => (v >= 0 ? '+' : '−') + Math.abs(v).toFixed(d);
  const digits = (k: string) => (k === 'clip' ? 2 : k === 'compositional' ? 4 : 3);
  const average = (samples: typeof base, k: string) => {
    const v = [...perPromptMeans(samples, k).values()];
    return v.reduce((a, c) => a + c, 0) / v.length;
  };
  console.log(`| run | ${metrics.map((k) => `${k} | Δ ${k} [95%]`).join(' | ')} |`);
  console.log(`|---|${metrics.map(() => '---|---|').join('')}`);
  console.log(`| base | ${metrics.map((k) => `${average(base, k).toFixed(digits(k))} | `).join(' | ')} |`);
  for (const { label, samples } of others) {
    const cells = metrics.map((k) => {
      const i = pairedDifference(perPromptMeans(base, k), perPromptMeans(samples, k));
      const d = digits(k);
      return `${average(samples, k).toFixed(d)} | ${f(i.mean, d)} [${f(i.lo, d)}, ${f(i.hi, d)}]`;
    });
    console.log(`| ${label} | ${cells.join(' | ')} |`);
  }
} catch (e) {
  console.error(`paired-table: ${(e as Error).message}`);
  process.exit(1);
}
