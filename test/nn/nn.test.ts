import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import * as nn from '../../src/nn/index.js';

class Block extends nn.Module {
  conv1 = this.registerModule('conv1', new nn.Conv2d(4, 8, 3, { padding: 1 }));
  norm = this.registerModule('norm', new nn.GroupNorm(2, 8));
  forward(x: torch.Tensor) {
    return torch.tidy(() => this.norm.forward(this.conv1.forward(x)).silu());
  }
}
class Net extends nn.Module {
  down_blocks = this.registerModule('down_blocks', new nn.ModuleList([new Block(), new Block()]));
  proj = this.registerModule('proj', new nn.Linear(8, 3));
}

function maxAbsDiff(a: torch.Tensor, b: torch.Tensor): number {
  return torch.tidy(() => a.sub(b).abs().max().item());
}

test('dotted parameter names follow PyTorch', () => {
  const net = new Net();
  const names = net.namedParameters().map(([n]) => n);
  assert.deepEqual(names, [
    'down_blocks.0.conv1.weight', 'down_blocks.0.conv1.bias', 'down_blocks.0.norm.weight', 'down_blocks.0.norm.bias',
    'down_blocks.1.conv1.weight', 'down_blocks.1.conv1.bias', 'down_blocks.1.norm.weight', 'down_blocks.1.norm.bias',
    'proj.weight', 'proj.bias',
  ]);
  // conv 4·8·9 + 8, norm 8 + 8, twice; linear 8·3 + 3
  assert.equal(net.numParameters(), 2 * (4 * 8 * 9 + 8 + 16) + 27);
  net.dispose();
});

test('stateDict → loadStateDict copies values; strict reports missing, unexpected and mis-shaped keys', () => {
  const a = new Net();
  const b = new Net();
  b.loadStateDict(a.stateDict());
  for (const [n, p] of a.namedParameters()) assert.equal(maxAbsDiff(p, b.stateDict()[n]!), 0, n);

  const sd = { ...a.stateDict() };
  delete sd['proj.bias'];
  sd['extra.weight'] = torch.zeros([1]);
  assert.throws(() => b.loadStateDict(sd), /missing keys: proj\.bias.*unexpected keys: extra\.weight/);
  const r = b.loadStateDict(sd, { strict: false });
  assert.deepEqual(r.missing, ['proj.bias']);
  assert.deepEqual(r.unexpected, ['extra.weight']);

  const bad = { ...a.stateDict(), 'proj.weight': torch.zeros([2, 8]) };
  const before = b.stateDict()['proj.bias']!.toArray();
  assert.throws(() => b.loadStateDict(bad), /proj\.weight expected \[3, 8\] got \[2, 8\]/);
  assert.deepEqual(b.stateDict()['proj.bias']!.toArray(), before, 'a failed load changes nothing');
  a.dispose();
  b.dispose();
});

test('default initialisations have PyTorch bounds', () => {
  const l = new nn.Linear(100, 50);
  const bound = 1 / Math.sqrt(100);
  assert.ok(l.weight.abs().max().item() <= bound + 1e-7);
  assert.ok(l.weight.abs().max().item() > 0.9 * bound);
  assert.ok(l.bias!.abs().max().item() <= bound + 1e-7);
  const c = new nn.Conv2d(8, 16, 3);
  assert.ok(c.weight.abs().max().item() <= 1 / Math.sqrt(72) + 1e-7);
  const e = new nn.Embedding(1000, 16);
  assert.ok(Math.abs(e.weight.std().item() - 1) < 0.05);
  for (const m of [l, c, e]) m.dispose();
});

test('train / eval switches dropout', () => {
  const d = new nn.Sequential(new nn.Dropout(0.5));
  const x = torch.ones([1000]);
  const y = d.forward(x);
  const zeros = y.eq(0).sum().item();
  assert.ok(zeros > 400 && zeros < 600, `dropout zeroed ${zeros}/1000`);
  assert.ok(Math.abs(y.max().item() - 2) < 1e-6, 'kept values scale by 1/(1-p)');
  d.eval();
  assert.equal(d.forward(x).eq(1).sum().item(), 1000);
});

test('bad layer arguments are clear errors', () => {
  assert.throws(() => new nn.Linear(0, 3), /inFeatures must be a positive integer/);
  assert.throws(() => new nn.GroupNorm(3, 8), /not divisible/);
  const l = new nn.Linear(4, 2);
  assert.throws(() => l.forward(torch.zeros([3, 5])), /linear|addmm|mat1/i);
  l.dispose();
});

