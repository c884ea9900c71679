// The dashboard's tensor work, run as a child process so that sampling never blocks the server's
// thread (src/server/jobs.ts starts it). One job per process: a JSON object as the only argument,
// one JSON line on stdout as the result; an error is printed on stderr and the exit code is 1.
//
//   generate — images of one prompt from a checkpoint with a sampler and an inference-time method
//   pool     — k images per prompt from a checkpoint, every two of one prompt a pair to label;
//              with a preference model, each pair carries its Bradley–Terry P(A ≻ B) (Bradley &
//              Terry, 1952; src/models/preference.ts) and, ranked 'uncertain', the pairs come
//              nearest ½ first (where the model is least sure)
//   study    — the same prompts and initial noises through two or more checkpoints (a user study)
//   run-grids — a fine-tuning run's sample grid at its base (step 0) and at each of its intact
//              training checkpoints (checkpoints/checkpoint-N: the UNet, or the LoRA adapters on
//              the base), all from the same prompts and initial noises
//
// Images are written as PNG files into the job's folder, which the server chose.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

const sampling = {
  steps: z.number().int().min(1).max(1000).optional(),
  guidance: z.number().min(0).max(50).optional(),
  seed: z.number().int().min(0).default(0),
};

export const GenerateJobSchema = z.object({
  kind: z.literal('generate'),
  ckpt: z.string().min(1),
  prompt: z.string().min(1).max(500),
  n: z.number().int().min(1).max(64).default(4),
  scheduler: z.enum(['ddim', 'ddpm']).default('ddim'),
  method: z.string().min(1).default('plain'),
  reward: z.string().min(1).optional(),
  budgetNfe: z.number().int().min(1).max(100_000).optional(),
  ...sampling,
}).strict();

export const PoolJobSchema = z.object({
  kind: z.literal('pool'),
  ckpt: z.string().min(1),
  prompts: z.number().int().min(1).max(500).default(8),
  perPrompt: z.number().int().min(2).max(8).default(2),
  /** a preference checkpoint: every pair gets the model's P(A ≻ B) */
  preference: z.string().min(1).optional(),
  rank: z.enum(['samples', 'uncertain']).default('samples'),
  ...sampling,
}).strict();

export const StudyJobSchema = z.object({
  kind: z.literal('study'),
  ckpts: z.array(z.string().min(1)).min(2).max(8),
  prompts: z.number().int().min(1).max(500).default(8),
  ...sampling,
}).strict();

export const RunGridsJobSchema = z.object({
  kind: z.literal('run-grids'),
  /** the run folder and its base checkpoint */
  run: z.string().min(1),
  base: z.string().min(1),
  /** the run's LoRA rank and alpha (0: the UNet was trained whole) */
  loraRank: z.number().int().min(0),
  loraAlpha: z.number().positive().nullable(),
  prompts: z.number().int().min(1).max(16).default(4),
  perPrompt: z.number().int().min(1).max(8).default(2),
  ...sampling,
}).strict();

export const WorkerJobSchema = z.discriminatedUnion('kind', [GenerateJobSchema, PoolJobSchema, StudyJobSchema, RunGridsJobSchema]);
/** A job as the server writes it (defaults not filled in yet). */
export type WorkerJob = z.input<typeof WorkerJobSchema>;

/** A pair to label, as a pool file lists it (image paths relative to the pool's folder). */
export interface PoolPair {
  id: string;
  prompt: string;
  imageA: string;
  imageB: string;
  /** the preference model's P(A ≻ B), when one scored the pair */
  pA: number | null;
}

/** A trial of a user study: one prompt and noise, the image of every model (relative paths, by model index). */
export interface StudyTrial {
  id: string;
  prompt: string;
  images: string[];
}

async function writeImages(images: import('../torch/index.js').Tensor, dir: string, name: (i: number) => string): Promise<string[]> {
  const { toRgbImages } = await import('../rewards/reward.js');
  const { writePng } = await import('../world/image.js');
  mkdirSync(dir, { recursive: true });
  return toRgbImages(images).map((img, i) => {
    writePng(join(dir, name(i)), img);
    return name(i);
  });
}

