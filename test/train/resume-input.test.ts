// Resume and run-folder input: the run folder is compared resolved (and may move), a broken
// `latest` checkpoint is named and the newest intact one offered (or taken with resumeFrom),
// checkpoint files are flushed before they are published, and a run that fails before its first
// step (a --data folder with bad images) leaves no run folder behind.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join, relative } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { finetune, type FinetuneInput } from '../../src/train/loop.js';
import * as checkpoint from '../../src/train/checkpoint.js';
import { writeFileAtomic } from '../../src/util/atomic-write.js';

// used through the module (not named imports), so that this file also loads where they are missing
const { intactCheckpoints, resumeCheckpointDir, saveCheckpoint } = checkpoint as typeof checkpoint;
import { writePng } from '../../src/world/image.js';
import { registerToyRewards, saveTinyBase, tempDir } from './finetune-helpers.js';

torch.setNumThreads(1);
registerToyRewards();

const quiet = { progress: false, log: () => {} };

/** A two-step RLHF-sharpening run on an 8×8 base, a checkpoint after every step. */
function tinyRun(base: string, out: string, extra: Record<string, unknown> = {}): FinetuneInput {
  return {
    method: 'rlhf-sharpening', reward: 'toy-redness', base, out, seed: 1,
    steps: 2, batch: 1, accumulation: 1, lr: 1e-3, checkpointEvery: 1, n: 2, m: 1, S: 2, ...extra,
  };
}

