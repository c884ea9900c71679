// `sharpen demo`: the main job (eval/demo.ts). Prints the metrics table, the report's path and,
// last, one JSON line {"base": {...}, "finetuned": {...}, "report": "..."} (with --set seeds=…, also
// "seeds": [{"seed": …, "finetuned": {...}}, …], and "finetuned" is their mean).
import type { Command } from 'commander';
import { collect } from './args.js';


export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('the main job: fine-tunes the base checkpoint with the preset configs/demo.yaml (RLHF-Diffusion-Sharpening, compositional reward), base vs fine-tuned on held-out prompts, report at runs/demo/report.html')
    .option('--out <dir>', 'run folder', 'runs/demo')
    .option('--config <file>', 'the fine-tuning preset (flat finetune config keys)', 'configs/demo.yaml')
    .option('--fresh', 'move an existing run in --out aside (runs/demo.<time>) and start clean; without it an existing run is resumed')
    .option('--set <key=value>', 'override a key of the preset (steps, lr, n, m, S, beta, rankBy, …) or a demo setting (seed, seeds=0,1,2 for several training seeds, evalPerCategory, …); repeatable', collect, [])
    .action(async (opts: { out: string; config: string; fresh?: boolean; set: string[] }) => {
      const { runDemo, formatDemoTable } = await import('../eval/demo.js');
      const { applyOverride } = await import('../util/config.js');
      const input: Record<string, unknown> = { out: opts.out, config: opts.config };
      for (const kv of opts.set) applyOverride(input, kv);
      const r = await runDemo(input, { fresh: opts.fresh, command: ['npx', 'sharpen', ...process.argv.slice(2)] });
      console.log(formatDemoTable(r.rows, { base: Number(r.base.nfe_per_image), finetuned: Number(r.finetuned.nfe_per_image) }));
      console.log(`report: ${r.report}`);
      const seeds = r.seeds ? { seeds: r.seeds.map((x) => ({ seed: x.seed, finetuned: x.finetuned })) } : {};
      console.log(JSON.stringify({ base: r.base, finetuned: r.finetuned, ...seeds, report: r.report }));
    });
}
