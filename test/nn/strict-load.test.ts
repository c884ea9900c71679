// loadStateDict refuses dtypes other than the module's (unless a cast is asked for) and floating
// tensors holding NaN, ±Inf or absurdly large values, naming the tensor and the count, and changes
// nothing when it refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { Linear } from '../../src/nn/index.js';

function pair(): { a: Linear; b: Linear } {
  torch.manualSeed(0);
  return { a: new Linear(4, 3), b: new Linear(4, 3) };
}

test('loadStateDict: a dtype other than the module\'s is an Error naming the tensor, unless cast is asked for', () => {
  const { a, b } = pair();
  const before = b.stateDict().weight!.toArray();
  const sd = { weight: a.stateDict().weight!.to('int32'), bias: a.stateDict().bias! };
  assert.throws(() => b.loadStateDict(sd), /dtype mismatches: weight expected float32 got int32 \(pass \{ cast: true \} to cast\)/);
  assert.deepEqual(b.stateDict().weight!.toArray(), before, 'nothing changed');
  const half = { weight: a.stateDict().weight!.to('float64'), bias: a.stateDict().bias! };
  b.loadStateDict(half, { cast: true });
  assert.equal(b.stateDict().weight!.dtype, 'float32');
  assert.deepEqual(b.stateDict().weight!.toArray(), a.stateDict().weight!.toArray());
});

test('loadStateDict: NaN, ±Inf and values beyond MAX_PLAUSIBLE_WEIGHT are refused with the tensor and the count', () => {
  const { a, b } = pair();
  const before = b.stateDict().bias!.toArray();
  const w = a.stateDict().weight!.clone();
  const data = w.toFloat32Array();
  data[0] = NaN;
  data[3] = Infinity;
  data[5] = -Infinity;
  const bad = torch.fromTypedArray(data, [3, 4]);
  assert.throws(() => b.loadStateDict({ weight: bad, bias: a.stateDict().bias! }), /corrupt values: weight has 3 NaN or infinite of 12 values/);
  const huge = torch.fromTypedArray(new Float32Array([0.1, 2.2e37, -3]), [3]);
  assert.throws(() => b.loadStateDict({ weight: a.stateDict().weight!, bias: huge }), /bias has 1 beyond ±1e\+20 of 3 values/);
  assert.deepEqual(b.stateDict().bias!.toArray(), before, 'nothing changed');
});
