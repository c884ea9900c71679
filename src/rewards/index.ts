// The rewards, registered by name. Import this module to use rewards by name:
//   import { makeReward } from '../rewards/index.js';
//   const r = await makeReward('mllm', { model: 'gpt-4o' });
// Each new reward file adds one registerReward call here.
import { CompositeReward, compositeConfigSchema } from './composite.js';
import { MllmReward, resolveEndpoint } from './mllm.js';
import { CompositionalReward, type CompositionalOptions } from './compositional.js';
import { ClipReward, type ClipRewardOptions } from './clip-reward.js';
import { PreferenceReward } from './preference.js';
import { AestheticReward } from './aesthetic.js';
import { makeReward, registerReward } from './registry.js';
import type { Reward } from './reward.js';
import { formatZodError } from '../util/config.js';

export * from './reward.js';
export * from './registry.js';
export { CompositeReward, RunningStats, compositeConfigSchema } from './composite.js';
export type { CompositeOptions, CompositeTerm, CompositeTermDetail, Normalize } from './composite.js';
export {
  MllmReward,
  MllmError,
  mllmOptionsSchema,
  parseRubricReply,
  extractJsonObject,
  resolveEndpoint,
} from './mllm.js';
export { Semaphore } from '../util/semaphore.js';
export { CompositionalReward, compositionalOptionsSchema } from './compositional.js';
export type { CompositionalOptions, CompositionalDetail } from './compositional.js';
export { ClipReward, clipRewardOptionsSchema, defaultClipCheckpoint } from './clip-reward.js';
export type { ClipRewardOptions } from './clip-reward.js';
export type { MllmOptions, MllmDetail, MllmFailureDetail, MllmStats, RubricScores } from './mllm.js';
export { PreferenceReward, preferenceOptionsSchema } from './preference.js';
export { AestheticReward, aestheticOptionsSchema } from './aesthetic.js';

registerReward(
  'mllm',
  (opts) => new MllmReward(opts as ConstructorParameters<typeof MllmReward>[0]),
  'MLLM grader (GPT-4o-style rubric, overall 0–10) through an OpenAI-compatible endpoint; ' +
    'SHARPEN_MLLM_BASE_URL / SHARPEN_MLLM_API_KEY / SHARPEN_MLLM_MODEL',
  {
    unavailableReason: () => {
      try {
        resolveEndpoint({});
        return null;
      } catch (e) {
        return `no endpoint configured (${(e as Error).message.split('\n')[0]})`;
      }
    },
  },
);

registerReward(
  'compositional',
  (opts) => new CompositionalReward(opts as CompositionalOptions),
  "the world's evaluator: fraction of the prompt's checks (objects, attributes, counts, relations) the image passes, 0–1",
);

registerReward(
  'clip',
  (opts) => ClipReward.load(opts as ClipRewardOptions),
  "CLIP score 100·cos of the world's small CLIP (checkpoints/clip, option ckpt); differentiable",
);

registerReward(
  'composite',
  async (opts) => {
    const parsed = compositeConfigSchema.safeParse(opts);
    if (!parsed.success) {
      throw new Error(
        formatZodError(parsed.error, 'composite reward', '(options)'),
      );
    }
    const c = parsed.data;
    const built: Reward[] = [];
    try {
      for (const t of c.terms) built.push(await makeReward(t.name, t.opts));
    } catch (e) {
      for (const r of built) r.dispose?.();
      throw e;
    }
    return new CompositeReward({
      terms: c.terms.map((t, k) => ({ reward: built[k]!, weight: t.weight })),
      normalize: c.normalize,
      ...(c.name !== undefined ? { name: c.name } : {}),
      ...(c.eps !== undefined ? { eps: c.eps } : {}),
    });
  },
  'weighted sum of rewards by name, each normalised by its declared scale or by running mean/std',
);

registerReward(
  'preference',
  (opts) => PreferenceReward.load(opts as Parameters<typeof PreferenceReward.load>[0]),
  'learned human-preference reward (ImageReward analogue): Bradley–Terry model on annotator pairs, ≈ N(0, 1) on base samples; { ckpt? }',
);

registerReward(
  'aesthetic',
  (opts) => AestheticReward.load(opts as Parameters<typeof AestheticReward.load>[0]),
  'LAION-aesthetics-style predictor: MLP on frozen CLIP image embeddings, 1–10; { ckpt? }',
);
