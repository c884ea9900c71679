import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { NoiseSchedule, makeScheduler, sampleLoop, cfg, nfePerStep } from '../../src/diffusion/index.js';
import type { Tensor } from '../../src/torch/index.js';

function maxAbsDiff(a: Tensor, b: Tensor): number {
  return torch.tidy(() => a.sub(b).abs().max().item());
}

/** The ideal denoiser for one known x0: ε̂ = (x_t − √ᾱ x0)/√(1−ᾱ) (or the matching v). */
function oracle(schedule: NoiseSchedule, x0: Tensor): (x: Tensor, t: Tensor) => Tensor {
  return (x, t) => {
    const ts = (t.toArray() as number[]).map((s) => schedule.alphasCumprod[s]!);
    const shape = [ts.length, 1, 1, 1];
    const sa = torch.tensor(ts.map(Math.sqrt)).reshape(shape);
    const s1 = torch.tensor(ts.map((a) => Math.sqrt(1 - a))).reshape(shape);
    const eps = x.sub(x0.mul(sa)).div(s1);
    return schedule.predictionType === 'epsilon' ? eps : eps.mul(sa).sub(x0.mul(s1));
  };
}

test('DDIM η = 0 with an oracle denoiser recovers x0; NFE counts the steps', () => {
  torch.manualSeed(10);
  const x0 = torch.rand([2, 3, 8, 8]).mul(2).sub(1);
  for (const predictionType of ['epsilon', 'v_prediction'] as const) {
    const schedule = new NoiseSchedule({ predictionType });
    for (const spacing of ['leading', 'trailing', 'linspace'] as const) {
      for (const numSteps of [1, 10, 25]) {
        const ddim = makeScheduler('ddim', schedule);
        let calls = 0;
        const den = oracle(schedule, x0);
        const r = sampleLoop({
          scheduler: ddim, numSteps, shape: [2, 3, 8, 8], spacing,
          denoise: (x, t) => (calls++, den(x, t)),
        });
        const err = maxAbsDiff(r.x0, x0);
        assert.ok(err < 1e-4, `${predictionType} ${spacing} S=${numSteps}: error ${err}`);
        assert.equal(r.nfe, numSteps);
        assert.equal(calls, numSteps);
        assert.deepEqual(r.timesteps, schedule.inferenceTimesteps(numSteps, spacing));
      }
    }
  }
});

test('sampleLoop: trajectory, log-probs, noises, onStep, NFE with guidance, and replay of a stored trajectory', () => {
  const schedule = new NoiseSchedule({ betaSchedule: 'scaled_linear' });
  const ddim = makeScheduler('ddim', schedule, { eta: 1, setAlphaToOne: false });
  torch.manualSeed(11);
  const xT = torch.randn([2, 4, 4, 4]);
  const denoise = (x: Tensor, t: Tensor) => x.mul(0.3).add(t.float().reshape([2, 1, 1, 1]).mul(1e-4));
  const seen: number[] = [];
  const r = sampleLoop({
    scheduler: ddim, numSteps: 5, generatorNoise: xT, denoise, nfePerCall: nfePerStep(7.5),
    returnTrajectory: true, returnLogProbs: true, returnNoises: true, onStep: (i, _x, t) => seen.push(i, t),
  });
  assert.equal(r.nfe, 10);
  assert.equal(r.trajectory!.length, 6);
  assert.equal(maxAbsDiff(r.trajectory![0]!, xT), 0);
  assert.equal(r.trajectory![5], r.x0);
  assert.equal(r.logProbs!.length, 5);
  assert.equal(r.noises!.length, 5);
  assert.deepEqual(seen, [0, 600, 1, 400, 2, 200, 3, 0, 4, -1]);
  assert.ok(!xT.isDisposed, 'the caller keeps x_T');
  // every step's log-prob re-evaluated from the stored (x_t, x_prev) pairs, and replayed from the noises
  ddim.setTimesteps(5);
  r.timesteps.forEach((t, i) => {
    const tt = torch.tensor([t, t]);
    const out = denoise(r.trajectory![i]!, tt);
    const ev = ddim.step(out, tt, r.trajectory![i]!, { prevSample: r.trajectory![i + 1]! });
    assert.ok(maxAbsDiff(ev.logProb!, r.logProbs![i]!) < 1e-5);
    const replay = ddim.step(out, tt, r.trajectory![i]!, { noise: r.noises![i]! });
    assert.ok(maxAbsDiff(replay.prevSample, r.trajectory![i + 1]!) < 1e-6);
  });
  assert.throws(
    () => sampleLoop({ scheduler: makeScheduler('ddim', schedule), numSteps: 3, shape: [1, 1, 2, 2], denoise, returnLogProbs: true }),
    /returnLogProbs needs a stochastic scheduler/,
  );
  // the same seed gives the same samples
  torch.manualSeed(12);
  const a = sampleLoop({ scheduler: makeScheduler('ddpm', schedule), numSteps: 4, shape: [2, 1, 3, 3], denoise });
  torch.manualSeed(12);
  const b = sampleLoop({ scheduler: makeScheduler('ddpm', schedule), numSteps: 4, shape: [2, 1, 3, 3], denoise });
  assert.equal(maxAbsDiff(a.x0, b.x0), 0);
});

