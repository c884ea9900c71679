// Commands for the learned rewards: generate labelled data with the scripted annotator, and train
// the preference model and the aesthetic head on it.
//   sharpen labels generate --ckpt checkpoints/base --pairs 3000 --out data/preferences
//   sharpen train-preference --labels data/preferences --out checkpoints/preference
//   sharpen train-aesthetic  --labels data/preferences --out checkpoints/aesthetic
import type { Command } from 'commander';
import { collect, count, int, num, seed } from './args.js';
import { checkOutputDir } from '../util/output-path.js';
import type { RecordRunOptions, RunRecord } from '../train/training-run.js';


/** Images per prompt for labels: pairs need two; the cap of 64 stops a mistyped count early. */
const int2to64 = int('per-prompt', { min: 2, max: 64 });

export function registerLabelCommands(program: Command): void {
  const labels = program.command('labels').description('preference labels and ratings from the scripted annotator (docs/annotator.md)');
  registerLabelsGenerate(labels);
  registerTrainPreference(program);
  registerTrainAesthetic(program);
}

/** `labels generate`: sample base-model images for train-split prompts (k per prompt), label every pair with the scripted annotator and rate every image (restarting with the same options reuses finished images). */
function registerLabelsGenerate(labels: Command): void {
  labels
    .command('generate')
    .description('sample base-model images for train-split prompts (k per prompt), label every pair with the scripted annotator and rate every image (restarting with the same options reuses finished images)')
    .requiredOption('--ckpt <dir>', 'text-to-image checkpoint (e.g. checkpoints/base)')
    .requiredOption('--pairs <n>', 'number of pairs, at least 1 (at least; whole prompts are made)', count('pairs'))
    .option('--per-prompt <k>', 'images per prompt, 2–64; every two of them are a pair', int2to64, 4)
    .requiredOption('--out <dir>', 'output directory (pairs.jsonl, ratings.jsonl, images/)')
    .option('--seed <seed>', 'random seed (prompts, sampling settings, noises; ≥ 0)', seed(), 0)
    .option('--mix <list>', 'sampling settings steps:guidance, comma-separated (default: 20:4, 10:4, 5:4, 3:4, 10:1, 10:2, 10:8)')
    .option('--batch <n>', 'images per sampling call (1–4096)', count('batch', 4096), 64)
    .option('--noise <sigma>', "the annotator's inconsistency σ, ≥ 0 (0: deterministic)", num('noise', { min: 0 }), 0)
    .option('--tie-band <b>', 'utility difference below which a pair is a tie (≥ 0)', num('tie-band', { min: 0 }), 0.02)
    .action(async (opts: { ckpt: string; pairs: number; perPrompt: number; out: string; seed: number; mix?: string; batch: number; noise: number; tieBand: number }) => {
      const { TextToImageModel } = await import('../models/t2i.js');
      const { generateLabels, parseSamplingMix, DEFAULT_SAMPLING_MIX } = await import('../rewards/label-generation.js');
      const { loadSplit } = await import('../world/splits.js');
      checkOutputDir(opts.out, '--out');
      const mix = opts.mix ? parseSamplingMix(opts.mix) : DEFAULT_SAMPLING_MIX;
      console.error(`config: ${JSON.stringify({ ...opts, mix })}`);
      const model = await TextToImageModel.load(opts.ckpt);
      try {
        const r = generateLabels(model, {
          pairs: opts.pairs, perPrompt: opts.perPrompt, prompts: loadSplit('train').map((p) => p.prompt), out: opts.out, seed: opts.seed, mix,
          batchSize: opts.batch, annotator: { noise: opts.noise, tieBand: opts.tieBand, seed: opts.seed }, progress: true,
        });
        console.log(JSON.stringify({ out: opts.out, ...r, meanRating: Number(r.meanRating.toFixed(3)), seconds: Number(r.seconds.toFixed(1)) }));
      } finally {
        model.dispose();
      }
    });
}

