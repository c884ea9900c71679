// The fine-tuning methods, registered by name. Import this module to use methods by name:
//   import { getMethod } from '../train/methods/index.js';
// Each new method file adds one registerMethod call here.
import { registerMethod } from '../finetune-method.js';
import { sftSharpening } from './sft-sharpening.js';
import { rlhfSharpening } from './rlhf-sharpening.js';
import { standardFt } from './standard-ft.js';
import { diffusionDpo, diffusionDpoLabels } from './diffusion-dpo.js';
import { ddpo } from './ddpo.js';
import { d3po } from './d3po.js';
import { reflIter } from './refl-iter.js';

export { getMethod, methodNames, registerMethod } from '../finetune-method.js';

registerMethod(sftSharpening);
registerMethod(rlhfSharpening);
registerMethod(standardFt);
registerMethod(diffusionDpo);
registerMethod(diffusionDpoLabels);
registerMethod(ddpo);
registerMethod(d3po);
registerMethod(reflIter);