test('sampleLoop leaks no tensors (also when denoise throws) and records a graph only when asked', () => {
  const schedule = new NoiseSchedule();
  const w = torch.tensor([0.5]).requiresGrad_();
  const denoise = (x: Tensor) => x.mul(w).tanh();
  const ddim = makeScheduler('ddim', schedule, { eta: 0.5 });
  const before = torch.memory().tensors;
  const r = sampleLoop({ scheduler: ddim, numSteps: 8, shape: [2, 3, 4, 4], denoise });
  assert.equal(r.x0.requiresGrad, false);
  r.x0.dispose();
  assert.equal(torch.memory().tensors, before, 'plain loop');
  const r2 = sampleLoop({ scheduler: ddim, numSteps: 8, shape: [2, 3, 4, 4], denoise, returnTrajectory: true, returnLogProbs: true, returnNoises: true });
  for (const t of [r2.x0, ...r2.trajectory!, ...r2.logProbs!, ...r2.noises!]) t.dispose();
  assert.equal(torch.memory().tensors, before, 'loop keeping everything');
  let n = 0;
  assert.throws(
    () => sampleLoop({ scheduler: ddim, numSteps: 8, shape: [2, 3, 4, 4], returnTrajectory: true, denoise: (x) => { if (++n === 4) throw new Error('boom'); return denoise(x); } }),
    /boom/,
  );
  assert.equal(torch.memory().tensors, before, 'after an error');
  const g = sampleLoop({ scheduler: ddim, numSteps: 3, shape: [2, 3, 4, 4], denoise, grad: true });
  assert.equal(g.x0.requiresGrad, true);
  g.x0.sum().backward();
  assert.ok(w.grad !== null && Number.isFinite(w.grad.item()));
  g.x0.dispose();
});

test('sampleLoop argument errors', () => {
  const schedule = new NoiseSchedule();
  const ddim = makeScheduler('ddim', schedule);
  const denoise = (x: Tensor) => x.mul(0);
  assert.throws(() => sampleLoop({ scheduler: ddim, numSteps: 0, shape: [1, 1, 2, 2], denoise }), /numSteps must be an integer in \[1, 1000\]/);
  assert.throws(() => sampleLoop({ scheduler: ddim, numSteps: 1001, shape: [1, 1, 2, 2], denoise }), /got 1001/);
  assert.throws(() => sampleLoop({ scheduler: ddim, numSteps: 2, denoise }), /give shape or generatorNoise/);
  assert.throws(() => sampleLoop({ scheduler: ddim, numSteps: 2, shape: [1, 1, 2, 2], generatorNoise: torch.zeros([2, 1, 2, 2]), denoise }), /generatorNoise has shape/);
  assert.throws(() => sampleLoop({ scheduler: ddim, numSteps: 2, shape: [2, 1, 2, 2], denoise: () => torch.zeros([1, 1, 2, 2]) }), /modelOutput has shape/);
  assert.throws(() => sampleLoop({ scheduler: makeScheduler('ddpm', schedule), numSteps: 2, shape: [1, 1, 2, 2], denoise, eta: 1 }), /DDPM has no η/);
});

test('classifier-free guidance: uncond + w (cond − uncond); NFE 2 per guided step', () => {
  const u = torch.tensor([1, 2, 3], { dtype: 'float32' });
  const c = torch.tensor([2, 0, 3], { dtype: 'float32' });
  assert.deepEqual(cfg(u, c, 7.5).toArray(), [8.5, -13, 3]);
  assert.deepEqual(cfg(u, c, 1).toArray(), [2, 0, 3]);
  assert.deepEqual(cfg(u, c, 0).toArray(), [1, 2, 3]);
  assert.equal(nfePerStep(7.5), 2);
  assert.equal(nfePerStep(1), 1);
  assert.throws(() => cfg(u, torch.zeros([2]), 2), /differ in shape/);
  const before = torch.memory().tensors;
  cfg(u, c, 3).dispose();
  assert.equal(torch.memory().tensors, before);
});
