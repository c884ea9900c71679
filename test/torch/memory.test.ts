// Explicit memory management: tidy, keep, dispose, memory(); and a long training loop stays flat.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import * as torch from '../../src/torch/index.js';
import { rand64, randomValues, f32 } from './helpers.js';

// A callable gc() without --expose-gc on the command line (node:test's runner passes no flags).
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const live = (): number => torch.memory().tensors;

test('tidy frees every tensor it does not return; the returned one survives', () => {
  const start = live();
  const made: torch.Tensor[] = [];
  const r = torch.tidy(() => {
    const a = torch.ones([2, 3]);
    const b = a.add(1);
    const c = b.mul(2);
    made.push(a, b);
    assert.equal(live(), start + 3);
    return c;
  });
  assert.equal(live(), start + 1);
  assert.ok(made.every((t) => t.isDisposed));
  assert.equal(r.isDisposed, false);
  assert.deepEqual(r.toArray(), [[4, 4, 4], [4, 4, 4]]);
  r.dispose();
  assert.equal(live(), start);
});

test('tensors returned inside arrays, objects and maps survive; plain values pass through', () => {
  const start = live();
  const r = torch.tidy(() => {
    const tmp = torch.zeros([4]);
    return {
      a: tmp.add(1),
      list: [tmp.add(2), { deep: tmp.add(3) }],
      map: new Map([['m', tmp.add(4)]]),
      n: 5,
    };
  });
  assert.equal(live(), start + 4);
  assert.equal(r.n, 5);
  assert.deepEqual(r.a.toArray(), [1, 1, 1, 1]);
  assert.deepEqual((r.list[0] as torch.Tensor).toArray(), [2, 2, 2, 2]);
  assert.deepEqual((r.list[1] as { deep: torch.Tensor }).deep.toArray(), [3, 3, 3, 3]);
  assert.deepEqual(r.map.get('m')!.toArray(), [4, 4, 4, 4]);
  for (const t of [r.a, r.list[0] as torch.Tensor, (r.list[1] as { deep: torch.Tensor }).deep, r.map.get('m')!]) t.dispose();
  assert.equal(live(), start);
});

test('a tensor returned from an inner tidy moves to the outer scope, which frees it', () => {
  const start = live();
  let inner: torch.Tensor | null = null;
  const outer = torch.tidy(() => {
    inner = torch.tidy(() => torch.ones([3]).mul(2));
    assert.equal(live(), start + 1);
    return inner.sum();
  });
  assert.equal(inner!.isDisposed, true, 'the outer tidy freed what the inner one returned');
  assert.equal(outer.item(), 6);
  outer.dispose();
  assert.equal(live(), start);
});

test('torch.keep takes a tensor out of its scope', () => {
  const start = live();
  let kept: torch.Tensor | null = null;
  torch.tidy(() => {
    kept = torch.keep(torch.full([2], 9));
    torch.ones([5]);
  });
  assert.equal(live(), start + 1);
  assert.deepEqual(kept!.toArray(), [9, 9]);
  // keep inside nested scopes survives both
  let deep: torch.Tensor | null = null;
  const k2 = torch.tidy(() => {
    torch.tidy(() => { deep = torch.keep(torch.zeros([1])); });
    return 0 as const;
  });
  assert.equal(k2, 0);
  assert.equal(live(), start + 2);
  assert.equal(deep!.isDisposed, false);
  kept!.dispose();
  deep!.dispose();
  assert.equal(live(), start);
});

test('dispose frees once; disposing twice is harmless; bytes are accounted', () => {
  const start = torch.memory();
  const t = torch.zeros([1000]); // 4000 bytes of float32
  const after = torch.memory();
  assert.equal(after.tensors, start.tensors + 1);
  assert.equal(after.bytes, start.bytes + 4000);
  t.dispose();
  assert.equal(t.isDisposed, true);
  t.dispose();
  assert.deepEqual(torch.memory(), start);
  assert.equal(String(t), 'Tensor(disposed)');
});

test('an exception inside tidy still frees its tensors, and the error propagates', () => {
  const start = live();
  const made: torch.Tensor[] = [];
  assert.throws(() => torch.tidy(() => {
    made.push(torch.ones([10]), torch.zeros([10]));
    throw new Error('inside tidy');
  }), /inside tidy/);
  assert.equal(live(), start);
  assert.ok(made.every((t) => t.isDisposed));
  // an error from the engine itself, too
  assert.throws(() => torch.tidy(() => torch.ones([2, 3]).matmul(torch.ones([2, 3]))), /matmul/);
  assert.equal(live(), start);
});

test('tidy refuses an async function and frees what it made', async () => {
  const start = live();
  assert.throws(() => torch.tidy((async () => { torch.ones([2]); }) as unknown as () => void), /synchronous/);
  assert.equal(live(), start);
});

test('the finalizer frees unreachable top-level tensors (safety net)', async () => {
  // let the nursery register them, then collect and let the finalizers run
  const collect = async (): Promise<void> => {
    await new Promise((r) => setImmediate(r));
    gc();
    await new Promise((r) => setTimeout(r, 5));
  };
  for (let i = 0; i < 3; i++) await collect(); // settle what earlier tests left unreachable
  const start = live();
  const held = torch.ones([4]); // reachable: must survive
  (() => { for (let i = 0; i < 200; i++) torch.ones([16]); })();
  assert.equal(live(), start + 201);
  for (let i = 0; i < 20 && live() > start + 1; i++) await collect();
  assert.equal(live(), start + 1);
  assert.deepEqual(held.toArray(), [1, 1, 1, 1]);
  held.dispose();
});

test('2,000 training steps of an MLP keep the live-tensor count and RSS flat', () => {
  // y = sin(x·a) over 64 points of R^8; a 2-layer MLP 8 → 32 → 1, plain SGD in place.
  const X = f32(randomValues(64 * 8, 101, -1, 1), [64, 8]);
  const a = f32(randomValues(8, 102, -1, 1), [8, 1]);
  const Y = torch.tidy(() => X.matmul(a).sin());
  const params = [
    rand64([8, 32], 103, -0.5, 0.5).float(),
    torch.zeros([32]),
    rand64([32, 1], 104, -0.5, 0.5).float(),
    torch.zeros([1]),
  ].map((p) => p.requiresGrad_());
  const [W1, b1, W2, b2] = params as [torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor];
  const lr = 0.1;
  const step = (): number =>
    torch.tidy(() => {
      const h = X.matmul(W1).add(b1).tanh(); // [64, 32]
      const out = h.matmul(W2).add(b2); // [64, 1]
      const loss = torch.F.mseLoss(out, Y);
      loss.backward();
      torch.noGrad(() => {
        for (const p of params) p.sub_(p.grad!, lr);
      });
      for (const p of params) p.grad = null;
      return loss.item();
    });

  const start = live();
  const firstLoss = step();
  assert.equal(live(), start, 'one step leaves nothing behind');
  for (let i = 1; i < 200; i++) step();
  gc();
  const rss0 = process.memoryUsage().rss;
  let lastLoss = 0;
  for (let i = 200; i < 2000; i++) {
    lastLoss = step();
    if (i % 500 === 0) assert.equal(live(), start, `live tensors at step ${i}`);
  }
  gc();
  const rss1 = process.memoryUsage().rss;
  assert.equal(live(), start);
  assert.ok(lastLoss < firstLoss / 4, `the network learns: loss ${firstLoss} → ${lastLoss}`);
  const growth = (rss1 - rss0) / rss0;
  assert.ok(growth < 0.05, `RSS grew ${(growth * 100).toFixed(2)}% (${rss0} → ${rss1})`);
});
