// The composite reward: normalisation by declared scale and by running statistics, unscored
// propagation, the differentiable path, and state for checkpoints.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { CompositeReward, RunningStats, type CompositeTermDetail } from '../../src/rewards/composite.js';
import { FixedReward, MeanReward } from './toy-rewards.js';

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);
const imgs = (n: number) => torch.zeros([n, 3, 2, 2]);

describe('composite reward', () => {
  test("'scale': a 0–1000 range reward and a N(0, 0.01) reward count equally", async () => {
    // Raw sums would be dominated by the big one: [1000 − 0.01, 0 + 0.01].
    const big = new FixedReward('big', { kind: 'range', min: 0, max: 1000 }, [{ scores: [1000, 0, 500] }]);
    const tiny = new FixedReward('tiny', { kind: 'normal', mean: 0, std: 0.01 }, [{ scores: [-0.01, 0.01, 0] }]);
    const c = new CompositeReward({
      terms: [
        { reward: big, weight: 1 },
        { reward: tiny, weight: 1 },
      ],
    });
    const x = imgs(3);
    const out = await c.score(x, ['a', 'b', 'c']);
    x.dispose();
    // big → [1, 0, 0.5]; tiny → [−1, 1, 0]
    close(out.scores[0]!, 0);
    close(out.scores[1]!, 1);
    close(out.scores[2]!, 0.5);
    assert.equal(out.unscored, undefined);
    const d = out.details![0] as CompositeTermDetail[];
    assert.deepEqual(
      d.map((t) => [t.name, t.raw, t.weight]),
      [
        ['big', 1000, 1],
        ['tiny', -0.01, 1],
      ],
    );
    close(d[1]!.normalized, -1);
    assert.deepEqual(d[0]!.detail, { toy: 1000 });
    assert.equal(c.name, 'composite(big*1+tiny*1)');
    assert.equal(c.differentiable, false);
    assert.equal(c.scale.kind, 'normal');
  });

  test('weights apply after normalisation; a sum of ranges declares a range', async () => {
    const a = new FixedReward('a', { kind: 'range', min: 0, max: 100 }, [{ scores: [100, 50] }]);
    const b = new FixedReward('b', { kind: 'range', min: -1, max: 1 }, [{ scores: [-1, 1] }]);
    const c = new CompositeReward({
      terms: [
        { reward: a, weight: 2 },
        { reward: b, weight: -0.5 },
      ],
    });
    assert.deepEqual(c.scale, { kind: 'range', min: -0.5, max: 2 });
    const out = await c.score(imgs(2), ['x', 'y']);
    close(out.scores[0]!, 2 * 1 - 0.5 * 0);
    close(out.scores[1]!, 2 * 0.5 - 0.5 * 1);
  });

  test("'running': Welford statistics over every batch seen equal the two-pass ones", async () => {
    const b1 = [1000, 3000, 2000];
    const b2 = [5000, 4000];
    const t1 = [0.001, 0.003, 0.002];
    const t2 = [0.0, 0.004];
    const big = new FixedReward('big', { kind: 'range', min: 0, max: 1 }, [{ scores: b1 }, { scores: b2 }]); // declared scale ignored
    const tiny = new FixedReward('tiny', { kind: 'normal', mean: 0, std: 1 }, [{ scores: t1 }, { scores: t2 }]);
    const c = new CompositeReward({
      terms: [
        { reward: big, weight: 1 },
        { reward: tiny, weight: 1 },
      ],
      normalize: 'running',
    });
    const x3 = imgs(3);
    const first = await c.score(x3, ['a', 'b', 'c']);
    // after one batch each term is standardised over that batch: big → [−1, 1, 0], tiny → [−1, 1, 0]
    close(first.scores[0]!, -2);
    close(first.scores[1]!, 2);
    close(first.scores[2]!, 0);
    const x2 = imgs(2);
    const second = await c.score(x2, ['d', 'e']);
    const all = [...b1, ...b2];
    const mean = all.reduce((s, v) => s + v, 0) / all.length;
    const std = Math.sqrt(all.reduce((s, v) => s + (v - mean) ** 2, 0) / (all.length - 1));
    close(c.stats[0]!.mean, mean);
    close(c.stats[0]!.std, std);
    const allT = [...t1, ...t2];
    const meanT = allT.reduce((s, v) => s + v, 0) / allT.length;
    const stdT = Math.sqrt(allT.reduce((s, v) => s + (v - meanT) ** 2, 0) / (allT.length - 1));
    close(second.scores[0]!, (5000 - mean) / std + (0 - meanT) / stdT, 1e-9);
    close(second.scores[1]!, (4000 - mean) / std + (0.004 - meanT) / stdT, 1e-9);
    // same magnitude from both terms though their units differ by 10⁶
    const d = second.details![1] as CompositeTermDetail[];
    assert.ok(Math.abs(d[0]!.normalized) < 3 && Math.abs(d[1]!.normalized) < 3);
    assert.equal(c.scale.kind, 'normal');
    close((c.scale as { std: number }).std, Math.SQRT2);
    x3.dispose();
    x2.dispose();
  });

  test("'running': state round-trips; frozen statistics do not move", async () => {
    const mk = () =>
      new CompositeReward({
        terms: [
          {
            reward: new FixedReward('r', { kind: 'range', min: 0, max: 1 }, [{ scores: [1, 2, 3] }, { scores: [10] }]),
            weight: 1,
          },
        ],
        normalize: 'running',
      });
    const c = mk();
    await c.score(imgs(3), ['a', 'b', 'c']);
    const state = c.state();
    assert.deepEqual(
      state.stats.map((s) => [s.name, s.count, s.mean]),
      [['r', 3, 2]],
    );
    const d = mk();
    d.loadState(JSON.parse(JSON.stringify(state)));
    assert.deepEqual(d.state(), state);
    d.frozen = true;
    d.stats[0]!.push(NaN); // ignored
    const out = await d.score(imgs(3), ['a', 'b', 'c']); // frozen: normalised by the loaded stats
    close(out.scores[0]!, (1 - 2) / 1);
    assert.equal(d.stats[0]!.count, 3);
    assert.throws(() => d.loadState({ stats: [{ name: 'other', count: 1, mean: 0, m2: 0 }] }), /expected 'r'/);
    const s = new RunningStats();
    s.push(5);
    assert.equal(s.variance, 0);
  });

  test('a sample unscored by any term is unscored in the sum (and not counted in running stats)', async () => {
    const a = new FixedReward('a', { kind: 'range', min: 0, max: 10 }, [{ scores: [5, 6, 7] }]);
    const b = new FixedReward('b', { kind: 'range', min: 0, max: 10 }, [{ scores: [1, NaN, 3], unscored: [false, true, false] }]);
    const c = new CompositeReward({
      terms: [
        { reward: a, weight: 1 },
        { reward: b, weight: 1 },
      ],
      normalize: 'running',
    });
    const out = await c.score(imgs(3), ['a', 'b', 'c']);
    assert.deepEqual(out.unscored, [false, true, false]);
    assert.ok(Number.isNaN(out.scores[1]));
    assert.ok(Number.isFinite(out.scores[0]!) && Number.isFinite(out.scores[2]!));
    assert.equal(c.stats[0]!.count, 3);
    assert.equal(c.stats[1]!.count, 2);
    assert.equal((out.details![1] as CompositeTermDetail[])[1]!.unscored, true);
  });

  test('errors: a failing term is named; NaN without unscored is rejected; bad weights and scales', async () => {
    const ok = new FixedReward('ok', { kind: 'range', min: 0, max: 1 }, [{ scores: [0.5] }, { scores: [0.5] }]);
    const broken = new FixedReward('broken', { kind: 'range', min: 0, max: 1 }, []);
    const c1 = new CompositeReward({
      terms: [
        { reward: ok, weight: 1 },
        { reward: broken, weight: 1 },
      ],
    });
    await assert.rejects(c1.score(imgs(1), ['p']), /term 'broken' failed/);
    const nan = new FixedReward('nan', { kind: 'range', min: 0, max: 1 }, [{ scores: [NaN] }]);
    const c2 = new CompositeReward({
      terms: [
        { reward: ok, weight: 1 },
        { reward: nan, weight: 1 },
      ],
    });
    await assert.rejects(c2.score(imgs(1), ['p']), /reward 'nan': score 0 is NaN but the sample is not marked unscored/);
    assert.throws(() => new CompositeReward({ terms: [] }), /at least one term/);
    assert.throws(() => new CompositeReward({ terms: [{ reward: ok, weight: 0 }] }), /non-zero weight/);
    const badScale = new FixedReward('bad', { kind: 'range', min: 1, max: 1 }, []);
    assert.throws(
      () => new CompositeReward({ terms: [{ reward: badScale, weight: 1 }] }),
      /reward 'bad': a range scale needs finite min < max/,
    );
    await assert.rejects(c1.score(imgs(2), ['only one prompt']), /2 images but 1 prompts/);
    c1.dispose();
    assert.equal(broken.disposed, true);
  });

  test('scoreDifferentiable: the normalised weighted sum with its gradient', () => {
    const a = new MeanReward('a', { kind: 'range', min: 0, max: 1000 }, 1000); // normalised: mean(x)
    const b = new MeanReward('b', { kind: 'normal', mean: 0, std: 0.5 }, 1); // normalised: 2·mean(x)
    const c = new CompositeReward({
      terms: [
        { reward: a, weight: 3 },
        { reward: b, weight: 1 },
      ],
    });
    assert.equal(c.differentiable, true);
    const before = torch.memory().tensors;
    const { shape, rv, means, g } = torch.tidy(() => {
      const x = torch.rand([2, 3, 2, 2]).requiresGrad_();
      const r = c.scoreDifferentiable(x, ['p', 'q']); // [2] = 5·mean(x)
      r.sum().backward();
      return {
        shape: r.shape,
        rv: Array.from(r.detach().toFloat32Array()),
        means: Array.from(torch.noGrad(() => x.detach().mean([1, 2, 3]).toFloat32Array())),
        g: Array.from(x.grad!.toFloat32Array()),
      };
    });
    assert.deepEqual(shape, [2]);
    close(rv[0]!, 5 * means[0]!, 1e-5);
    close(rv[1]!, 5 * means[1]!, 1e-5);
    for (const v of g) close(v, 5 / 12, 1e-6);
    assert.equal(torch.memory().tensors, before, 'no tensors leaked');
    const nd = new CompositeReward({
      terms: [{ reward: new FixedReward('f', { kind: 'range', min: 0, max: 1 }, []), weight: 1 }],
    });
    assert.throws(() => nd.scoreDifferentiable(torch.zeros([1, 3, 2, 2]), ['p']), /not differentiable/);
  });
});
