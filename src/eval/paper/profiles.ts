// The sizes of `sharpen paper` (src/eval/paper/): one profile fixes every budget of the plan: the
// base model, the training steps of the reference recipe, the tuning grid, the seeds, the held-out
// sets and the lists of Tables 2–3 and Figures 5 and 9. The plan's structure (which rows, cells and
// charts exist) is the same in every profile; only the sizes change.
//
//   tiny   the test-size model (a fresh 16×16 world model, written into the work folder), one
//          prompt per category, two steps: checks the whole pipeline in a few minutes (the tests)
//   quick  the shipped base, short runs and small held-out sets: a first look in about 40 minutes (2 cores)
//   full   the shipped base at the recipe's length (configs/demo.yaml): hours, resumable
import { z } from 'zod';
import { formatZodError } from '../../util/config.js';

const EvalSetSchema = z.object({
  /** prompts per category (six categories) */
  perCategory: z.number().int().positive(),
  imagesPerPrompt: z.number().int().positive(),
}).strict();

export const ProfileSchema = z.object({
  name: z.string().min(1),
  /** 'tiny' (a fresh test-size model) or a checkpoint folder */
  base: z.string().min(1),
  /** optimizer steps of the reference recipe (rlhf-sharpening); the other training rows get its NFE */
  steps: z.number().int().positive(),
  /** prompts or examples per micro-batch, every training row */
  batch: z.number().int().positive(),
  loraRank: z.number().int().min(0),
  /** the tuning grid: every training row is tuned over these learning rates on val */
  lrs: z.array(z.number().positive()).min(1),
  /** training seeds of each row's best setting (the tuning run is seed 0) */
  seeds: z.number().int().min(3),
  /** a row's equal-NFE step count is capped at this many times `steps` (bounds the wall-clock of cheap-per-step methods) */
  maxStepsFactor: z.number().positive(),
  /** Diffusion-Sharpening's S (the rollouts' stride T/S) for both variants */
  S: z.number().int().positive(),
  /** held-out points of each training curve (evalEvery = ceil(steps / curvePoints)) and their prompts per category */
  curvePoints: z.number().int().positive(),
  curvePerCategory: z.number().int().positive(),
  /** the tuning set (val) and the reported set (test) */
  val: EvalSetSchema,
  test: EvalSetSchema,
  /** seeds of the test noises: seed i of every row samples from the noises of evalSeed + i */
  evalSeed: z.number().int().min(0),
  /** Table 1's inference-time rows spend this many times the NFE of one plain sample */
  searchMultiplier: z.number().int().positive(),
  /** Figure 5's multiples of one plain sample's NFE */
  budgets: z.array(z.number().int().positive()).min(1),
  /** Tables 2–3 */
  nValues: z.array(z.number().int().positive()).min(1),
  mValues: z.array(z.number().int().positive()).min(1),
  /** the rewards of Figures 3 and 9 ('composite' is compositional + clip + preference by their scales) */
  rewards: z.array(z.string().min(1)).min(1),
  /** rewards reported as metrics beside the compositional score */
  metrics: z.array(z.string().min(1)),
  /** renderings per train prompt in Figure 4's image folder, and how many train prompts it holds */
  folderPrompts: z.number().int().positive(),
  /** run every cell in its own process (peak memory per cell is then the process's own) */
  isolate: z.boolean(),
}).strict();

export type Profile = z.infer<typeof ProfileSchema>;

const LISTS = { nValues: [1, 2, 3, 4, 8], mValues: [1, 2, 3, 4, 8], budgets: [1, 2, 4, 8] };
const REWARDS = ['compositional', 'clip', 'preference', 'composite'];

export const PROFILES: Record<'tiny' | 'quick' | 'full', Profile> = {
  tiny: {
    name: 'tiny', base: 'tiny', steps: 2, batch: 1, loraRank: 4, lrs: [1e-4, 3e-4], seeds: 3, maxStepsFactor: 2, S: 4,
    curvePoints: 2, curvePerCategory: 1, val: { perCategory: 1, imagesPerPrompt: 1 }, test: { perCategory: 1, imagesPerPrompt: 1 },
    evalSeed: 4321, searchMultiplier: 4, ...LISTS, rewards: REWARDS, metrics: ['clip', 'aesthetic', 'preference'], folderPrompts: 6, isolate: false,
  },
  quick: {
    name: 'quick', base: 'checkpoints/base', steps: 6, batch: 2, loraRank: 8, lrs: [5e-5, 1e-4], seeds: 3, maxStepsFactor: 4, S: 10,
    curvePoints: 2, curvePerCategory: 1, val: { perCategory: 2, imagesPerPrompt: 1 }, test: { perCategory: 2, imagesPerPrompt: 1 },
    evalSeed: 4321, searchMultiplier: 4, ...LISTS, rewards: REWARDS, metrics: ['clip', 'aesthetic', 'preference'], folderPrompts: 60, isolate: true,
  },
  full: {
    name: 'full', base: 'checkpoints/base', steps: 120, batch: 4, loraRank: 8, lrs: [2e-5, 5e-5, 1e-4], seeds: 3, maxStepsFactor: 10, S: 10,
    curvePoints: 4, curvePerCategory: 5, val: { perCategory: 10, imagesPerPrompt: 1 }, test: { perCategory: 25, imagesPerPrompt: 1 },
    evalSeed: 4321, searchMultiplier: 4, ...LISTS, rewards: REWARDS, metrics: ['clip', 'aesthetic', 'preference'], folderPrompts: 300, isolate: true,
  },
};

/** A profile by name with overrides (a section such as `test` is merged key by key); checked. */
export function resolveProfile(name: string, overrides: Record<string, unknown> = {}): Profile {
  const p = (PROFILES as Record<string, Profile>)[name];
  if (!p) throw new Error(`unknown profile '${name}' (accepted: ${Object.keys(PROFILES).join(', ')})`);
  const merged: Record<string, unknown> = { ...p };
  for (const [k, v] of Object.entries(overrides)) {
    const cur = merged[k];
    const isSection = (x: unknown) => typeof x === 'object' && x !== null && !Array.isArray(x);
    merged[k] = isSection(cur) && isSection(v) ? { ...(cur as object), ...(v as object) } : v;
  }
  const r = ProfileSchema.safeParse(merged);
  if (!r.success) throw new Error(formatZodError(r.error, `profile ${name}`));
  return r.data;
}
