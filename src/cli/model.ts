// Commands over the text-to-image model: pretrain, sample.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { collect, count, guidance, num, seed, MAX_GUIDANCE } from './args.js';
import { checkOutputDir, checkOutputFile } from '../util/output-path.js';
import { repeatEach } from '../util/arrays.js';


export function registerModelCommands(program: Command): void {
  registerPretrain(program);
  registerSample(program);
  registerModelEval(program);
}

/** `pretrain`: pretrain the text-to-image model on the embedded world (resumes from output.dir when interrupted). */
function registerPretrain(program: Command): void {
  program
    .command('pretrain')
    .description('pretrain the text-to-image model on the embedded world (resumes from output.dir when interrupted)')
    .requiredOption('--config <file>', 'YAML config (e.g. configs/base.yaml)')
    .option('--set <key=value>', 'override a config field, e.g. --set train.steps=100 (repeatable)', collect, [])
    .option('--export <dir>', 'when finished, copy the EMA checkpoint here (e.g. checkpoints/base)')
    .option('--resume-from <checkpoint>', 'continue from this checkpoint (checkpoint-N or N) instead of latest, e.g. when latest is broken')
    .option('--store <file>', 'the SQLite run store where the run is recorded (default runs/store.sqlite)')
    .action(async (opts: { config: string; set: string[]; export?: string; resumeFrom?: string; store?: string }) => {
      const { loadConfig } = await import('../util/config.js');
      const { PretrainConfigSchema, pretrain } = await import('../train/pretrain.js');
      const { worldBatchSource } = await import('../data/world-source.js');
      const { writeGrid } = await import('../eval/grid.js');
      const { loadSplit } = await import('../world/splits.js');
      const { worldWords } = await import('../world/vocab.js');
      const { existsSync, readFileSync, writeFileSync, mkdirSync } = await import('node:fs');
      const { join } = await import('node:path');
      const cfg = loadConfig(PretrainConfigSchema, { path: opts.config, overrides: opts.set });
      checkOutputDir(cfg.output.dir, 'output.dir');
      if (opts.export) checkOutputDir(opts.export, '--export');
      console.error(`config: ${JSON.stringify(cfg)}`);
      // the run keeps its own copy of the train prompts, so a resumed run sees the same data
      // even if the committed split changes meanwhile
      const promptsPath = join(cfg.output.dir, 'train-prompts.json');
      if (!existsSync(promptsPath)) {
        mkdirSync(cfg.output.dir, { recursive: true });
        writeFileSync(promptsPath, JSON.stringify(loadSplit('train').map((r) => r.prompt)));
      }
      const prompts = JSON.parse(readFileSync(promptsPath, 'utf8')) as string[];
      // and of the vocabulary: token ids must mean the same words when the run resumes
      const vocabPath = join(cfg.output.dir, 'vocabulary.json');
      if (!existsSync(vocabPath)) writeFileSync(vocabPath, JSON.stringify(worldWords()));
      const vocabulary = JSON.parse(readFileSync(vocabPath, 'utf8')) as string[];
      const r = await pretrain(cfg, worldBatchSource({ seed: cfg.seed, imageSize: cfg.data.imageSize, prompts, vocabulary }), {
        writeGrid: (p, images, labels) => writeGrid(p, images, labels, { cols: 4 }),
        resumeFrom: opts.resumeFrom,
        store: opts.store ?? (await import('../store/runs.js')).DEFAULT_STORE_PATH,
      });
      if (r.finished && opts.export) {
        const { cp } = await import('node:fs/promises');
        await cp(r.dir, resolve(opts.export), { recursive: true });
        console.error(`exported ${r.dir} → ${opts.export}`);
      }
      console.log(JSON.stringify({ finished: r.finished, step: r.step, dir: r.dir }));
    });
}

