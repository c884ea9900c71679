// Noise schedule and samplers: `import * as diffusion from '../diffusion/index.js'`.
export * from './schedule.js';
export * from './scheduler.js';
export { GaussianStepScheduler, gaussianLogProb, type CommonSchedulerOptions, type StepCoefficients } from './gaussian-step.js';
export * from './ddim.js';
export * from './ddpm.js';
export * from './guidance.js';
export * from './sample.js';