/** `n` prompts of the world's train split, drawn without repeats while they last (seeded). */
async function trainPrompts(n: number, seed: number): Promise<string[]> {
  const { loadSplit } = await import('../world/splits.js');
  const { Rng } = await import('../world/rng.js');
  const all = loadSplit('train').map((p) => p.prompt);
  const rng = new Rng(seed, 'dashboard-prompts');
  const order = all.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return Array.from({ length: n }, (_, i) => all[order[i % all.length]!]!);
}

async function runGenerate(job: z.infer<typeof GenerateJobSchema>, out: string): Promise<object> {
  const torch = await import('../torch/index.js');
  const { TextToImageModel } = await import('../models/t2i.js');
  const { getMethod } = await import('../sample/index.js');
  const { makeReward } = await import('../rewards/index.js');
  const { checkFiniteImages } = await import('../models/generate.js');
  const method = getMethod(job.method);
  const model = await TextToImageModel.load(job.ckpt);
  const reward = job.reward ? await makeReward(job.reward) : undefined;
  try {
    model.train(false);
    torch.manualSeed(job.seed);
    const prompts = new Array<string>(job.n).fill(job.prompt);
    const t0 = performance.now();
    const r = await method.sample(model, prompts, {
      steps: job.steps, guidanceScale: job.guidance, scheduler: job.scheduler, reward, budgetNfe: job.budgetNfe,
    });
    const seconds = (performance.now() - t0) / 1000;
    checkFiniteImages(r.images, { guidanceScale: job.guidance ?? model.config.sampling.guidanceScale, steps: job.steps ?? model.config.sampling.steps });
    const images = await writeImages(r.images, out, (i) => `image-${i}.png`);
    r.images.dispose();
    return { images, nfePerImage: r.nfePerImage, seconds: Number(seconds.toFixed(3)), settings: r.log.settings ?? null };
  } finally {
    reward?.dispose?.();
    model.dispose();
  }
}

async function runPool(job: z.infer<typeof PoolJobSchema>, out: string): Promise<object> {
  const torch = await import('../torch/index.js');
  const { TextToImageModel } = await import('../models/t2i.js');
  const { generate } = await import('../models/generate.js');
  const prompts = await trainPrompts(job.prompts, job.seed);
  const k = job.perPrompt;
  const all = prompts.flatMap((p) => new Array<string>(k).fill(p));
  const model = await TextToImageModel.load(job.ckpt);
  model.train(false);
  torch.manualSeed(job.seed);
  const r = generate(model, all, { steps: job.steps, guidanceScale: job.guidance });
  model.dispose();
  const files = await writeImages(r.images, out, (i) => `p${String(Math.floor(i / k)).padStart(4, '0')}-${i % k}.png`);
  let scores: number[] | null = null;
  let std = 1;
  if (job.preference) {
    const { PreferenceReward } = await import('../rewards/preference.js');
    const pref = await PreferenceReward.load({ ckpt: job.preference });
    scores = (await pref.score(r.images, all)).scores;
    std = pref.model.config.standardize.std;
    pref.dispose?.();
  }
  r.images.dispose();
  const pairs: PoolPair[] = [];
  prompts.forEach((prompt, g) => {
    for (let x = 0; x < k; x++) {
      for (let y = x + 1; y < k; y++) {
        const a = g * k + x, b = g * k + y;
        // Bradley–Terry: P(A ≻ B) = σ(s_A − s_B) on the model's raw scores, the standardised ones times std
        const pA = scores ? 1 / (1 + Math.exp(-(scores[a]! - scores[b]!) * std)) : null;
        pairs.push({ id: `${g}-${x}-${y}`, prompt, imageA: files[a]!, imageB: files[b]!, pA: pA === null ? null : Number(pA.toFixed(6)) });
      }
    }
  });
  if (job.rank === 'uncertain') {
    if (!scores) throw new Error("pool: rank 'uncertain' needs a preference checkpoint (preference)");
    pairs.sort((p, q) => Math.abs(p.pA! - 0.5) - Math.abs(q.pA! - 0.5));
  }
  return { pairs, images: files.length };
}

