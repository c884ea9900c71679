// `sharpen finetune`: fine-tunes a base checkpoint with a registered method (train/loop.ts).
//   npx sharpen finetune --method rlhf-sharpening --reward compositional --steps 300 --out runs/x --seed 0
// The config is flat (the loop's fields and the method's options side by side); it is built from
// --config FILE (YAML), then the flags, then --set key=value overrides, and checked whole.
import type { Command } from 'commander';
import { collect, count, int, num, seed } from './args.js';

/** A learning rate: a finite number > 0. */
function learningRate(v: string): number {
  const n = num('lr')(v);
  if (n <= 0) throw new Error(`--lr must be a number > 0, got '${v}'`);
  return n;
}


interface FinetuneFlags {
  method?: string;
  reward?: string;
  steps?: number;
  out?: string;
  seed?: number;
  base?: string;
  data?: string;
  loraRank?: number;
  gradPath?: string;
  checkpointEvery?: number;
  evalEvery?: number;
  lr?: number;
  batch?: number;
  store?: string;
  resume?: boolean;
  resumeFrom?: string;
  config?: string;
  set: string[];
}

/** The raw config of a command line: the file, then the flags, then the --set overrides. */
export async function finetuneInputFromFlags(opts: FinetuneFlags): Promise<Record<string, unknown>> {
  const { readFileSync } = await import('node:fs');
  const { parse } = await import('yaml');
  const { applyOverride } = await import('../util/config.js');
  let raw: Record<string, unknown> = {};
  if (opts.config) {
    let text: string;
    try {
      text = readFileSync(opts.config, 'utf8');
    } catch (e) {
      throw new Error(`--config ${opts.config}: cannot read (${(e as Error).message})`);
    }
    let parsed: unknown;
    try {
      parsed = parse(text);
    } catch (e) {
      throw new Error(`--config ${opts.config}: not valid YAML (${(e as Error).message})`);
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`--config ${opts.config}: expected a mapping of config keys`);
      raw = parsed as Record<string, unknown>;
    }
  }
  const flags: Record<string, unknown> = {
    method: opts.method, reward: opts.reward, steps: opts.steps, out: opts.out, seed: opts.seed, base: opts.base, data: opts.data,
    loraRank: opts.loraRank, gradPath: opts.gradPath, checkpointEvery: opts.checkpointEvery, evalEvery: opts.evalEvery, lr: opts.lr, batch: opts.batch, store: opts.store,
  };
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) raw[k] = v;
  for (const s of opts.set) applyOverride(raw, s);
  return raw;
}

export function registerFinetuneCommands(program: Command): void {
  program
    .command('finetune')
    .description('fine-tune a base checkpoint with a method (rlhf-sharpening, sft-sharpening, standard-ft, …); resumable; writes a model sample/eval accept')
    .option('--method <name>', 'the fine-tuning method')
    .option('--reward <name>', 'the reward, by name (methods that use one)')
    .option('--steps <n>', 'optimizer steps (default 300)', count('steps'))
    .option('--out <dir>', 'the run folder (refused when it holds another run, unless --resume)')
    .option('--seed <n>', 'random seed (default 0)', seed('seed'))
    .option('--base <dir>', 'the starting checkpoint (default checkpoints/base)')
    .option('--data <world|dir>', "'world' (default) or a folder with metadata.jsonl")
    .option('--lora-rank <r>', 'LoRA rank on the UNet; 0 = full fine-tuning (default)', int('lora-rank', { min: 0 }))
    .option('--grad-path <path>', "sharpening: 'recompute' (default) or 'full'")
    .option('--checkpoint-every <n>', 'checkpoint every n steps (default 50)', count('checkpoint-every'))
    .option('--eval-every <k>', 'the held-out curve: score the policy on fixed val prompts every k steps (and at 0 and the end) into <out>/eval.jsonl; 0 = off (default)', int('eval-every', { min: 0 }))
    .option('--lr <lr>', 'learning rate (default 5e-5)', learningRate)
    .option('--batch <b>', 'examples per micro-batch (default 4)', count('batch'))
    .option('--store <file>', 'the SQLite run store (default runs/store.sqlite)')
    .option('--resume', 'continue the run in --out from its last checkpoint (the config may differ only in steps; the folder may have moved)')
    .option('--resume-from <checkpoint-N>', 'continue from this checkpoint of --out instead of the latest (when the latest is broken; implies --resume)')
    .option('--config <file>', 'a YAML file of config keys (flat: the loop\'s and the method\'s)')
    .option('--set <key=value>', 'override one config key, e.g. --set beta=1000 (repeatable)', collect, [])
    .action(async (opts: FinetuneFlags) => {
      const { finetune, resolveFinetuneConfig } = await import('../train/loop.js');
      const raw = await finetuneInputFromFlags(opts);
      if (raw.out === undefined) throw new Error('--out is required (the run folder)');
      resolveFinetuneConfig(raw); // checks it before anything is loaded
      const ac = new AbortController();
      let interrupts = 0;
      const onSigint = () => {
        if (++interrupts > 1) process.exit(130);
        console.error('finetune: interrupted; saving a checkpoint after this step (Ctrl-C again to quit at once)');
        ac.abort();
      };
      process.on('SIGINT', onSigint);
      try {
        const r = await finetune(raw as Parameters<typeof finetune>[0], {
          resume: Boolean(opts.resume) || opts.resumeFrom !== undefined, ...(opts.resumeFrom !== undefined ? { resumeFrom: opts.resumeFrom } : {}), signal: ac.signal, command: ['sharpen', ...process.argv.slice(2)],
        });
        console.log(JSON.stringify(r.summary));
      } catch (e) {
        if ((e as Error).name === 'AbortError') {
          console.error((e as Error).message);
          process.exit(130);
        }
        throw e;
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}
