// 'compositional': the embedded world's evaluator (src/world/evaluate.ts) as a reward — the analogue
// of T2I-CompBench's per-category metrics (Huang et al., 2023, §4: BLIP-VQA for attribute binding,
// UniDet for spatial relations, …), here exact pixel analysis of the world's images. The score is
// the fraction of the prompt's checks the image passes (objects found, their shapes, colours, sizes,
// textures, counts and relations), so it lies in [0, 1]; `details` carries pass and every check.
//
// Not differentiable (detection is discrete). The category of each prompt is derived from the
// prompt itself (parsePrompt + inferCategory) unless given by option; it is reported in the details
// and does not change the score. A prompt outside the world's grammar is an Error naming it.
import { z } from 'zod';
import type { Tensor } from '../torch/index.js';
import { evaluateImage, type Check } from '../world/evaluate.js';
import { parsePrompt, PromptError } from '../world/grammar.js';
import { inferCategory } from '../world/splits.js';
import { CATEGORIES, type Category } from '../world/vocab.js';
import type { SceneSpec } from '../world/spec.js';
import { checkImages, toRgbImages, type Reward, type RewardOutput, type RewardScale } from './reward.js';
import { formatZodError } from '../util/config.js';

export const compositionalOptionsSchema = z
  .object({
    /** the category of every prompt (default: derived from each prompt's structure) */
    category: z.enum(CATEGORIES).optional(),
    /** the reward's name */
    name: z.string().min(1).default('compositional'),
  })
  .strict();
export type CompositionalOptions = z.input<typeof compositionalOptionsSchema>;

/** What the compositional reward reports per image. */
export interface CompositionalDetail {
  category: Category;
  /** every check passed */
  pass: boolean;
  /** checks passed / checks */
  passed: number;
  total: number;
  checks: Check[];
}

export class CompositionalReward implements Reward {
  readonly name: string;
  readonly differentiable = false;
  readonly scale: RewardScale = { kind: 'range', min: 0, max: 1 };
  private readonly category: Category | undefined;
  /** parsed prompts (the grammar is deterministic, so a cache is safe) */
  private readonly specs = new Map<string, { spec: SceneSpec; category: Category }>();

  constructor(opts: CompositionalOptions = {}) {
    const parsed = compositionalOptionsSchema.safeParse(opts);
    if (!parsed.success) {
      throw new Error(formatZodError(parsed.error, 'compositional reward', '(options)'));
    }
    this.name = parsed.data.name;
    this.category = parsed.data.category;
  }

  /** The parsed prompt and its category (given by option, else inferred); throws naming the prompt. */
  parse(prompt: string, index = 0): { spec: SceneSpec; category: Category } {
    let hit = this.specs.get(prompt);
    if (hit) return hit;
    let spec: SceneSpec;
    try {
      spec = parsePrompt(prompt);
    } catch (e) {
      const msg = e instanceof PromptError ? e.message : String((e as Error)?.message ?? e);
      throw new Error(`reward '${this.name}': prompt ${index} is not in the world's grammar: ${msg}`);
    }
    hit = { spec, category: this.category ?? inferCategory(spec) };
    if (this.specs.size > 10_000) this.specs.clear();
    this.specs.set(prompt, hit);
    return hit;
  }

  async score(images: Tensor, prompts: string[]): Promise<RewardOutput> {
    const n = checkImages(images, prompts, this.name, { unitRange: true });
    // parse every prompt first, so a bad prompt fails before any work
    const parsed = prompts.map((p, i) => this.parse(p, i));
    const imgs = toRgbImages(images);
    const scores: number[] = [];
    const details: CompositionalDetail[] = [];
    for (let i = 0; i < n; i++) {
      const { spec, category } = parsed[i]!;
      const ev = evaluateImage(imgs[i]!, spec, category, prompts[i]);
      const passed = ev.checks.filter((c) => c.ok).length;
      scores.push(ev.score);
      details.push({ category, pass: ev.pass, passed, total: ev.checks.length, checks: ev.checks });
    }
    return { scores, details };
  }
}