/** `train-preference`: train the preference reward (Bradley–Terry on pairs) and report held-out agreement. */
function registerTrainPreference(program: Command): void {
  program
    .command('train-preference')
    .description('train the preference reward (Bradley–Terry on pairs) and report held-out agreement')
    .option('--labels <dir>', 'labels directory with pairs.jsonl (repeatable: the union is used)', collect, [])
    .requiredOption('--out <dir>', 'checkpoint directory to write (e.g. checkpoints/preference)')
    .option('--encoder <kind>', "'conv' (own encoder + the world's text encoder) or 'clip' (head on frozen CLIP)")
    .option('--text-ckpt <dir>', "where the world's text encoder comes from (encoder conv)", 'checkpoints/base')
    .option('--clip <dir>', 'CLIP checkpoint (encoder clip)', 'checkpoints/clip')
    .option('--set <key=value>', 'override a training field, e.g. --set epochs=20 (repeatable)', collect, [])
    .option('--store <file>', 'the SQLite run store where the run is recorded (default runs/store.sqlite)')
    .action(async (opts: { labels: string[]; out: string; encoder?: string; textCkpt: string; clip: string; set: string[]; store?: string }) => {
      const { join, relative, resolve } = await import('node:path');
      const { mkdirSync, rmSync } = await import('node:fs');
      const { loadConfig } = await import('../util/config.js');
      const { JsonlWriter } = await import('../util/jsonl.js');
      const rm = await import('../train/reward-models.js');
      const { recordedRun } = await import('../train/training-run.js');
      const overrides = [...(opts.encoder ? [`encoder=${opts.encoder}`] : []), ...opts.set];
      const cfg = loadConfig(rm.PreferenceTrainSchema, { base: rm.PREFERENCE_TRAIN_DEFAULTS, overrides });
      console.error(`config: ${JSON.stringify(cfg)}`);
      if (opts.labels.length === 0) throw new Error('train-preference: give at least one --labels <dir>');
      checkOutputDir(opts.out, '--out');
      const data = rm.loadPairData(opts.labels.map((d) => join(d, 'pairs.jsonl')), cfg.heldOut);
      const deps: import('../train/reward-models.js').PreferenceTrainDeps = { progress: true };
      let cleanup = () => {};
      if (cfg.encoder === 'conv') {
        const { TextToImageModel } = await import('../models/t2i.js');
        const base = await TextToImageModel.load(opts.textCkpt);
        deps.text = { tokenizer: base.config.tokenizer, textEncoder: base.config.textEncoder, weights: base.textEncoder.stateDict() };
        cleanup = () => base.dispose();
      } else {
        const { loadClipEmbedder, weightsFingerprint } = await import('../models/embedder.js');
        const embedder = await loadClipEmbedder(opts.clip);
        deps.clip = { embedder, dir: relative(resolve(opts.out), resolve(opts.clip)) || '.', sha256: weightsFingerprint(opts.clip) };
        cleanup = () => embedder.dispose?.();
      }
      mkdirSync(opts.out, { recursive: true });
      rmSync(join(opts.out, 'metrics.jsonl'), { force: true });
      const log = new JsonlWriter(join(opts.out, 'metrics.jsonl'));
      try {
        await recordedRun(await storeRun('train-preference', opts.out, cfg, opts.store), async (record) => {
          let last = 0;
          deps.onEpoch = (rec) => {
            log.write(rec);
            last = logEpoch(record, rec);
          };
          const r = rm.trainPreference(data, cfg, deps);
          const round = (v: number) => Number(v.toFixed(4));
          const metrics = Object.fromEntries(Object.entries(r.metrics).map(([k, v]) => [k, round(v)]));
          await r.model.save(opts.out, r.config, {
            train: cfg, metrics, labels: opts.labels, textCkpt: cfg.encoder === 'conv' ? opts.textCkpt : undefined, time: new Date().toISOString(),
            note: 'agreement: held-out pairs (prompts hashed into the held-out fraction); ties excluded, and with ties as ½',
          });
          log.write({ final: 1, ...metrics });
          console.log(JSON.stringify({ out: opts.out, encoder: cfg.encoder, ...metrics }));
          r.model.dispose();
          return { result: null, finished: true, step: last, summary: metrics };
        });
      } finally {
        data.images.dispose();
        cleanup();
      }
    });
}