async function runStudy(job: z.infer<typeof StudyJobSchema>, out: string): Promise<object> {
  const torch = await import('../torch/index.js');
  const { TextToImageModel } = await import('../models/t2i.js');
  const { generate } = await import('../models/generate.js');
  const prompts = await trainPrompts(job.prompts, job.seed);
  const byModel: string[][] = [];
  for (const [m, ckpt] of job.ckpts.entries()) {
    const model = await TextToImageModel.load(ckpt);
    model.train(false);
    torch.manualSeed(job.seed); // the same initial noises for every model
    const r = generate(model, prompts, { steps: job.steps, guidanceScale: job.guidance });
    model.dispose();
    byModel.push(await writeImages(r.images, out, (i) => `m${m}-${String(i).padStart(4, '0')}.png`));
    r.images.dispose();
  }
  const trials: StudyTrial[] = prompts.map((prompt, i) => ({ id: String(i), prompt, images: byModel.map((files) => files[i]!) }));
  return { trials };
}

async function runGrids(job: z.infer<typeof RunGridsJobSchema>, out: string): Promise<object> {
  const torch = await import('../torch/index.js');
  const { TextToImageModel } = await import('../models/t2i.js');
  const { generate } = await import('../models/generate.js');
  const { writeGrid } = await import('../eval/grid.js');
  const { intactCheckpoints, loadCheckpoint, disposeCheckpoint } = await import('../train/checkpoint.js');
  const { injectLoRA, loadLoRAStateDict } = await import('../nn/lora.js');
  const prompts = (await trainPrompts(job.prompts, job.seed)).flatMap((p) => new Array<string>(job.perPrompt).fill(p));
  const steps = [{ step: 0, dir: null as string | null }, ...intactCheckpoints(join(job.run, 'checkpoints')).reverse()];
  const grids: { step: number; image: string }[] = [];
  mkdirSync(out, { recursive: true });
  for (const { step, dir } of steps) {
    const model = await TextToImageModel.load(job.base);
    if (dir) {
      const c = await loadCheckpoint(dir);
      try {
        if (job.loraRank > 0) {
          // the adapted layers are those the checkpoint holds adapters for
          const names = new Set(Object.keys(c.tensors.lora ?? {}).map((k) => k.slice(0, k.indexOf('.lora_layer.'))));
          injectLoRA(model.unet, { rank: job.loraRank, ...(job.loraAlpha !== null ? { alpha: job.loraAlpha } : {}), target: (n) => names.has(n) });
          loadLoRAStateDict(model.unet, c.tensors.lora ?? {});
        } else {
          if (!c.tensors.unet) throw new Error(`${dir}: no UNet weights in it`);
          model.unet.loadStateDict(c.tensors.unet);
        }
      } finally {
        disposeCheckpoint(c);
      }
    }
    model.train(false);
    torch.manualSeed(job.seed); // the same initial noises at every step
    const r = generate(model, prompts, { steps: job.steps, guidanceScale: job.guidance });
    model.dispose();
    const image = `step-${step}.png`;
    await writeGrid(join(out, image), r.images, prompts, { cols: job.perPrompt * 2, labelLines: 2, title: step ? `step ${step}` : 'base (step 0)' });
    r.images.dispose();
    grids.push({ step, image });
  }
  return { grids };
}

/** Runs one job, writing its images into `out`; returns the result object. */
export async function runJob(job: z.infer<typeof WorkerJobSchema>, out: string): Promise<object> {
  const torch = await import('../torch/index.js');
  torch.setNumThreads(Math.max(1, Number(process.env.OMP_NUM_THREADS) || 1));
  if (job.kind === 'generate') return runGenerate(job, out);
  if (job.kind === 'pool') return runPool(job, out);
  if (job.kind === 'run-grids') return runGrids(job, out);
  return runStudy(job, out);
}

async function main(): Promise<void> {
  const [jobText, out] = process.argv.slice(2);
  if (!jobText || !out) throw new Error('usage: worker.ts <job JSON> <output folder>');
  const job = WorkerJobSchema.parse(JSON.parse(jobText));
  const result = await runJob(job, out);
  process.stdout.write(JSON.stringify(result) + '\n');
}

if (process.argv[1]?.endsWith('worker.ts') && import.meta.url.endsWith('/worker.ts')) {
  main().catch((e: unknown) => {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(1);
  });
}
