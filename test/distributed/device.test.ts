// Devices and mixed precision: Module.to moves parameters in place (an optimizer made before keeps
// working), the default device of created tensors, bf16 autocast forward and backward, the errors
// of a device this build cannot reach, and the launcher's checks. On a CUDA build (scripts/gpu-check.sh)
// the same tests move a model to cuda and train it one step there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { Linear } from '../../src/nn/layers.js';
import { SGD } from '../../src/optim/index.js';
import { TextToImageModel } from '../../src/models/t2i.js';
import { tinyConfig } from '../helpers/tiny-model.js';
import { applyDeviceFlags } from '../../src/torch/device-flags.js';
import { checkLaunchOptions, rootFailure, workerEnv } from '../../src/distributed/launcher.js';
import { launchEnv } from '../../src/distributed/index.js';
import { workerCommand } from '../../src/cli/launch.js';

const cuda = torch.cuda.isAvailable();

test('Module.to keeps the parameters\' identity; an optimizer made before still trains them', () => {
  torch.manualSeed(0);
  const l = new Linear(4, 3);
  const w = l.weight;
  const opt = new SGD(l.parameters(), { lr: 0.1 });
  const device = cuda ? 'cuda' : 'cpu';
  l.to(device);
  assert.equal(l.weight, w);
  assert.equal(l.device(), cuda ? 'cuda:0' : 'cpu');
  assert.equal(w.requiresGrad, true);
  const before = Array.from(w.toFloat32Array());
  const x = torch.randn([2, 4], { device });
  torch.tidy(() => l.forward(x).square().sum().backward());
  opt.step();
  assert.notDeepEqual(Array.from(w.toFloat32Array()), before);
  assert.equal(w.grad!.device, l.device());
});

test('a tiny text-to-image model moved with to() predicts as before, to float tolerance', () => {
  torch.manualSeed(1);
  const m = new TextToImageModel(tinyConfig());
  const x = torch.randn([1, 3, 8, 8]);
  const t = torch.tensor([10]);
  const ref = torch.noGrad(() => m.predict(x, t, m.encode(['a red circle'])).toFloat32Array());
  const device = cuda ? 'cuda' : 'cpu';
  m.to(device);
  const out = torch.noGrad(() => m.predict(x.to(device), t.to(device), m.encode(['a red circle'])).toFloat32Array());
  for (let i = 0; i < ref.length; i++) assert.ok(Math.abs(ref[i]! - out[i]!) < 1e-4, `element ${i}: ${ref[i]} vs ${out[i]}`);
  m.dispose();
});

test('bf16 autocast: a Linear computes in bfloat16, its weight gradient stays float32; autocast is restored after', () => {
  const l = new Linear(8, 8);
  const y = torch.autocast('cpu', () => l.forward(torch.randn([2, 8])));
  assert.equal(y.dtype, 'bfloat16');
  assert.equal(torch.isAutocastEnabled('cpu'), false);
  y.float().sum().backward();
  assert.equal(l.weight.grad!.dtype, 'float32');
  assert.throws(() => torch.setAutocast('tpu' as 'cpu', true), /autocast device must be 'cpu' or 'cuda', got 'tpu'/);
});

test('the default device: created tensors follow it; a device this build cannot reach is a clear error', { skip: cuda && 'this build has CUDA' }, () => {
  applyDeviceFlags({ device: 'cpu' });
  assert.equal(torch.zeros([2]).device, 'cpu');
  assert.throws(() => applyDeviceFlags({ device: 'gpu' }), /--device must be cpu, cuda or cuda:N, got 'gpu'/);
  assert.throws(() => applyDeviceFlags({ device: 'cuda' }), /'cuda' is not available: this addon is built against a libtorch without CUDA/);
  assert.throws(() => new Linear(2, 2).to('cuda'), /'cuda' is not available/);
  assert.equal(torch.getDefaultDevice(), 'cpu');
});

test('the launcher: torchrun\'s environment, its checks, and the failure it reports', () => {
  const o = { nprocPerNode: 4, nnodes: 2, nodeRank: 1, masterAddr: '10.0.0.1', masterPort: 29500, threadsPerWorker: 3, command: ['finetune'] };
  const env = workerEnv(o, 2, {});
  assert.deepEqual(
    { RANK: env.RANK, WORLD_SIZE: env.WORLD_SIZE, LOCAL_RANK: env.LOCAL_RANK, MASTER_ADDR: env.MASTER_ADDR, MASTER_PORT: env.MASTER_PORT, OMP_NUM_THREADS: env.OMP_NUM_THREADS },
    { RANK: '6', WORLD_SIZE: '8', LOCAL_RANK: '2', MASTER_ADDR: '10.0.0.1', MASTER_PORT: '29500', OMP_NUM_THREADS: '3' },
  );
  assert.deepEqual(launchEnv(env), { rank: 6, worldSize: 8, localRank: 2, masterAddr: '10.0.0.1', masterPort: 29500 });
  assert.throws(() => checkLaunchOptions({ ...o, nodeRank: 2 }), /--node-rank 2 must be below --nnodes 2/);
  assert.throws(() => checkLaunchOptions({ ...o, command: [] }), /no command given: put it after --/);
  assert.throws(() => checkLaunchOptions({ ...o, masterPort: 70000 }), /--master-port must be a port number/);
  assert.throws(() => launchEnv({ RANK: '2', WORLD_SIZE: '2', MASTER_ADDR: 'x', MASTER_PORT: '1' }), /RANK 2 must be below WORLD_SIZE 2/);
  assert.throws(() => launchEnv({ RANK: '0', WORLD_SIZE: 'two', MASTER_ADDR: 'x', MASTER_PORT: '1' }), /WORLD_SIZE must be an integer ≥ 1, got 'two'/);
  assert.equal(launchEnv({}), null);
  // the worker whose peer died is not the cause when another worker failed with its own error
  const peer = { rank: 0, localRank: 0, pid: 1, code: 1, signal: null, tail: 'allReduce: a peer process closed its connection' };
  const cause = { rank: 1, localRank: 1, pid: 2, code: 1, signal: null, tail: 'Error: out of memory' };
  assert.equal(rootFailure([peer, cause]), cause);
  assert.equal(rootFailure([peer]), peer);
  // the command after --: a sharpen command (its global flags may come first), a script, or a program
  const sharpen = (argv: string[]) => argv[0] === process.execPath && argv[1]!.endsWith('bin/sharpen.js');
  assert.ok(sharpen(workerCommand(['finetune', '--method', 'x'])));
  assert.ok(sharpen(workerCommand(['--device', 'cuda', 'finetune'])));
  const script = new URL('./workers/collectives.ts', import.meta.url).pathname;
  assert.deepEqual(workerCommand([script, 'a']), [process.execPath, '--import', 'tsx', script, 'a']);
  assert.deepEqual(workerCommand(['python3', 'train.py']), ['python3', 'train.py']);
});
