import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { SGD, LRScheduler, makeSchedule, constantSchedule, warmupSchedule, cosineSchedule, SCHEDULE_NAMES } from '../../src/optim/index.js';

const close = (a: number, b: number, msg = ''): void => assert.ok(Math.abs(a - b) <= 1e-15, `${msg}: ${a} vs ${b}`);

test('constant', () => {
  const s = constantSchedule();
  for (const step of [0, 1, 1000]) assert.equal(s(step, 3e-4), 3e-4);
});

test('linear warm-up, then constant (lr 0 at the first update, as Hugging Face)', () => {
  const s = warmupSchedule({ warmupSteps: 4 });
  const golden: [number, number][] = [[0, 0], [1, 2.5e-4], [2, 5e-4], [3, 7.5e-4], [4, 1e-3], [10, 1e-3]];
  for (const [step, lr] of golden) close(s(step, 1e-3), lr, `step ${step}`);
  assert.equal(warmupSchedule({ warmupSteps: 0 })(0, 1e-3), 1e-3);
});

test('cosine with warm-up down to a minimum lr', () => {
  const s = cosineSchedule({ warmupSteps: 10, totalSteps: 110, minLr: 1e-5 });
  const golden: [number, number][] = [
    [0, 0],
    [5, 5e-4],
    [10, 1e-3], // the peak
    [35, 1e-5 + 9.9e-4 * 0.5 * (1 + Math.SQRT1_2)], // a quarter of the way: cos(π/4)
    [60, 1e-5 + 9.9e-4 * 0.5], // half way
    [110, 1e-5], // the end
    [500, 1e-5], // and after it
  ];
  for (const [step, lr] of golden) close(s(step, 1e-3), lr, `step ${step}`);
  // without warm-up or minimum: ½(1 + cos(π s / T))
  const plain = makeSchedule('cosine', { totalSteps: 100 });
  close(plain(0, 1), 1);
  close(plain(50, 1), 0.5);
  close(plain(100, 1), 0);
});

test('makeSchedule: by name; an unknown name lists the valid ones; bad options are Errors', () => {
  assert.deepEqual([...SCHEDULE_NAMES], ['constant', 'warmup', 'cosine']);
  assert.equal(makeSchedule('warmup', { warmupSteps: 2 })(1, 1), 0.5);
  assert.throws(() => makeSchedule('linear'), /unknown learning-rate schedule 'linear': expected one of constant, warmup, cosine/);
  assert.throws(() => makeSchedule('toString'), /unknown learning-rate schedule/);
  assert.throws(() => makeSchedule('cosine', { warmupSteps: 5 }), /cosine schedule: totalSteps must be a non-negative integer, got undefined/);
  assert.throws(() => makeSchedule('cosine', { warmupSteps: 5, totalSteps: 4 }), /totalSteps \(4\) must be at least warmupSteps \(5\)/);
  assert.throws(() => makeSchedule('warmup', {}), /warmupSteps must be a non-negative integer/);
  assert.throws(() => makeSchedule('constant')(-1, 1), /step must be a non-negative integer, got -1/);
});

test('LRScheduler sets each group\'s lr from its own base lr, and resumes from its state', () => {
  const a = torch.zeros([2], { requiresGrad: true });
  const b = torch.zeros([2], { requiresGrad: true });
  const opt = new SGD([{ params: [a], lr: 1e-3 }, { params: [b], lr: 1e-2 }]);
  const sched = new LRScheduler(opt, makeSchedule('warmup', { warmupSteps: 2 }));
  assert.deepEqual(sched.lrs(), [0, 0]); // the first update's lr is set at once
  sched.step();
  assert.deepEqual(sched.lrs(), [5e-4, 5e-3]);
  sched.step();
  assert.deepEqual(opt.paramGroups.map((g) => g.lr), [1e-3, 1e-2]);
  assert.equal(sched.stepCount, 2);

  const saved = JSON.parse(JSON.stringify(sched.stateDict())) as unknown;
  const opt2 = new SGD([{ params: [a.detach().clone()], lr: 0.5 }, { params: [b.detach().clone()], lr: 0.5 }]);
  const sched2 = new LRScheduler(opt2, makeSchedule('warmup', { warmupSteps: 2 }));
  sched2.loadStateDict(saved);
  assert.equal(sched2.stepCount, 2);
  assert.deepEqual(sched2.lrs(), [1e-3, 1e-2]);
  assert.throws(() => new LRScheduler(new SGD([a.detach().clone()]), constantSchedule()).loadStateDict(saved),
    /base lrs for 2 parameter groups, the optimizer has 1/);
});
