// A markdown table of paired differences to one base, for several `sharpen eval --samples` files of
// the same prompts and initial noises (e.g. several methods and training seeds): per file, each
// metric's mean and its difference to the base, mean over prompts with the 95% interval
// (src/eval/stats.ts pairedDifference, as scripts/paired.ts and the comparison table).
// Comma-separated files (the base or a row: e.g. one method's runs with several training seeds) are
// pooled: each prompt's value is the mean over the files of its per-file mean.
// The base may be labelled as the rows are (default label: base). For the rows of several files a
// second table gives each metric's difference per file and their mean with the 95% t interval over
// the files (over training seeds, when the files are one method's seeds: docs/architecture.md "Measuring").
//   node --import tsx scripts/paired-table.ts [LABEL=]BASE.jsonl[,…] LABEL=FILE.jsonl[,FILE.jsonl…] […]
import { assertPaired, readSamples } from '../src/eval/compare.js';
import { pooledPerPromptMeans } from '../src/eval/model-eval.js';
import { meanInterval, meanOfValues, pairedDifference } from '../src/eval/stats.js';

const [baseFile, ...rows] = process.argv.slice(2);
if (!baseFile || rows.length === 0 || rows.some((r) => !/^[^=]+=.+/.test(r))) {
  console.error('usage: node --import tsx scripts/paired-table.ts [LABEL=]BASE.jsonl[,…] LABEL=FILE.jsonl[,FILE.jsonl…] […]');
  process.exit(2);
}
try {
  const read = (files: string) => files.split(',').map((file) => ({ file, samples: readSamples(file) }));
  const baseAt = /^[^=]+=.+/.test(baseFile) ? baseFile.indexOf('=') : -1;
  const baseLabel = baseAt < 0 ? 'base' : baseFile.slice(0, baseAt);
  const baseRuns = read(baseFile.slice(baseAt + 1));
  const base = baseRuns[0]!.samples;
  const others = rows.map((r) => {
    const at = r.indexOf('=');
    return { label: r.slice(0, at), runs: read(r.slice(at + 1)) };
  });
  for (const { file, samples } of [...baseRuns.slice(1), ...others.flatMap((o) => o.runs)]) {
    assertPaired(base, samples, baseRuns[0]!.file, file);
  }
  /** each prompt's mean over the runs of its per-run mean */
  const pooled = (runs: { samples: typeof base }[], k: string) => pooledPerPromptMeans(runs.map((r) => r.samples), k);
  const metrics = ['compositional', ...new Set(base.flatMap((s) => Object.keys(s.metrics)))];
  const f = (v: number, d: number) => (v >= 0 ? '+' : '−') + Math.abs(v).toFixed(d);
  const digits = (k: string) => (k === 'clip' ? 2 : k === 'compositional' ? 4 : 3);
  const average = (m: Map<string, number>) => meanOfValues(m) ?? NaN;
  console.log(`| run | ${metrics.map((k) => `${k} | Δ ${k} [95%]`).join(' | ')} |`);
  console.log(`|---|${metrics.map(() => '---|---|').join('')}`);
  console.log(`| ${baseLabel} | ${metrics.map((k) => `${average(pooled(baseRuns, k)).toFixed(digits(k))} | `).join(' | ')} |`);
  for (const { label, runs } of others) {
    const cells = metrics.map((k) => {
      const mine = pooled(runs, k);
      const i = pairedDifference(pooled(baseRuns, k), mine);
      const d = digits(k);
      return `${average(mine).toFixed(d)} | ${f(i.mean, d)} [${f(i.lo, d)}, ${f(i.hi, d)}]`;
    });
    console.log(`| ${label} | ${cells.join(' | ')} |`);
  }
  const pooledRows = others.filter((o) => o.runs.length > 1);
  if (pooledRows.length > 0) {
    console.log(`\nover the files of a row (each file's Δ, then their mean [95% t interval over files])\n`);
    console.log(`| run | ${metrics.map((k) => `Δ ${k} per file | mean [95%]`).join(' | ')} |`);
    console.log(`|---|${metrics.map(() => '---|---|').join('')}`);
    for (const { label, runs } of pooledRows) {
      const cells = metrics.map((k) => {
        const baseMean = average(pooled(baseRuns, k));
        const deltas = runs.map((r) => average(pooled([r], k)) - baseMean);
        const i = meanInterval(deltas);
        const d = digits(k);
        return `${deltas.map((v) => f(v, d)).join(', ')} | ${f(i.mean, d)} [${f(i.lo, d)}, ${f(i.hi, d)}]`;
      });
      console.log(`| ${label} | ${cells.join(' | ')} |`);
    }
  }
} catch (e) {
  console.error(`paired-table: ${(e as Error).message}`);
  process.exit(1);
}
