// The run store's tables for the dashboard: labels and user-study votes round-trip, and the newest
// metrics of a run are read without every row.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { RunStore } from '../../src/store/runs.js';

const dir = () => mkdtempSync(join(tmpdir(), 'sharpen-store-'));

test('labels and study votes round-trip; latestMetrics gives the newest step and the newest finite value per key', () => {
  const s = new RunStore(join(dir(), 'store.sqlite'));
  const id = s.createRun({ name: 'x', method: 'ddpo', outDir: 'runs/x', config: {} });
  s.logMetrics(id, 1, { loss: 0.5, rewardMean: 0.1 });
  s.logMetrics(id, 2, { loss: NaN, rewardMean: 0.2 });
  assert.deepEqual(s.latestMetrics(id), { step: 2, values: { loss: 0.5, rewardMean: 0.2 } });
  assert.deepEqual(s.latestMetrics(999), { step: null, values: {} });
  assert.deepEqual(s.metricsAfter(id, 1).map((m) => m.key), ['loss', 'rewardMean']);
  const l = s.addLabel({ pool: 'p', pairId: '0-0-1', prompt: 'a red circle', imageAId: 'p/a.png', imageA: 'a.png', imageBId: 'p/b.png', imageB: 'b.png', choice: 'B', annotator: 'ann', modelPA: 0.25, meta: { k: 1 } });
  const [row] = s.labels({ pool: 'p' });
  assert.equal(row!.id, l);
  assert.equal(row!.imageA, resolve('a.png'));
  assert.deepEqual([row!.choice, row!.modelPA, row!.meta], ['B', 0.25, { k: 1 }]);
  assert.equal(s.labels({ pool: 'q' }).length, 0);
  assert.throws(() => s.addLabel({ ...row!, choice: 'C' as never }), /CHECK constraint/);
  s.addStudyVote({ study: 'st', trialId: '0-0-1', prompt: 'a', modelX: 'x', modelY: 'y', outcome: 'tie', annotator: 'ann' });
  assert.deepEqual(s.studyVotes('st').map((v) => v.outcome), ['tie']);
  s.close();
});
