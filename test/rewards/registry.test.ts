// The reward registry: registration, building by name, errors that list the valid names, and the
// rewards registered by src/rewards/index.ts (mllm, composite).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import {
  CompositeReward,
  MllmReward,
  UnknownRewardError,
  makeReward,
  registerReward,
  rewardUnavailableReason,
  rewardDescriptions,
  rewardNames,
  hasReward,
} from '../../src/rewards/index.js';
import { FixedReward } from './toy-rewards.js';

registerReward(
  'test-fixed',
  (opts) =>
    new FixedReward(String(opts.name ?? 'test-fixed'), { kind: 'range', min: 0, max: Number(opts.max ?? 1) }, [
      { scores: [Number(opts.value ?? 0)] },
    ]),
  'a toy reward for the tests',
);
registerReward(
  'test-async',
  async (opts) => {
    await new Promise((r) => setTimeout(r, 1));
    return new FixedReward('test-async', { kind: 'normal', mean: 0, std: Number(opts.std ?? 1) }, [
      { scores: [Number(opts.value ?? 0)] },
    ]);
  },
  'a toy reward with an async factory',
);

describe('reward registry', () => {
  test('mllm and composite are registered with descriptions', () => {
    assert.ok(rewardNames().includes('mllm'));
    assert.ok(rewardNames().includes('composite'));
    assert.deepEqual(rewardNames(), [...rewardNames()].sort());
    const d = rewardDescriptions().find((e) => e.name === 'mllm');
    assert.match(d!.description, /SHARPEN_MLLM_MODEL/);
    assert.equal(hasReward('test-fixed'), true);
    assert.equal(hasReward('nope'), false);
  });

  test('makeReward builds by name and passes the options (sync and async factories)', async () => {
    const r = await makeReward('test-fixed', { value: 0.25, max: 2 });
    assert.deepEqual(r.scale, { kind: 'range', min: 0, max: 2 });
    const x = torch.zeros([1, 3, 2, 2]);
    assert.deepEqual((await r.score(x, ['p'])).scores, [0.25]);
    const a = await makeReward('test-async', { value: 3 });
    assert.deepEqual((await a.score(x, ['p'])).scores, [3]);
    x.dispose();
  });

  test('an unknown name throws listing the valid ones', async () => {
    await assert.rejects(makeReward('clip-scroe'), (e: Error) => {
      assert.ok(e instanceof UnknownRewardError);
      assert.equal(e.rewardName, 'clip-scroe');
      assert.match(e.message, /unknown reward 'clip-scroe'/);
      for (const n of ['composite', 'mllm', 'test-fixed']) assert.ok(e.message.includes(n), n);
      return true;
    });
  });

  test('duplicate and invalid names are refused', () => {
    assert.throws(
      () => registerReward('test-fixed', () => new FixedReward('x', { kind: 'range', min: 0, max: 1 }, []), ''),
      /already registered/,
    );
    assert.throws(
      () => registerReward('Bad Name', () => new FixedReward('x', { kind: 'range', min: 0, max: 1 }, []), ''),
      /invalid name/,
    );
  });

  test("'composite' builds its terms by name; unknown keys and unknown terms are refused", async () => {
    const c = await makeReward('composite', {
      terms: [
        { name: 'test-fixed', weight: 2, opts: { value: 500, max: 1000, name: 'big' } },
        { name: 'test-async', opts: { value: 0.02, std: 0.01 } },
      ],
    });
    assert.ok(c instanceof CompositeReward);
    const x = torch.zeros([1, 3, 2, 2]);
    const out = await c.score(x, ['p']);
    x.dispose();
    assert.ok(Math.abs(out.scores[0]! - (2 * 0.5 + 2)) < 1e-9, String(out.scores[0]));
    await assert.rejects(makeReward('composite', { terms: [{ name: 'test-fixed' }], extra: 1 }), /Unrecognized key/i);
    await assert.rejects(makeReward('composite', { terms: [] }), /terms/);
    await assert.rejects(makeReward('composite', { terms: [{ name: 'nope' }] }), (e: Error) => e instanceof UnknownRewardError && /unknown reward 'nope'/.test(e.message));
  });

  test("'mllm' from options, and a clear Error when no endpoint is configured", async () => {
    const r = await makeReward('mllm', { baseURL: 'http://127.0.0.1:9/v1', model: 'm', cacheDir: null });
    assert.ok(r instanceof MllmReward);
    assert.deepEqual(r.scale, { kind: 'range', min: 0, max: 10 });
    const saved = { ...process.env };
    try {
      delete process.env.SHARPEN_MLLM_BASE_URL;
      delete process.env.SHARPEN_MLLM_API_KEY;
      delete process.env.SHARPEN_MLLM_MODEL;
      await assert.rejects(makeReward('mllm', {}), /no MLLM endpoint is configured/);
      assert.match(rewardUnavailableReason('mllm')!, /^no endpoint configured \(mllm reward: no MLLM endpoint/);
      assert.equal(rewardUnavailableReason('test-fixed'), null);
      assert.throws(() => rewardUnavailableReason('nope'), UnknownRewardError);
    } finally {
      Object.assign(process.env, saved);
    }
    await assert.rejects(makeReward('mllm', { model: 'm', baseURL: 'http://h/v1', concurrency: 0 }), /concurrency/);
  });
});
