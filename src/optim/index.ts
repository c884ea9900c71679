// Optimizers, learning-rate schedules, gradient clipping and parameter EMA over plain tensors.
export {
  Optimizer, type GroupOptions, type ParamGroup, type ParamGroupInput, type ParamState,
  type OptimizerMeta, type OptimizerStateDict,
} from './optimizer.js';
export { SGD, SGD_DEFAULTS, type SGDOptions } from './sgd.js';
export { AdamW, ADAMW_DEFAULTS, type AdamWOptions } from './adamw.js';
export {
  constantSchedule, warmupSchedule, cosineSchedule, makeSchedule, SCHEDULE_NAMES, LRScheduler,
  type Schedule, type ScheduleOptions, type HasParamGroups,
} from './lr-schedule.js';
export { clipGradNorm, type ClipOptions } from './grad-clip.js';
export { EMA, type EMAOptions, type EMAWarmup, type EMAMeta } from './ema.js';
