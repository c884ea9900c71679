// Plain sampling as a method: exactly what generate() in models/generate.ts does (one x_T per prompt,
// S scheduler steps, classifier-free guidance), so `--method plain` (the default) changes no output.
// A budget does not change what plain does (it spends S × NFE-per-call whatever the budget); a budget
// below that is an error. A reward, when given, only scores the result for the log (no NFE).
import { z } from 'zod';
import * as torch from '../torch/index.js';
import type { TextToImageModel } from '../models/t2i.js';
import { generate } from '../models/generate.js';
import { checkOutput } from '../rewards/reward.js';
import { budgetTooSmall, commonOptionsFields, parseOptions, resolveCommon, type MethodPlan, type SampleResult, type SamplingMethod } from './sampling-method.js';

const NAME = 'plain';
export const plainOptionsSchema = z.object({ ...commonOptionsFields }).strict();
export type PlainOptions = z.infer<typeof plainOptionsSchema>;

function planOf(model: TextToImageModel, o: PlainOptions): MethodPlan {
  const r = resolveCommon(model, o);
  if (o.budgetNfe !== undefined && o.budgetNfe < r.nfePerSample) {
    throw budgetTooSmall(NAME, o.budgetNfe, r.nfePerSample, `one sample of ${r.steps} steps at ${r.nfePerCall} NFE a step`);
  }
  return {
    nfePerImage: r.nfePerSample,
    settings: { steps: r.steps, guidanceScale: r.guidanceScale, scheduler: r.scheduler, eta: r.eta ?? null },
  };
}

export const plain: SamplingMethod = {
  name: NAME,
  description: 'ordinary sampling (what generate does): one initial noise per prompt, no reward',
  plan(model, opts) {
    return planOf(model, parseOptions(plainOptionsSchema, opts, NAME));
  },
  async sample(model, prompts, opts): Promise<SampleResult> {
    const o = parseOptions(plainOptionsSchema, opts, NAME);
    const plan = planOf(model, o);
    if (!Array.isArray(prompts) || prompts.length === 0) throw new Error(`method '${NAME}': prompts must be a non-empty array of strings`);
    if (o.seed !== undefined) torch.manualSeed(o.seed);
    model.train(false);
    const s = plan.settings;
    const r = generate(model, prompts, {
      steps: s.steps as number,
      guidanceScale: s.guidanceScale as number,
      scheduler: s.scheduler as string,
      eta: o.eta,
    });
    if (r.nfePerImage !== plan.nfePerImage) {
      r.images.dispose();
      throw new Error(`method '${NAME}': generate spent ${r.nfePerImage} NFE per image, planned ${plan.nfePerImage} (a bug)`);
    }
    let scores: number[] | undefined;
    let rewardCalls = 0;
    if (o.reward) {
      try {
        const out = await o.reward.score(r.images, prompts);
        checkOutput(out, prompts.length, o.reward.name);
        scores = out.scores.map((v, i) => (out.unscored?.[i] ? NaN : v));
        rewardCalls = 1;
      } catch (e) {
        r.images.dispose();
        throw e;
      }
    }
    return {
      images: r.images,
      nfePerImage: r.nfePerImage,
      log: {
        method: NAME,
        budgetNfe: o.budgetNfe ?? null,
        settings: plan.settings,
        nfePerImage: r.nfePerImage,
        rewardCalls,
        rewardImages: rewardCalls ? prompts.length : 0,
        ...(scores ? { scores } : {}),
      },
    };
  },
};
