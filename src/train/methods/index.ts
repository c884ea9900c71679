// The fine-tuning methods, registered by name. Import this module to use methods by name:
//   import { getMethod } from '../train/methods/index.js';
// Each new method file adds one registerMethod call here.
import { registerMethod } from '../method.js';
import { sftSharpening } from './sft-sharpening.js';
import { rlhfSharpening } from './rlhf-sharpening.js';
import { standardFt } from './standard-ft.js';

export { getMethod, methodNames, registerMethod } from '../method.js';

registerMethod(sftSharpening);
registerMethod(rlhfSharpening);
registerMethod(standardFt);