test('--resume compares the resolved folder: a trailing slash, ./dir, an absolute path and a moved folder resume', async () => {
  const base = await saveTinyBase(11, { size: 8 });
  const parent = tempDir('resume-paths');
  const out = join(parent, 'run');
  const store = join(parent, 'store.sqlite');
  await finetune({ ...tinyRun(base, out), store, steps: 1 }, quiet);
  let steps = 1;
  for (const given of [`${out}/`, `./${relative(process.cwd(), out)}`, out]) {
    steps++;
    const { summary } = await finetune({ ...tinyRun(base, given), store, steps }, { ...quiet, resume: true });
    assert.equal(summary.steps, steps, given);
  }
  const moved = join(parent, 'moved');
  renameSync(out, moved);
  const { summary } = await finetune({ ...tinyRun(base, moved), store, steps: steps + 1 }, { ...quiet, resume: true });
  assert.equal(summary.steps, steps + 1);
  // anything else that differs is still refused
  await assert.rejects(finetune({ ...tinyRun(base, moved), store, steps: steps + 2, lr: 0.5 }, { ...quiet, resume: true }), /differs from the run's in lr/);
});

test('a broken latest checkpoint is named with the newest intact one; resumeFrom takes it with a warning', async () => {
  const base = await saveTinyBase(12, { size: 8 });
  const out = tempDir('resume-broken');
  const cfg = tinyRun(base, out, { store: join(out, 'store.sqlite') });
  await finetune(cfg, quiet);
  const root = join(out, 'checkpoints');
  assert.deepEqual(intactCheckpoints(root).map((c) => c.name), ['checkpoint-00000002', 'checkpoint-00000001']);
  const state = join(root, 'checkpoint-00000002', 'state.json');
  truncateSync(state, 20);
  await assert.rejects(
    finetune({ ...cfg, steps: 3 }, { ...quiet, resume: true }),
    /latest checkpoint cannot be used: .*latest points at checkpoint-00000002, whose state\.json is not valid JSON.*newest intact checkpoint is checkpoint-00000001 \(step 1\): pass --resume-from checkpoint-00000001/,
  );
  await assert.rejects(finetune({ ...cfg, steps: 3 }, { ...quiet, resumeFrom: 'checkpoint-2' }), /--resume-from checkpoint-2: checkpoint-00000002 is not intact: state\.json is not valid JSON.*intact ones: checkpoint-00000001/);
  await assert.rejects(finetune({ ...cfg, steps: 3 }, { ...quiet, resumeFrom: 'checkpoint-7' }), /--resume-from checkpoint-7: no such checkpoint/);
  const logs: string[] = [];
  const { summary } = await finetune({ ...cfg, steps: 3 }, { progress: false, log: (m) => logs.push(m), resumeFrom: 'checkpoint-1' });
  assert.equal(summary.steps, 3);
  assert.ok(logs.some((m) => /warning: resuming from checkpoint-00000001; skipped .*latest points at checkpoint-00000002, whose state\.json is not valid JSON.*newer checkpoint checkpoint-00000002/.test(m)), logs.join('\n'));
  assert.ok(logs.some((m) => /resumed from .*checkpoint-00000001 at step 1/.test(m)));
  assert.equal(resumeCheckpointDir(root).dir, join(root, 'checkpoint-00000003'), 'the run goes on with intact checkpoints');
});

test('resumeCheckpointDir names an empty or dangling pointer, a missing pointer and a truncated tensor file', async () => {
  const root = join(tempDir('ckpt-broken'), 'checkpoints');
  const save = async (step: number) => {
    const t = torch.ones([64]);
    await saveCheckpoint(root, { step, tensors: { w: { t } }, state: {} }, 3);
    t.dispose();
  };
  assert.deepEqual(resumeCheckpointDir(root), { dir: null, skipped: null }, 'no checkpoint yet: start at step 0');
  for (const s of [1, 2, 3]) await save(s);
  const latest = join(root, 'latest');
  assert.equal(resumeCheckpointDir(root).dir, join(root, 'checkpoint-00000003'));
  const offer = /the newest intact checkpoint is checkpoint-00000003 \(step 3\): pass --resume-from checkpoint-00000003/;
  writeFileSync(latest, '');
  assert.throws(() => resumeCheckpointDir(root), new RegExp(`latest is empty; ${offer.source}`));
  rmSync(latest);
  assert.throws(() => resumeCheckpointDir(root), new RegExp(`latest is missing; ${offer.source}`));
  writeFileSync(latest, 'checkpoint-00000009\n');
  assert.throws(() => resumeCheckpointDir(root), new RegExp(`latest points at checkpoint-00000009, which does not exist; ${offer.source}`));
  writeFileSync(latest, 'checkpoint-00000003\n');
  truncateSync(join(root, 'checkpoint-00000003', 'w.safetensors'), 100);
  assert.throws(() => resumeCheckpointDir(root), /whose w\.safetensors is (truncated|corrupt).*newest intact checkpoint is checkpoint-00000002 .*pass --resume-from checkpoint-00000002/);
  const r = resumeCheckpointDir(root, { from: '2' });
  assert.equal(r.dir, join(root, 'checkpoint-00000002'));
  assert.match(r.skipped!, /w\.safetensors is (truncated|corrupt).*newer checkpoint checkpoint-00000003/);
  rmSync(join(root, 'checkpoint-00000002'), { recursive: true });
  rmSync(join(root, 'checkpoint-00000001', 'state.json'));
  assert.throws(() => resumeCheckpointDir(root), /no intact checkpoint is left/);
});

test('state.json, the tensor files and the latest pointer are flushed to the disk before they are published', async () => {
  const root = join(tempDir('ckpt-fsync'), 'checkpoints');
  const probe = await open(join(root, '..', 'probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
  await probe.close();
  const sync = mock.method(proto, 'sync');
  try {
    const t = torch.ones([4]);
    await saveCheckpoint(root, { step: 1, tensors: { w: { t } }, state: {} });
    t.dispose();
    // w.safetensors, state.json, the checkpoint folder, the root (twice) and the pointer
    assert.ok(sync.mock.callCount() >= 3, `${sync.mock.callCount()} syncs`);
    const before = sync.mock.callCount();
    await writeFileAtomic(join(root, '..', 'f.json'), '{}', { fsync: true });
    assert.ok(sync.mock.callCount() >= before + 1);
    assert.equal(readFileSync(join(root, '..', 'f.json'), 'utf8'), '{}');
  } finally {
    sync.mock.restore();
  }
  assert.equal(readFileSync(join(root, 'latest'), 'utf8'), 'checkpoint-00000001\n');
  assert.deepEqual(readdirSync(root).sort(), ['checkpoint-00000001', 'latest']);
});

/** A folder of 16×16 PNGs with metadata.jsonl; the names in `missing` are listed but not written, those in `corrupt` hold garbage. */
function imageFolder(n: number, opts: { missing?: number[]; corrupt?: number[] } = {}): string {
  const dir = tempDir('images');
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const file = `${String(i).padStart(3, '0')}.png`;
    lines.push(JSON.stringify({ file_name: file, text: 'a red circle' }));
    if (opts.missing?.includes(i)) continue;
    if (opts.corrupt?.includes(i)) writeFileSync(join(dir, file), 'not a png');
    else writePng(join(dir, file), { width: 16, height: 16, data: new Float32Array(3 * 16 * 16).fill(i / n) });
  }
  writeFileSync(join(dir, 'metadata.jsonl'), lines.join('\n') + '\n');
  return dir;
}

test('a --data folder with a missing and a corrupt image is refused whole before the first step, leaving no run folder', async () => {
  const base = await saveTinyBase(13, { size: 16 });
  const parent = tempDir('bad-data');
  const data = imageFolder(6, { missing: [2], corrupt: [4] });
  const out = join(parent, 'run');
  const cfg: FinetuneInput = { method: 'standard-ft', base, out, data, store: join(parent, 'store.sqlite'), steps: 2, batch: 2, checkpointEvery: 1 };
  await assert.rejects(finetune(cfg, quiet), (e: Error) => {
    assert.match(e.message, /image folder .*: 2 of 6 images cannot be used:\n {2}.*002\.png: file not found \(metadata\.jsonl line 3\)\n {2}.*004\.png.*\(metadata\.jsonl line 5\)/);
    return true;
  });
  assert.ok(!existsSync(out), 'no run folder is left');
  // into an existing folder: what the run wrote is removed, what was there stays
  const existing = tempDir('bad-data-existing');
  writeFileSync(join(existing, 'notes.txt'), 'mine');
  await assert.rejects(finetune({ ...cfg, out: existing }, quiet), /2 of 6 images cannot be used/);
  assert.deepEqual(readdirSync(existing), ['notes.txt']);
  // a failure after the folder was written (the world's prompts, the run store) is cleaned up too
  const worldOut = join(parent, 'world-run');
  await assert.rejects(finetune({ ...cfg, data: 'world', out: worldOut, store: parent }, quiet));
  assert.ok(!existsSync(worldOut), `left: ${existsSync(worldOut) ? readdirSync(worldOut).join(', ') : ''}`);
  // once the folder is fixed, a plain rerun starts
  const good = imageFolder(6);
  const { summary } = await finetune({ ...cfg, data: good }, quiet);
  assert.equal(summary.steps, 2);
});

test('a big --data folder is checked with progress lines', async () => {
  const base = await saveTinyBase(14, { size: 16 });
  const parent = tempDir('big-data');
  const data = imageFolder(200);
  const logs: string[] = [];
  await finetune(
    { method: 'standard-ft', base, out: join(parent, 'run'), data, store: join(parent, 'store.sqlite'), steps: 1, batch: 2 },
    { progress: false, log: (m) => logs.push(m) },
  );
  assert.ok(logs.some((m) => /--data .*: checked 200\/200 images/.test(m)), logs.join('\n'));
});

test('a checkpoint whose optimizer or EMA state holds a NaN is refused by name, and --resume-from an earlier one goes on', async () => {
  const base = await saveTinyBase(12, { size: 8 });
  const out = tempDir('resume-nan');
  const cfg = tinyRun(base, out, { store: join(out, 'store.sqlite'), emaDecay: 0.9 });
  await finetune(cfg, quiet);
  const dir = join(out, 'checkpoints', 'checkpoint-00000002');
  for (const group of ['optimizer', 'ema']) {
    const file = join(dir, `${group}.safetensors`);
    const saved = readFileSync(file);
    const { tensors } = await torch.safetensors.loadFile(file);
    const [name, t] = Object.entries(tensors).find(([, x]) => x.dtype === 'float32' && x.numel() > 1)!;
    const values = t.toFloat32Array().slice();
    values[1] = NaN;
    const poisoned = torch.fromTypedArray(values, t.shape);
    await torch.safetensors.saveFile(file, { ...tensors, [name]: poisoned });
    for (const x of [...Object.values(tensors), poisoned]) x.dispose();
    await assert.rejects(
      finetune({ ...cfg, steps: 3 }, { ...quiet, resume: true }),
      new RegExp(`checkpoint .*checkpoint-00000002: ${group}\\.safetensors holds 1 NaN or infinite value in '${name.replace(/\./g, '\\.')}'; .*earlier checkpoint`),
    );
    writeFileSync(file, saved);
  }
  rmSync(join(dir, 'ema.safetensors'));
  writeFileSync(join(dir, 'ema.safetensors'), 'x');
  const { summary } = await finetune({ ...cfg, steps: 3 }, { ...quiet, resumeFrom: 'checkpoint-1' });
  assert.equal(summary.steps, 3);
});
