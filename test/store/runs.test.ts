// The SQLite run store: runs and metrics round-trip, a resumed run keeps its row and drops the
// metrics it will log again, and a file that is not a store is a clear error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { RunStore } from '../../src/store/runs.js';

const dir = () => mkdtempSync(join(tmpdir(), 'sharpen-store-'));

test('a run and its metrics round-trip; status and times are recorded', () => {
  const path = join(dir(), 'sub', 'store.sqlite'); // the folder is created
  const s = new RunStore(path);
  const id = s.createRun({ name: 'x', method: 'rlhf-sharpening', outDir: 'runs/x', config: { lr: 1e-4, n: 3 } });
  s.logMetrics(id, 1, { loss: 0.5, rewardMean: 0.25 });
  s.logMetrics(id, 2, { loss: 0.25, rewardMean: NaN });
  const r = s.getRun(id)!;
  assert.equal(r.name, 'x');
  assert.equal(r.outDir, resolve('runs/x'));
  assert.deepEqual(r.config, { lr: 1e-4, n: 3 });
  assert.equal(r.status, 'running');
  assert.equal(r.finishedAt, null);
  assert.ok(!Number.isNaN(Date.parse(r.startedAt)));
  assert.deepEqual(s.metrics(id, 'loss'), [{ step: 1, key: 'loss', value: 0.5 }, { step: 2, key: 'loss', value: 0.25 }]);
  assert.ok(Number.isNaN(s.metrics(id, 'rewardMean')[1]!.value), 'a non-finite value reads back as NaN');
  assert.equal(s.metrics(id).length, 4);
  s.finishRun(id, 'finished');
  assert.equal(s.getRun(id)!.status, 'finished');
  assert.ok(s.getRun(id)!.finishedAt);
  s.close();
  // persisted: a second handle sees it
  const s2 = new RunStore(path);
  assert.equal(s2.listRuns({ method: 'rlhf-sharpening' }).length, 1);
  assert.equal(s2.listRuns({ method: 'ddpo' }).length, 0);
  assert.equal(s2.listRuns({ outDir: 'runs/x' })[0]!.id, id);
  s2.close();
});

test('resuming a run keeps its row, sets it running and drops its metrics after the checkpoint', () => {
  const s = new RunStore(':memory:');
  const id = s.createRun({ name: 'r', method: 'm', outDir: '/tmp/r', config: {} });
  for (let step = 1; step <= 5; step++) s.logMetrics(id, step, { loss: step });
  s.finishRun(id, 'failed', 'killed');
  assert.equal(s.getRun(id)!.error, 'killed');
  s.resumeRun(id, 3, { steps: 10 });
  const r = s.getRun(id)!;
  assert.equal(r.status, 'running');
  assert.equal(r.error, null);
  assert.deepEqual(r.config, { steps: 10 });
  assert.deepEqual(s.metrics(id, 'loss').map((m) => m.step), [1, 2, 3]);
  s.logMetrics(id, 3, { loss: 33 }); // a step logged again replaces its value
  assert.equal(s.metrics(id, 'loss')[2]!.value, 33);
  assert.throws(() => s.resumeRun(99, 0), /no run with id 99/);
  assert.throws(() => s.logMetrics(id, -1, { loss: 1 }), /step must be a non-negative integer/);
  s.close();
});

test('a file that is not an SQLite store, or a store of another shape, is a clear error', () => {
  const d = dir();
  const junk = join(d, 'junk.sqlite');
  writeFileSync(junk, 'this is not a database, just some text that is long enough to have a header'.repeat(20));
  assert.throws(() => new RunStore(junk), /run store .*junk\.sqlite cannot be used: .*not a database.*pass another --store/);
  const other = join(d, 'other.sqlite');
  const db = new Database(other);
  db.exec('CREATE TABLE runs (id INTEGER PRIMARY KEY, title TEXT)');
  db.close();
  assert.throws(() => new RunStore(other), /table runs lacks the columns name, method, out_dir, config, status, started_at, finished_at, error/);
});
