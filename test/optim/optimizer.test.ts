// The base class's semantics: state dicts (save → load → continue, and the checks), zeroGrad,
// ownership of state under an enclosing tidy, and no leak over many steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { AdamW, SGD, EMA, LRScheduler, clipGradNorm, makeSchedule, type Optimizer, type GroupOptions } from '../../src/optim/index.js';

const f64 = { dtype: 'float64' } as const;
const values = (t: torch.Tensor): number[] => [...(t.toTypedArray() as Float64Array)];

/** Two groups: a [3] and a [2, 2] parameter, then a [2] one. */
function makeParams(): torch.Tensor[] {
  return [
    torch.tensor([0.5, -1.25, 2], { ...f64, requiresGrad: true }),
    torch.tensor([[1, 2], [3, 4]], { ...f64, requiresGrad: true }),
    torch.tensor([-0.3, 0.7], { ...f64, requiresGrad: true }),
  ];
}
const copies = (ps: torch.Tensor[]): torch.Tensor[] => ps.map((p) => p.detach().clone().requiresGrad_());

/** A deterministic gradient for parameter i at step k. */
function setGrads(ps: torch.Tensor[], k: number): void {
  torch.tidy(() => {
    ps.forEach((p, i) => {
      p.grad = torch.arange(0, p.numel(), 1, f64).add(k + 1).mul(i + 1).sin().reshape(p.shape);
    });
  });
}

type Make = (ps: torch.Tensor[]) => Optimizer<GroupOptions>;
const KINDS: [string, Make][] = [
  ['AdamW', (ps) => new AdamW([{ params: ps.slice(0, 2), lr: 0.05 }, { params: ps.slice(2) }], { lr: 0.01, weightDecay: 0.1 })],
  ['AdamW amsgrad', (ps) => new AdamW([{ params: ps.slice(0, 2) }, { params: ps.slice(2), lr: 0.2 }], { amsgrad: true })],
  ['SGD nesterov', (ps) => new SGD([{ params: ps.slice(0, 2) }, { params: ps.slice(2), lr: 0.2 }], { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 })],
];

for (const [kind, make] of KINDS) {
  test(`${kind}: save → load → continue equals not stopping`, () => {
    const pa = makeParams();
    const a = make(pa);
    for (let k = 0; k < 5; k++) {
      setGrads(pa, k);
      a.step();
    }
    // through the formats a checkpoint uses: safetensors bytes and JSON
    const sd = a.stateDict();
    const bytes = torch.safetensors.toBytes(sd.tensors);
    const meta = JSON.parse(JSON.stringify(sd.meta)) as unknown;
    for (const t of Object.values(sd.tensors)) t.dispose();

    const pb = copies(pa);
    const b = make(pb);
    b.setLr(123); // the saved options replace these
    const loaded = torch.safetensors.fromBytes(bytes).tensors;
    b.loadStateDict({ tensors: loaded, meta });
    for (const t of Object.values(loaded)) t.dispose(); // B holds copies
    assert.deepEqual(b.paramGroups.map((g) => g.lr), a.paramGroups.map((g) => g.lr));

    for (let k = 5; k < 10; k++) {
      setGrads(pa, k);
      setGrads(pb, k);
      a.step();
      b.step();
    }
    pa.forEach((p, i) => assert.deepEqual(values(pb[i]!), values(p), `parameter ${i}`));
    a.dispose();
    b.dispose();
  });
}

test('loadStateDict: wrong shapes, counts, kinds and tensors are Errors naming the problem', () => {
  const pa = makeParams();
  const a = new AdamW([{ params: pa.slice(0, 2) }, { params: pa.slice(2) }]);
  setGrads(pa, 0);
  a.step();
  const sd = a.stateDict();
  const fresh = (ps: torch.Tensor[], groups = true): AdamW =>
    new AdamW(groups ? [{ params: ps.slice(0, 2) }, { params: ps.slice(2) }] : ps);

  const wrongShape = makeParams();
  wrongShape[1] = torch.zeros([4], { ...f64, requiresGrad: true });
  assert.throws(() => fresh(wrongShape).loadStateDict(sd), /parameter 1 has shape \[4\] here but \[2, 2\] in the state dict/);

  const tooFew = makeParams().slice(1);
  assert.throws(() => new AdamW([{ params: tooFew.slice(0, 1) }, { params: tooFew.slice(1) }]).loadStateDict(sd),
    /parameter group 0 has 2 parameters in the state dict, 1 here/);
  assert.throws(() => fresh(makeParams(), false).loadStateDict(sd), /the state dict has 2 parameter groups, this optimizer has 1/);
  assert.throws(() => new SGD(makeParams()).loadStateDict(sd), /the state dict is of a AdamW optimizer, not SGD/);

  const b = fresh(copies(pa));
  const bad = (tensors: Record<string, torch.Tensor>, re: RegExp): void => assert.throws(() => b.loadStateDict({ tensors, meta: sd.meta }), re);
  bad({ ...sd.tensors, 'state.1.exp_avg': torch.zeros([2, 3], f64) }, /tensor 'state.1.exp_avg' has shape \[2, 3\], its parameter has \[2, 2\]/);
  const { ['state.2.exp_avg_sq']: _, ...missing } = sd.tensors;
  bad(missing, /tensor 'state.2.exp_avg_sq' is missing from the state dict/);
  bad({ ...sd.tensors, 'state.0.momentum': torch.zeros([3], f64) }, /unexpected tensor 'state.0.momentum'/);
  assert.throws(() => b.loadStateDict({ tensors: sd.tensors, meta: { ...sd.meta, state: { ...sd.meta.state, 7: { step: 1, buffers: [] } } } }),
    /state of parameter '7', but there are 3 parameters/);
  assert.throws(() => b.loadStateDict({ tensors: sd.tensors, meta: { ...sd.meta, paramGroups: [{ ...sd.meta.paramGroups[0]!, lr: -2 }, sd.meta.paramGroups[1]!] } }),
    /parameter group 0: lr must be a finite number ≥ 0, got -2/);
  assert.throws(() => b.loadStateDict({ tensors: sd.tensors, meta: null }), /meta is missing/);

  // a failed load changes nothing: b still has no state and its options
  assert.deepEqual(b.stateDict().meta.state, {});
  b.loadStateDict(sd);
  assert.deepEqual(b.stateDict().meta, sd.meta);
});

