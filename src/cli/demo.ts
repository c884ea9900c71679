// `sharpen demo`: the main job (eval/demo.ts). Prints the metrics table, the report's path and,
// last, one JSON line {"base": {...}, "finetuned": {...}, "report": "..."} (with --set seeds=…, also
// "seeds": [{"seed": …, "finetuned": {...}}, …], and "finetuned" is their mean).
import type { Command } from 'commander';
import { collect } from './args.js';


export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('RLHF-Diffusion-Sharpening of the base checkpoint with the compositional reward, base vs fine-tuned on held-out prompts, report at runs/demo/report.html')
    .option('--out <dir>', 'run folder', 'runs/demo')
    .option('--fresh', 'move an existing run in --out aside (runs/demo.<time>) and start clean; without it an existing run is resumed')
    .option('--set <key=value>', 'override a demo setting (steps, batch, lr, n, m, S, beta, seed, seeds=0,1,2 for several training seeds, reward, evalPerCategory, …); repeatable', collect, [])
    .action(async (opts: { out: string; fresh?: boolean; set: string[] }) => {
      const { runDemo, formatDemoTable } = await import('../eval/demo.js');
      const input: Record<string, unknown> = { out: opts.out };
      for (const kv of opts.set) {
        const eq = kv.indexOf('=');
        if (eq <= 0) throw new Error(`--set ${kv}: expected key=value`);
        const key = kv.slice(0, eq);
        const raw = kv.slice(eq + 1);
        const n = Number(raw);
        input[key] = raw === 'true' ? true : raw === 'false' ? false : raw.trim() !== '' && Number.isFinite(n) ? n : raw;
      }
      const r = await runDemo(input, { fresh: opts.fresh, command: ['npx', 'sharpen', ...process.argv.slice(2)] });
      console.log(formatDemoTable(r.rows, { base: Number(r.base.nfe_per_image), finetuned: Number(r.finetuned.nfe_per_image) }));
      console.log(`report: ${r.report}`);
      const seeds = r.seeds ? { seeds: r.seeds.map((x) => ({ seed: x.seed, finetuned: x.finetuned })) } : {};
      console.log(JSON.stringify({ base: r.base, finetuned: r.finetuned, ...seeds, report: r.report }));
    });
}