/** `sample`: sample a labelled grid of images from a checkpoint and print the NFE used. */
function registerSample(program: Command): void {
  program
    .command('sample')
    .description('sample a labelled grid of images from a checkpoint and print the NFE used')
    .requiredOption('--ckpt <dir>', 'checkpoint directory (e.g. checkpoints/base)')
    .requiredOption('--prompt <text>', 'the prompt (repeatable: one row each)', collect, [])
    .option('--n <n>', 'images per prompt (1–1000)', count('n', 1000), 8)
    .option('--steps <s>', 'sampling steps, 1–1000 (default: the checkpoint\'s)', count('steps', 1000))
    .option('--cfg <w>', `classifier-free guidance scale, 0–${MAX_GUIDANCE} (default: the checkpoint's)`, guidance('cfg'))
    .option('--scheduler <name>', 'ddim or ddpm', 'ddim')
    .option('--eta <eta>', 'DDIM η in [0, 1] (default 0; demon and free2guide: 1)', num('eta', { min: 0, max: 1 }))
    .option('--seed <seed>', 'random seed (≥ 0)', seed(), 0)
    .option('--out <file>', 'output PNG', 'grid.png')
    .option('--method <name>', 'inference-time method: plain, best-of-n, zero-order, demon, free2guide', 'plain')
    .option('--reward <name>', 'registered reward the method optimises (e.g. compositional)')
    .option('--budget-nfe <n>', 'NFE per image the method may spend; it sizes itself to fit', count('budget-nfe'))
    .action(async (opts: { ckpt: string; prompt: string[]; n: number; steps?: number; cfg?: number; scheduler: string; eta?: number; seed: number; out: string; method: string; reward?: string; budgetNfe?: number }) => {
      const torch = await import('../torch/index.js');
      const { TextToImageModel } = await import('../models/t2i.js');
      const { getMethod } = await import('../sample/index.js');
      const { makeReward } = await import('../rewards/index.js');
      const { writeGrid } = await import('../eval/grid.js');
      const { checkFiniteImages } = await import('../models/generate.js');
      const method = getMethod(opts.method);
      checkOutputFile(opts.out, '--out');
      const model = await TextToImageModel.load(opts.ckpt);
      const reward = opts.reward ? await makeReward(opts.reward) : undefined;
      model.train(false);
      torch.manualSeed(opts.seed);
      const prompts = repeatEach(opts.prompt, opts.n);
      const t0 = performance.now();
      const r = await method.sample(model, prompts, {
        steps: opts.steps, guidanceScale: opts.cfg, scheduler: opts.scheduler, eta: opts.eta, reward, budgetNfe: opts.budgetNfe,
      });
      const sec = (performance.now() - t0) / 1000;
      checkFiniteImages(r.images, { guidanceScale: opts.cfg ?? model.config.sampling.guidanceScale, steps: opts.steps ?? model.config.sampling.steps });
      await writeGrid(opts.out, r.images, prompts, { cols: opts.n });
      const scores = r.log.scores?.filter((v) => !Number.isNaN(v));
      const meanReward = scores?.length ? Number((scores.reduce((a, b) => a + b, 0) / scores.length).toFixed(4)) : undefined;
      console.log(JSON.stringify({
        out: opts.out, images: prompts.length, method: opts.method, nfePerImage: r.nfePerImage, budgetNfe: opts.budgetNfe ?? null,
        settings: r.log.settings, reward: opts.reward ?? null, meanReward, rewardCalls: r.log.rewardCalls, seconds: Number(sec.toFixed(2)),
      }));
      r.images.dispose();
      reward?.dispose?.();
      model.dispose();
    });
}

