// The reward commands: `reward score` on a folder of images and their prompts (any reward by
// name; per-image scores and a summary per category), and `train-clip` end to end on a tiny config.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, existsSync, readFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { stringify } from 'yaml';
import { registerRewardCommands, scoreFolder, type ScoreFolderResult } from '../../src/cli/reward.js';
import { renderScene } from '../../src/world/render.js';
import { writePng, createImage } from '../../src/world/image.js';
import { loadSplit } from '../../src/world/splits.js';
import { ClipModel } from '../../src/models/clip-model.js';
import { TextToImageModel } from '../../src/models/t2i.js';
import { tinyClip, tinyClipArch } from '../helpers/tiny-clip.js';
import { tinyConfig } from '../helpers/tiny-model.js';
import { worldWords } from '../../src/world/vocab.js';
import { RunStore } from '../../src/store/runs.js';

async function run(args: string[]): Promise<{ out: string[]; err: string[] }> {
  const program = new Command().name('sharpen').exitOverride();
  registerRewardCommands(program);
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => out.push(a.join(' '));
  console.error = (...a: unknown[]) => err.push(a.join(' '));
  try {
    await program.parseAsync(['node', 'sharpen', ...args]);
    return { out, err };
  } finally {
    console.log = log;
    console.error = error;
  }
}

let dir = '';
const recs = loadSplit('test').filter((_, i) => i % 150 === 0); // one per category
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'reward-cli-'));
  mkdirSync(join(dir, 'imgs'));
  // images named after the prompts' ids (pairImages' second rule); the last one is blank
  recs.forEach((r, i) => {
    const img = i === recs.length - 1 ? createImage(32, 32, [0.9, 0.9, 0.9]) : renderScene(r.spec, 40 + i).image;
    writePng(join(dir, 'imgs', `${r.id}.png`), img);
  });
  writeFileSync(join(dir, 'prompts.jsonl'), recs.map((r) => JSON.stringify({ id: r.id, prompt: r.prompt, category: r.category })).join('\n') + '\n');
  const m = tinyClip(1);
  await m.save(join(dir, 'clip'));
  m.dispose();
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('reward score', () => {
  test('compositional: per-image scores and a summary per category (--json)', async () => {
    const { out } = await run(['reward', 'score', '--reward', 'compositional', '--images', join(dir, 'imgs'), '--prompts', join(dir, 'prompts.jsonl'), '--json']);
    const r = JSON.parse(out.join('\n')) as ScoreFolderResult;
    assert.equal(r.reward, 'compositional');
    assert.equal(r.images.length, 6);
    // listed in file-name order; the blank image is the complex prompt's
    const byCategory = Object.fromEntries(r.images.map((x) => [x.category, x.score]));
    assert.deepEqual(byCategory, { color: 1, shape: 1, texture: 1, spatial: 1, 'non-spatial': 1, complex: 0 });
    assert.equal(r.summary.n, 6);
    assert.ok(Math.abs(r.summary.mean - 5 / 6) < 1e-9);
    assert.ok(Math.abs(r.summary.std - Math.sqrt(1 / 6)) < 1e-9); // sample std of five 1s and a 0
    assert.deepEqual(r.summary.perCategory.color, { n: 1, mean: 1, std: 0 });
    assert.deepEqual(r.summary.perCategory.complex, { n: 1, mean: 0, std: 0 });
  });

  test('the table form lists every image and the summary', async () => {
    const { out } = await run(['reward', 'score', '--reward', 'compositional', '--images', join(dir, 'imgs'), '--prompts', join(dir, 'prompts.jsonl')]);
    const text = out.join('\n');
    for (const r of recs) assert.ok(text.includes(r.prompt), r.prompt);
    assert.match(text, /reward compositional: mean 0\.8333 {2}std 0\.4082 {2}n 6/);
    assert.match(text, /non-spatial +mean 1\.0000/);
  });

  test('clip with a checkpoint option scores in [−100, 100]; batches do not change the scores', async () => {
    const a = await scoreFolder({ reward: 'clip', images: join(dir, 'imgs'), prompts: join(dir, 'prompts.jsonl'), options: [`ckpt=${join(dir, 'clip')}`] });
    const b = await scoreFolder({ reward: 'clip', images: join(dir, 'imgs'), prompts: join(dir, 'prompts.jsonl'), options: [`ckpt=${join(dir, 'clip')}`], batchSize: 4 });
    assert.equal(a.images.length, 6);
    a.images.forEach((x, i) => {
      assert.ok(Math.abs(x.score) <= 100);
      assert.ok(Math.abs(x.score - b.images[i]!.score) < 1e-3);
    });
    assert.deepEqual(a.scale, { kind: 'range', min: -100, max: 100 });
  });

  test('bad input is a clear error', async () => {
    const args = (o: Record<string, string>) => ['reward', 'score', ...Object.entries(o).flatMap(([k, v]) => [`--${k}`, v])];
    const base = { images: join(dir, 'imgs'), prompts: join(dir, 'prompts.jsonl') };
    await assert.rejects(run(args({ reward: 'clipp', ...base })), /unknown reward 'clipp'; valid rewards: .*clip.*compositional/);
    await assert.rejects(run(args({ reward: 'compositional', ...base, images: join(dir, 'none') })), /none: folder not found/);
    await assert.rejects(run(args({ reward: 'compositional', ...base, batch: '0' })), /--batch must be an integer between 1 and 4096, got '0'/);
    await assert.rejects(run(args({ reward: 'clip', ...base, opt: `ckpt=${join(dir, 'missing')}` })), /missing not found/);
    writeFileSync(join(dir, 'short.jsonl'), JSON.stringify({ prompt: 'a red circle' }) + '\n');
    await assert.rejects(run(args({ reward: 'compositional', ...base, prompts: join(dir, 'short.jsonl') })), /6 images for 1 prompts/);
  });
});

