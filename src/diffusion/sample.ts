// A sampling loop that knows no model: x_T → x0 through a Scheduler, calling the caller's
// `denoise(x, t)` once per step. Memory: every step runs in a tidy scope, so only x, and what
// the caller asked to keep, outlive it. Gradients are off unless `grad: true`.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { TimestepSpacing } from './noise-schedule.js';
import type { Scheduler, StepOptions } from './scheduler.js';

export interface SampleLoopOptions {
  scheduler: Scheduler;
  /** S, the number of denoising steps. */
  numSteps: number;
  /** [B, C, H, W] of x_T; may be left out when generatorNoise is given. */
  shape?: number[];
  /** The network: the model output (ε or v, per the schedule) at x and per-sample t [B] int64. */
  denoise: (x: Tensor, t: Tensor) => Tensor;
  /** DDIM's η for every step (leave unset for schedulers without η). */
  eta?: number;
  /** Timestep spacing (default: the scheduler's). */
  spacing?: TimestepSpacing;
  /** Clamp x̂0 at every step (default: the scheduler's). */
  clipSample?: number | null;
  /** x_T; drawn from N(0, I) when absent. It is not consumed: the caller still owns it. */
  generatorNoise?: Tensor;
  /** dtype and device of a drawn x_T (default float32 on cpu). */
  dtype?: torch.DType;
  device?: torch.Device;
  /** Called after step i with the new x and its timestep t_i − Δ (−1: x0). */
  onStep?: (i: number, x: Tensor, t: number) => void;
  /** Keep [x_T, x_{t_1}, …, x0] (S + 1 tensors). */
  returnTrajectory?: boolean;
  /** Keep log p(x_{i+1} | x_i) per step ([B] each); needs a stochastic scheduler. */
  returnLogProbs?: boolean;
  /** Keep the noise z drawn at every step (to replay the trajectory, e.g. with a graph). */
  returnNoises?: boolean;
  /** Network evaluations per denoise call (2 with classifier-free guidance: guidance.nfePerStep). */
  nfePerCall?: number;
  /** Record the autograd graph (default false: everything runs under torch.noGrad). */
  grad?: boolean;
}

export interface SampleLoopResult {
  x0: Tensor;
  /** Network evaluations: denoise calls × nfePerCall. */
  nfe: number;
  /** The timesteps visited, descending. */
  timesteps: number[];
  trajectory?: Tensor[];
  logProbs?: Tensor[];
  noises?: Tensor[];
}

export function sampleLoop(o: SampleLoopOptions): SampleLoopResult {
  const nfePerCall = o.nfePerCall ?? 1;
  if (!(Number.isFinite(nfePerCall) && nfePerCall > 0)) throw new Error(`sampleLoop: nfePerCall must be positive, got ${nfePerCall}`);
  if (o.returnLogProbs && !o.scheduler.supportsLogProb && !(o.eta !== undefined && o.eta > 0)) {
    throw new Error(`sampleLoop: returnLogProbs needs a stochastic scheduler; ${o.scheduler.name} is deterministic here (use η > 0)`);
  }
  if (o.generatorNoise && o.shape) {
    const a = o.generatorNoise.shape;
    if (a.length !== o.shape.length || a.some((s, i) => s !== o.shape![i])) {
      throw new Error(`sampleLoop: generatorNoise has shape [${a.join(', ')}], shape is [${o.shape.join(', ')}]`);
    }
  }
  if (!o.generatorNoise && !o.shape) throw new Error('sampleLoop: give shape or generatorNoise');
  const timesteps = o.scheduler.setTimesteps(o.numSteps, o.spacing);
  const stepOpts: StepOptions = {};
  if (o.eta !== undefined) stepOpts.eta = o.eta;
  if (o.clipSample !== undefined) stepOpts.clipSample = o.clipSample;
  if (o.returnLogProbs) stepOpts.returnLogProb = true;

  const run = (): SampleLoopResult => {
    let x = o.generatorNoise
      ? o.generatorNoise.view(o.generatorNoise.shape) // our own handle; keeps a graph to x_T
      : torch.randn(o.shape!, { dtype: o.dtype ?? 'float32', device: o.device ?? 'cpu' });
    if (x.ndim < 1) throw new Error('sampleLoop: x_T must be batched [B, …]');
    const B = x.shape[0]!;
    const device = x.device as torch.Device;
    const trajectory: Tensor[] = o.returnTrajectory ? [x] : [];
    const logProbs: Tensor[] = [];
    const noises: Tensor[] = [];
    let nfe = 0;
    try {
      for (let i = 0; i < timesteps.length; i++) {
        const t = timesteps[i]!;
        const xIn = x;
        const r = torch.tidy(() => {
          const tt = torch.full([B], t, { dtype: 'int64', device }); // [B]
          const out = o.denoise(xIn, tt); // [B, C, H, W]
          const s = o.scheduler.step(out, tt, xIn, stepOpts);
          return { x: s.prevSample, lp: o.returnLogProbs ? s.logProb : undefined, z: o.returnNoises ? s.noise : undefined };
        });
        nfe += nfePerCall;
        if (!o.returnTrajectory) xIn.dispose();
        x = r.x;
        if (o.returnTrajectory) trajectory.push(x);
        if (r.lp) logProbs.push(r.lp);
        if (r.z) noises.push(r.z);
        o.onStep?.(i, x, o.scheduler.prevTimestep(t));
      }
    } catch (e) {
      for (const t of [x, ...trajectory, ...logProbs, ...noises]) t.dispose();
      throw e;
    }
    const res: SampleLoopResult = { x0: x, nfe, timesteps };
    if (o.returnTrajectory) res.trajectory = trajectory;
    if (o.returnLogProbs) res.logProbs = logProbs;
    if (o.returnNoises) res.noises = noises;
    return res;
  };
  return o.grad ? torch.enableGrad(run) : torch.noGrad(run);
}
