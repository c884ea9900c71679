// The metric columns of an evaluation: available rewards are built, a missing checkpoint or endpoint
// is "n/a" with its reason, an unknown name is an error, and --metrics parses.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { availableMetricRewards, metricColumns, parseMetricList } from '../../src/eval/metrics.js';
import { ENV } from '../../src/rewards/mllm.js';

describe('evaluation metrics', () => {
  test('a reward without its checkpoint is n/a with the reason; an available one is built', async () => {
    const saved = Object.values(ENV).map((k) => [k, process.env[k]] as const);
    for (const k of Object.values(ENV)) delete process.env[k];
    try {
      const logs: string[] = [];
      const { rewards, missing } = await availableMetricRewards(['compositional', 'mllm'], (m) => logs.push(m));
      assert.deepEqual(rewards.map((r) => r.name), ['compositional']);
      assert.deepEqual(Object.keys(missing), ['mllm']);
      assert.match(missing.mllm!, /no endpoint configured/);
      for (const r of rewards) r.dispose?.();
    } finally {
      for (const [k, v] of saved) if (v !== undefined) process.env[k] = v;
    }
  });

  test('an unknown metric name is an error listing the valid ones, not n/a', async () => {
    await assert.rejects(availableMetricRewards(['clipp'], () => {}), /unknown reward 'clipp'.*valid rewards/);
  });

  test('--metrics parses a list or none, and rejects an empty one', () => {
    assert.deepEqual(parseMetricList('clip, preference'), ['clip', 'preference']);
    assert.deepEqual(parseMetricList('none'), []);
    assert.throws(() => parseMetricList(' , '), /--metrics/);
  });
});

test('metric columns: rounded means, null for a metric that scored nothing, n/a for the missing', () => {
  assert.deepEqual(
    metricColumns({ clip: { mean: 77.123456 }, preference: { mean: null } }, { mllm: 'no endpoint configured' }),
    { clip: 77.1235, preference: null, mllm: 'n/a' },
  );
});