/** `train-aesthetic`: train the aesthetic head (MLP on frozen CLIP image embeddings, MSE on 1–10 ratings) and report held-out correlation. */
function registerTrainAesthetic(program: Command): void {
  program
    .command('train-aesthetic')
    .description('train the aesthetic head (MLP on frozen CLIP image embeddings, MSE on 1–10 ratings) and report held-out correlation')
    .option('--labels <dir>', 'labels directory with ratings.jsonl (repeatable: the union is used)', collect, [])
    .requiredOption('--out <dir>', 'checkpoint directory to write (e.g. checkpoints/aesthetic)')
    .option('--clip <dir>', 'CLIP checkpoint', 'checkpoints/clip')
    .option('--set <key=value>', 'override a training field, e.g. --set epochs=200 (repeatable)', collect, [])
    .option('--store <file>', 'the SQLite run store where the run is recorded (default runs/store.sqlite)')
    .action(async (opts: { labels: string[]; out: string; clip: string; set: string[]; store?: string }) => {
      const { join, relative, resolve } = await import('node:path');
      const { mkdirSync, rmSync } = await import('node:fs');
      const { loadConfig } = await import('../util/config.js');
      const { JsonlWriter } = await import('../util/jsonl.js');
      const { loadClipEmbedder, weightsFingerprint } = await import('../models/embedder.js');
      const rm = await import('../train/reward-models.js');
      const { recordedRun } = await import('../train/training-run.js');
      const cfg = loadConfig(rm.AestheticTrainSchema, { base: rm.AESTHETIC_TRAIN_DEFAULTS, overrides: opts.set });
      console.error(`config: ${JSON.stringify(cfg)}`);
      if (opts.labels.length === 0) throw new Error('train-aesthetic: give at least one --labels <dir>');
      checkOutputDir(opts.out, '--out');
      const data = rm.loadRatingData(opts.labels.map((d) => join(d, 'ratings.jsonl')), cfg.heldOut);
      const clip = await loadClipEmbedder(opts.clip);
      mkdirSync(opts.out, { recursive: true });
      rmSync(join(opts.out, 'metrics.jsonl'), { force: true });
      const log = new JsonlWriter(join(opts.out, 'metrics.jsonl'));
      try {
        await recordedRun(await storeRun('train-aesthetic', opts.out, cfg, opts.store), async (record) => {
          const t0 = performance.now();
          const emb = rm.embedImages(clip, data.images);
          console.error(`embedded ${data.ratings.length} images in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
          let last = 0;
          const r = rm.trainAesthetic(emb, data.ratings, data.heldOut, cfg, { dir: relative(resolve(opts.out), resolve(opts.clip)) || '.', sha256: weightsFingerprint(opts.clip) }, {
            onEpoch: (rec) => {
              log.write(rec);
              last = logEpoch(record, rec);
            },
            progress: true,
          });
          emb.dispose();
          const round = (v: number) => Number(v.toFixed(4));
          const metrics = Object.fromEntries(Object.entries(r.metrics).map(([k, v]) => [k, round(v)]));
          await r.head.save(opts.out, { train: cfg, metrics, labels: opts.labels, time: new Date().toISOString() });
          log.write({ final: 1, ...metrics });
          console.log(JSON.stringify({ out: opts.out, ...metrics }));
          r.head.dispose();
          return { result: null, finished: true, step: last, summary: metrics };
        });
      } finally {
        data.images.dispose();
        clip.dispose?.();
      }
    });
}

/** The run store's row options of a reward model's training run (a new row each run: these runs do not resume). */
async function storeRun(kind: string, out: string, config: object, store: string | undefined): Promise<RecordRunOptions> {
  const { DEFAULT_STORE_PATH } = await import('../store/runs.js');
  return { store: store ?? DEFAULT_STORE_PATH, kind, out, config: { ...config }, resuming: false, step: 0, log: (m) => console.error(m) };
}

/** Records an epoch's numbers (but its step) at its step; returns the step. */
function logEpoch(record: RunRecord | null, rec: Record<string, number>): number {
  const { step, ...values } = rec;
  record?.log(step!, values);
  return step!;
}
