// The run store row every training loop keeps through training-run.ts: created for a new run,
// reused by a resumed one, finished with a summary, failed with the error, left running when the
// run stopped early.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunStore } from '../../src/store/runs.js';
import { recordedRun, checkpointStep } from '../../src/train/training-run.js';

test('recordedRun: a row per run, finished with its summary, reused on resume, failed with the error', async () => {
  const root = mkdtempSync(join(tmpdir(), 'training-run-'));
  const storePath = join(root, 'store.sqlite');
  const logs: string[] = [];
  const opts = (out: string, resuming: boolean, step = 0) => ({ store: storePath, kind: 'train-x', out: join(root, out), config: { a: 1 }, resuming, step, log: (m: string) => logs.push(m) });

  const stopped = await recordedRun(opts('a', false), async (rec) => {
    rec!.log(1, { loss: 2 });
    rec!.log(2, { loss: 1 });
    return { result: 'stopped', finished: false, step: 2 };
  });
  assert.equal(stopped, 'stopped');
  await recordedRun(opts('a', true, 1), async (rec) => {
    rec!.log(2, { loss: 0.5 });
    return { result: null, finished: true, step: 2, summary: { score: 0.75 } };
  });
  await assert.rejects(recordedRun(opts('b', false), async () => {
    throw new Error('boom');
  }), /boom/);
  // a resumed run without a row of its own gets a new one, and says so
  await recordedRun(opts('c', true, 3), async () => ({ result: null, finished: true, step: 3 }));
  assert.ok(logs.some((m) => /recording it as a new run/.test(m)), logs.join('\n'));
  assert.equal(await recordedRun(null, async (rec) => ({ result: rec, finished: true, step: 0 })), null);

  const store = new RunStore(storePath);
  const [c, b, a] = store.listRuns();
  assert.equal(store.listRuns().length, 3);
  assert.deepEqual([a!.method, a!.status, a!.outDir, a!.config], ['train-x', 'finished', join(root, 'a'), { a: 1 }]);
  assert.deepEqual(store.metrics(a!.id).map((m) => [m.step, m.key, m.value]), [[1, 'loss', 2], [2, 'loss', 0.5], [2, 'score', 0.75]]);
  assert.deepEqual([b!.status, b!.error], ['failed', 'boom']);
  assert.equal(c!.status, 'finished');
  store.close();
  assert.equal(checkpointStep(join(root, 'checkpoints', 'checkpoint-00000012')), 12);
});