test('the constructor rejects duplicates, non-leaves, integer tensors, mixed lists and empty lists', () => {
  const p = torch.zeros([2], { requiresGrad: true });
  assert.throws(() => new SGD([p, p]), /params\[1\] appears more than once/);
  assert.throws(() => new SGD([{ params: [p] }, { params: [p] }]), /parameter group 1: params\[0\] appears more than once/);
  assert.throws(() => new SGD([p.mul(2)]), /not a leaf tensor/);
  assert.throws(() => new SGD([torch.zeros([2], { dtype: 'int64' })]), /dtype int64; only floating-point/);
  assert.throws(() => new SGD([p, { params: [p] }] as never), /all tensors or all parameter groups/);
  assert.throws(() => new SGD([]), /non-empty array/);
  assert.throws(() => new SGD([p], { momentun: 0.9 } as never), /unknown option 'momentun' \(valid: lr, momentum, dampening, weightDecay, nesterov\)/);
});

test('zeroGrad sets gradients to null, or to zeros', () => {
  const p = torch.ones([3], { requiresGrad: true });
  const opt = new SGD([p]);
  torch.tidy(() => p.mul(p).sum().backward());
  opt.zeroGrad(false);
  assert.deepEqual([...torch.tidy(() => p.grad!.toFloat32Array())], [0, 0, 0]);
  opt.zeroGrad();
  assert.equal(p.grad, null);
});

test('state made inside an enclosing tidy survives it', () => {
  const p = torch.tensor([1, 2, 3], { ...f64, requiresGrad: true });
  const opt = torch.tidy(() => {
    const o = new AdamW([p], { lr: 0.1 });
    setGrads([p], 0);
    o.step(); // state is made here, inside the caller's scope
    return o;
  });
  setGrads([p], 1);
  opt.step();
  const sd = opt.stateDict();
  const pb = copies([p]);
  const b = new AdamW(pb);
  torch.tidy(() => b.loadStateDict(sd)); // the loaded state is made inside the caller's scope
  setGrads([p], 2);
  setGrads(pb, 2);
  b.step();
  opt.step();
  assert.equal(b.stateDict().meta.state['0']!.step, 3);
  assert.deepEqual(values(pb[0]!), values(p));
});

test('no leak: 500 steps of a small training loop keep the live-tensor count flat', () => {
  const w = torch.randn([8, 4], { requiresGrad: true });
  const bias = torch.zeros([4], { requiresGrad: true });
  const v = torch.randn([4], { requiresGrad: true });
  const x = torch.randn([16, 8]);
  const adamw = new AdamW([w, bias], { lr: 1e-3, amsgrad: true });
  const sgd = new SGD([v], { lr: 1e-2, momentum: 0.9, nesterov: true, weightDecay: 1e-4 });
  const sched = new LRScheduler(adamw, makeSchedule('cosine', { warmupSteps: 10, totalSteps: 500 }));
  const ema = new EMA([w, bias, v], { decay: 0.99, warmup: 'tf' });
  const trainStep = (): void => {
    torch.tidy(() => {
      const y = x.matmul(w).add(bias).tanh().mul(v); // [16, 4]
      y.square().mean().backward();
    });
    clipGradNorm([w, bias, v], 1.0);
    adamw.step();
    sgd.step();
    adamw.zeroGrad(false); // zeros (the next backward accumulates into them)
    sgd.zeroGrad(); // null
    sched.step();
    ema.update();
  };
  trainStep(); // the first step makes the state
  const before = torch.memory();
  for (let i = 0; i < 500; i++) trainStep();
  const after = torch.memory();
  assert.equal(after.tensors, before.tensors);
  assert.equal(after.bytes, before.bytes);
});
