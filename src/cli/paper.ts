// `sharpen paper`: the paper's experiments on the embedded world from one command (src/eval/paper/):
// Table 1, Tables 2–3, Figures 3/9, 4, 5 and 6, in one self-contained HTML report. Resumable: run
// it again after any interruption and finished cells are not recomputed. Prints the report's path
// and, last, one JSON line {"report", "done", "total", "computed", "errors"}.
import { Option, type Command } from 'commander';
import { collect, int } from './args.js';
import { checkOutputDir } from '../util/output-path.js';

export function registerPaperCommand(program: Command): void {
  program
    .command('paper')
    .description("the paper's experiments (Table 1, Tables 2–3, Figures 3/9, 4–6) on the embedded world, resumable, into one HTML report")
    .addOption(new Option('--profile <name>', 'tiny (test-size model, minutes), quick (shipped base, about 40 minutes on 2 cores), full (hours)').choices(['tiny', 'quick', 'full']).default('quick'))
    .option('--out <dir>', 'the report and the cells\' results (default: results/paper for full, runs/paper-<profile> otherwise)')
    .option('--work <dir>', 'run folders and models, large (default: runs/paper-<profile>-work)')
    .option('--store <file>', 'the SQLite run store of the training runs', 'runs/store.sqlite')
    .option('--set <key=value>', 'override a profile key (steps, seeds, lrs=[…], test.perCategory, …); repeatable', collect, [])
    .option('--max-cells <n>', 'stop after computing this many cells (0: compute nothing, only write the report of what is done)', int('max-cells', { min: 0 }))
    .option('--jobs <n>', 'cells run at once, each in its own process with cores / n libtorch threads (for many cores)', int('jobs', { min: 1 }), 1)
    .action(async (o: { profile: string; out?: string; work?: string; store: string; set: string[]; maxCells?: number; jobs: number }) => {
      const { runPaper } = await import('../eval/paper/run.js');
      const { resolveProfile } = await import('../eval/paper/profiles.js');
      const { applyOverride } = await import('../util/config.js');
      const overrides: Record<string, unknown> = {};
      for (const kv of o.set) applyOverride(overrides, kv);
      const profile = resolveProfile(o.profile, overrides);
      const out = o.out ?? (o.profile === 'full' ? 'results/paper' : `runs/paper-${o.profile}`);
      const work = o.work ?? `runs/paper-${o.profile}-work`;
      checkOutputDir(out, '--out');
      checkOutputDir(work, '--work');
      const r = await runPaper({ profile, out, work, store: o.store, command: ['npx', 'sharpen', ...process.argv.slice(2)], jobs: o.jobs, ...(o.maxCells !== undefined ? { maxCells: o.maxCells } : {}) });
      console.log(`report: ${r.report}`);
      console.log(JSON.stringify({ report: r.report, done: r.done, total: r.total, computed: r.computed.length, errors: r.errors }));
      if (r.errors.length) process.exitCode = 1;
    });
}
