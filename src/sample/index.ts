// The inference-time methods, registered by name. Import this module (not sampling-method.ts) to use them:
//   import { getMethod } from '../sample/index.js';
//   const r = await getMethod('demon').sample(model, prompts, { reward, budgetNfe: 400, seed: 0 });
//   // r.images [B, 3, H, W] in [0, 1], r.nfePerImage, r.log
import { registerMethod, getMethod, type SampleResult } from './sampling-method.js';
import type { TextToImageModel } from '../models/t2i.js';
import { plain } from './plain.js';
import { bestOfN } from './best-of-n.js';
import { zeroOrder } from './zero-order.js';
import { demon } from './demon.js';
import { free2guide } from './free2guide.js';

export * from './sampling-method.js';
export { plain, plainOptionsSchema } from './plain.js';
export { bestOfN, bestOfNOptionsSchema } from './best-of-n.js';
export { zeroOrder, zeroOrderOptionsSchema, neighbours } from './zero-order.js';
export { demon, demonOptionsSchema, demonWeights, combineNoises } from './demon.js';
export { free2guide, free2guideOptionsSchema, softmaxWeights } from './free2guide.js';

for (const m of [plain, bestOfN, zeroOrder, demon, free2guide]) registerMethod(m);

/** Samples one image per prompt with the method registered under `name`. */
export function sampleWith(name: string, model: TextToImageModel, prompts: string[], opts: Record<string, unknown> = {}): Promise<SampleResult> {
  return getMethod(name).sample(model, prompts, opts);
}
