// A label is committed to SQLite before the server acknowledges it: `sharpen serve` runs as a child
// process, labels are posted in a stream (several in flight), the server is killed with SIGKILL
// mid-stream, and every label it acknowledged is found in the store afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunStore } from '../../src/store/runs.js';
import { api, makeProject, serveChild } from './helpers.js';

test('SIGKILL while labels are posted: every acknowledged label is in the store', async () => {
  const p = await makeProject({ preference: false });
  const { child, url } = await serveChild(p);
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  try {
    const pool = await api(url, '/api/pools', { body: { ckpt: 'checkpoints/base', prompts: 2, perPrompt: 2, steps: 2 } });
    assert.equal(pool.status, 200, JSON.stringify(pool.body));
    const id = pool.body.pool.id;
    const pair = (await api(url, `/api/pools/${id}/next`)).body.pair.id;
    const acked: number[] = [];
    let failed = 0;
    let killed = false;
    // each poster keeps posting until a request fails: the server dies with requests in flight
    const poster = async (w: number) => {
      for (let k = 0; ; k++) {
        try {
          const r = await api(url, '/api/labels', { body: { pool: id, pair, choice: ['A', 'B', 'tie'][(w + k) % 3], annotator: `worker${w}` } });
          if (r.status === 200) acked.push(r.body.id);
          else assert.fail(`a label was refused: ${JSON.stringify(r.body)}`);
        } catch (e) {
          if ((e as Error).name === 'AssertionError') throw e;
          failed++;
          return;
        }
        if (!killed && acked.length >= 40) {
          killed = true;
          child.kill('SIGKILL');
        }
      }
    };
    await Promise.all([0, 1, 2, 3].map(poster));
    await exited;
    assert.ok(killed && acked.length >= 40, `acknowledged ${acked.length}`);
    assert.equal(failed, 4, 'every poster saw the server die');
    const store = new RunStore(p.store);
    const ids = new Set(store.labels({ pool: id }).map((l) => l.id));
    store.close();
    const lost = acked.filter((a) => !ids.has(a));
    assert.deepEqual(lost, [], `acknowledged but not stored: ${lost.join(', ')}`);
  } finally {
    child.kill('SIGKILL');
  }
});