describe('train-clip', () => {
  test('trains a tiny CLIP, measures it on held-out renderings and base samples, exports it', async () => {
    const cfg = {
      seed: 0,
      model: tinyClipArch,
      data: { hardNegatives: 2, negativeFocus: 0.5, degradeProb: 0.5, blurMax: 1, noiseMax: 0.05, shiftMax: 0.04 },
      train: { batchSize: 4, steps: 2, lr: 0.001, warmupSteps: 1, minLr: 0.0001, weightDecay: 0.01, gradClip: 1 },
      eval: { perCategory: 2, negatives: 2, seed: 1, basePerCategory: 1, baseSteps: 2 },
      output: { dir: join(dir, 'run'), logEvery: 1, checkpointEvery: 1 },
    };
    writeFileSync(join(dir, 'clip.yaml'), stringify(cfg));
    // a tiny 8×8 "base model" over the world's words (its samples are upsampled to the CLIP's 16×16)
    const words = worldWords();
    const t2i = new TextToImageModel({ ...tinyConfig(), tokenizer: { words, maxLength: 22 }, textEncoder: { ...tinyConfig().textEncoder, vocabSize: words.length + 4, maxLength: 22 } });
    await t2i.save(join(dir, 'base'));
    t2i.dispose();
    const { out, err } = await run(['train-clip', '--config', join(dir, 'clip.yaml'), '--out', join(dir, 'clip-out'), '--base', join(dir, 'base'), '--no-progress', '--threads', '1', '--store', join(dir, 'store.sqlite')]);
    const last = JSON.parse(out[out.length - 1]!);
    assert.equal(last.finished, true);
    assert.equal(last.step, 2);
    const m = JSON.parse(readFileSync(join(dir, 'clip-out', 'metrics.json'), 'utf8'));
    assert.equal(m.steps, 2);
    assert.equal(m.groundTruth.overall.n, 12);
    assert.deepEqual(Object.keys(m.groundTruth.perCategory).sort(), ['color', 'complex', 'non-spatial', 'shape', 'spatial', 'texture']);
    assert.equal(m.base.images, 6);
    assert.equal(m.scoreStats.source, 'base-samples');
    assert.match(err.join('\n'), /top-1 accuracy of the true prompt against 2 hard negatives/);
    for (const f of ['config.json', 'model.safetensors', 'metrics.jsonl', 'train-config.json']) assert.ok(existsSync(join(dir, 'clip-out', f)), f);
    const { extra } = await ClipModel.readConfig(join(dir, 'clip-out'));
    assert.deepEqual((extra as { scoreStats: unknown }).scoreStats, m.scoreStats);
    (await ClipModel.load(join(dir, 'clip-out'))).dispose();
    // running it again resumes the finished run (no training) and measures again
    const store = new RunStore(join(dir, 'store.sqlite'));
    const [row] = store.listRuns();
    store.close();
    assert.equal(row!.method, 'train-clip');
    assert.equal(row!.status, 'finished');
    assert.equal(row!.outDir, join(dir, 'run'));
    const again = await run(['train-clip', '--config', join(dir, 'clip.yaml'), '--out', join(dir, 'clip-out'), '--base', 'none', '--no-progress', '--store', join(dir, 'store.sqlite')]);
    assert.match(again.err.join('\n'), /resumed from .* at step 2/);
    const store2 = new RunStore(join(dir, 'store.sqlite'));
    assert.equal(store2.listRuns().length, 1, 'the resumed run keeps its row');
    store2.close();
    await assert.rejects(run(['train-clip', '--config', join(dir, 'clip.yaml'), '--set', 'train.nope=1']), /nope/);
    await assert.rejects(run(['train-clip', '--config', join(dir, 'clip.yaml'), '--threads', 'x']), /--threads must be an integer between 1 and 1024, got 'x'/);
  });
});