test('attention: self and cross, against the formula; the mask hides keys', () => {
  torch.manualSeed(0);
  const att = new nn.Attention(8, { heads: 2, dimHead: 4, crossAttentionDim: 6 });
  const names = att.namedParameters().map(([n]) => n);
  assert.deepEqual(names, ['to_q.weight', 'to_k.weight', 'to_v.weight', 'to_out.0.weight', 'to_out.0.bias']);
  const x = torch.randn([2, 5, 8]);
  const ctx = torch.randn([2, 3, 6]);
  const y = att.forward(x, ctx);
  assert.deepEqual(y.shape, [2, 5, 8]);

  // reference: per head softmax(q kᵀ/√d) v, written out with plain ops
  const ref = torch.tidy(() => {
    const q = att.toQ.forward(x), k = att.toK.forward(ctx), v = att.toV.forward(ctx);
    const heads: torch.Tensor[] = [];
    for (let h = 0; h < 2; h++) {
      const qh = q.slice(2, 4 * h, 4 * h + 4), kh = k.slice(2, 4 * h, 4 * h + 4), vh = v.slice(2, 4 * h, 4 * h + 4);
      heads.push(torch.F.softmax(qh.matmul(kh.transpose(1, 2)).div(2), -1).matmul(vh));
    }
    return (att.toOut.at(0) as nn.Linear).forward(torch.cat(heads, 2));
  });
  assert.ok(maxAbsDiff(y, ref) < 1e-5);

  // masking the last key equals attending to the first two only
  const mask = torch.tensor([[true, true, false], [true, true, false]]);
  const masked = att.forward(x, ctx, mask);
  const short = att.forward(x, ctx.slice(1, 0, 2));
  assert.ok(maxAbsDiff(masked, short) < 1e-5);
  att.dispose();
});

test('LoRA: starts as the base, merge/unmerge are exact, adapters save and load alone', () => {
  torch.manualSeed(1);
  const net = new Net();
  const x = torch.randn([2, 4, 6, 6]);
  const base = net.down_blocks.at(0) as Block;
  const y0 = base.forward(x);
  const adapted = nn.injectLoRA(net, { rank: 2, alpha: 4, target: /conv1$|proj$/ });
  assert.deepEqual(adapted, ['down_blocks.0.conv1', 'down_blocks.1.conv1', 'proj']);
  assert.ok(maxAbsDiff(base.forward(x), y0) < 1e-6, 'B = 0 at start');
  // only adapters train
  const trainable = net.namedParameters().filter(([, p]) => p.requiresGrad).map(([n]) => n);
  assert.ok(trainable.every((n) => n.includes('lora_layer')), trainable.join());
  assert.equal(trainable.length, 6);

  // give the adapters values, then merging must not change the output
  for (const p of net.trainableParameters()) torch.noGrad(() => p.normal_(0, 0.1));
  const yL = base.forward(x);
  assert.ok(maxAbsDiff(yL, y0) > 1e-3);
  nn.mergeLoRA(net);
  assert.ok(maxAbsDiff(base.forward(x), yL) < 1e-5);
  nn.unmergeLoRA(net);
  assert.ok(maxAbsDiff(base.forward(x), yL) < 1e-5);

  const sd = nn.loraStateDict(net);
  assert.equal(Object.keys(sd).length, 6);
  assert.ok(Object.keys(sd).includes('down_blocks.0.conv1.lora_layer.down.weight'));
  const other = new Net();
  other.loadStateDict(net.stateDict(), { strict: false }); // base weights (adapter keys unexpected)
  nn.injectLoRA(other, { rank: 2, alpha: 4, target: /conv1$|proj$/ });
  nn.loadLoRAStateDict(other, sd);
  assert.ok(maxAbsDiff((other.down_blocks.at(0) as Block).forward(x), yL) < 1e-6);
  assert.throws(() => nn.loadLoRAStateDict(other, { 'proj.lora_layer.up.weight': torch.zeros([3, 3]) }), /missing.*mis-shaped \[proj\.lora_layer\.up\.weight\]/);

  // gradients reach the adapter
  const loss = base.forward(x).square().mean();
  loss.backward();
  const g = base.conv1.lora!.up.weight.grad;
  assert.ok(g !== null && g.abs().sum().item() > 0);
  assert.equal(base.conv1.weight.grad, null, 'the frozen base gets no gradient');
  net.dispose();
  other.dispose();
});