/** `eval`: sample held-out prompts of every category and score them with the world's evaluator; prints one JSON line last. */
function registerModelEval(program: Command): void {
  program
    .command('eval')
    .description('sample held-out prompts of every category and score them with the world\'s evaluator; prints one JSON line last')
    .requiredOption('--ckpt <dir>', 'checkpoint directory')
    .option('--split <name>', 'prompt split', 'test')
    .option('--per-category <k>', 'prompts per category, at least 1 (default: all)', count('per-category'))
    .option('--images-per-prompt <n>', 'images per prompt (1–1000)', count('images-per-prompt', 1000), 4)
    .option('--steps <s>', 'sampling steps, 1–1000 (default: the checkpoint\'s)', count('steps', 1000))
    .option('--cfg <w>', `guidance scale, 0–${MAX_GUIDANCE} (default: the checkpoint's)`, guidance('cfg'))
    .option('--seed <seed>', 'random seed (≥ 0)', seed(), 0)
    .option('--unconditional', 'sample with the empty prompt (the unconditional baseline)')
    .option('--method <name>', 'inference-time method: plain, best-of-n, zero-order, demon, free2guide', 'plain')
    .option('--reward <name>', 'registered reward the method optimises (e.g. compositional)')
    .option('--budget-nfe <n>', 'NFE per image the method may spend; it sizes itself to fit', count('budget-nfe'))
    .option('--metrics <names>', 'rewards reported beside the categories, comma-separated, or "none"; one that is not available here is "n/a"', 'clip,aesthetic,preference,mllm')
    .option('--json', 'print only the JSON line')
    .option('--samples <file>', 'also write every image\'s scores as JSONL (prompt, category, seen, score, metrics), for paired intervals')
    .action(async (opts: { ckpt: string; split: string; perCategory?: number; imagesPerPrompt: number; steps?: number; cfg?: number; seed: number; unconditional?: boolean; method: string; reward?: string; budgetNfe?: number; metrics: string; json?: boolean; samples?: string }) => {
      const { TextToImageModel } = await import('../models/t2i.js');
      const { evaluateModel } = await import('../eval/model-eval.js');
      const { getMethod } = await import('../sample/index.js');
      const { makeReward } = await import('../rewards/index.js');
      const { availableMetricRewards, parseMetricList, metricColumns } = await import('../eval/metrics.js');
      getMethod(opts.method); // an unknown name fails before the model loads
      if (opts.samples) checkOutputFile(opts.samples, '--samples');
      const { rewards: metrics, missing } = await availableMetricRewards(parseMetricList(opts.metrics), (m) => console.error(`eval: ${m}`));
      if (opts.unconditional && (opts.method !== 'plain' || opts.reward || opts.budgetNfe !== undefined)) {
        throw new Error('--unconditional samples plainly: it takes no --method, --reward or --budget-nfe');
      }
      const { evalShardFromEnv } = await import('../eval/eval-shard.js');
      const shard = evalShardFromEnv(); // under `sharpen launch`: this rank's share, the scores gathered
      const model = await TextToImageModel.load(opts.ckpt);
      const reward = opts.reward ? await makeReward(opts.reward) : undefined;
      const r = await evaluateModel(model, {
        shard,
        split: opts.split, perCategory: opts.perCategory, imagesPerPrompt: opts.imagesPerPrompt, steps: opts.steps,
        guidanceScale: opts.cfg, seed: opts.seed, unconditional: opts.unconditional, progress: true, metrics,
        method: opts.unconditional ? undefined : { name: opts.method, options: { reward, budgetNfe: opts.budgetNfe } },
      });
      reward?.dispose?.();
      for (const m of metrics) m.dispose?.();
      if (shard && shard.rank !== 0) {
        model.dispose();
        return; // rank 0 prints and writes
      }
      if (opts.samples) {
        const { writeFileSync, renameSync, mkdirSync } = await import('node:fs');
        const { dirname } = await import('node:path');
        mkdirSync(dirname(resolve(opts.samples)), { recursive: true });
        // NaN (unscored) is written as null: JSON has no NaN
        const lines = r.samples.map((s) => JSON.stringify(s, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)));
        const tmp = `${opts.samples}.part`;
        writeFileSync(tmp, lines.join('\n') + '\n');
        renameSync(tmp, opts.samples);
      }
      const round = (v: number | null) => (v === null ? null : Number(v.toFixed(4)));
      const metricValues = metricColumns(r.metrics, missing);
      if (!opts.json) {
        console.log('| category | score | seen | unseen | prompts | images |');
        console.log('|---|---|---|---|---|---|');
        for (const [c, s] of Object.entries(r.categories)) console.log(`| ${c} | ${round(s.score)} | ${round(s.seen) ?? '-'} | ${round(s.unseen) ?? '-'} | ${s.prompts} | ${s.images} |`);
        console.log(`| mean | ${round(r.mean)} | | | | |`);
        for (const [name, v] of Object.entries(metricValues)) {
          const unscored = r.metrics[name]?.unscored;
          console.log(`| ${name} | ${v} | | | | ${unscored ? `${unscored} unscored` : ''} |`);
        }
      }
      const categories = Object.fromEntries(Object.entries(r.categories).map(([c, s]) => [c, round(s.score)]));
      const seenUnseen = Object.fromEntries(Object.entries(r.categories).map(([c, s]) => [c, { seen: round(s.seen), unseen: round(s.unseen) }]));
      console.log(JSON.stringify({ ckpt: opts.ckpt, split: opts.split, unconditional: Boolean(opts.unconditional), method: opts.method, reward: opts.reward ?? null, budget_nfe: opts.budgetNfe ?? null, ...categories, mean: round(r.mean), ...metricValues, nfe_per_image: r.nfePerImage, seen_unseen: seenUnseen }));
      model.dispose();
    });
}
