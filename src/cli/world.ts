// `sharpen world …`: the embedded world from the command line (thin over src/world, src/data).
import { writeFileSync, mkdirSync, existsSync, readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parsePrompt } from '../world/grammar.js';
import { renderScene } from '../world/render.js';
import { upscaleNearest, writePng } from '../world/image.js';
import { evaluateImage } from '../world/evaluate.js';
import { CATEGORIES, isCategory, type Category } from '../world/vocab.js';
import { defaultSplitDir, generateSplits, loadSplit, writeSplits, SPLITS, type SplitName } from '../world/splits.js';
import { runCheck, formatCheckTable } from '../world/check.js';
import { makeWorldGrid } from '../world/grid.js';
import { benchRender } from '../world/bench.js';
import { writeWorldFolder } from '../world/folder.js';
import { evaluateFolder } from '../data/eval-folder.js';
import { Progress } from '../util/progress.js';
import { checkOutputDir, checkOutputFile } from '../util/output-path.js';

function int(name: string, min = 0, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`--${name} must be an integer ${max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `between ${min} and ${max}`}`);
    }
    return n;
  };
}

function positive(name: string, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n <= 0 || n > max) throw new InvalidArgumentError(`--${name} must be a number > 0 and ≤ ${max}`);
    return n;
  };
}

function category(v: string): Category {
  if (!isCategory(v)) throw new InvalidArgumentError(`unknown category '${v}' (accepted: ${CATEGORIES.join(', ')})`);
  return v;
}

/** Runs a command body; an Error becomes a one-line message and exit code 1, never a stack trace. */
function action<A extends unknown[]>(fn: (...args: A) => void | Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      console.error(`error: ${(e as Error).message}`);
      process.exitCode = 1;
    }
  };
}

export function registerWorldCommands(program: Command): Command {
  const world = program.command('world').description('the embedded compositional world: prompts, renderer, evaluator, splits');

  registerWorldRender(world);
  registerWorldPrompts(world);
  registerWorldEval(world);
  registerWorldCheck(world);
  registerWorldSplits(world);
  registerWorldGrid(world);
  registerWorldBench(world);
  registerWorldFolder(world);

  return world;
}

/** `world render`: render a prompt to a PNG. */
function registerWorldRender(world: Command): void {
  world
    .command('render')
    .description('render a prompt to a PNG')
    .requiredOption('--prompt <text>', 'e.g. "a small red striped circle above a large blue square"')
    .option('--seed <n>', 'random seed (placement, jitter, background, noise)', int('seed'), 0)
    .option('--out <file>', 'output PNG', 'world.png')
    .option('--resolution <px>', 'image side: 32 or 64', int('resolution', 16, 1024), 32)
    .option('--scale <k>', 'enlarge k× (nearest neighbour) for viewing', int('scale', 1, 64), 1)
    .option('--eval', 'also print the evaluator\'s breakdown for the rendering')
    .action(action((o: { prompt: string; seed: number; out: string; resolution: number; scale: number; eval?: boolean }) => {
      checkOutputFile(o.out, '--out');
      const spec = parsePrompt(o.prompt);
      const { image } = renderScene(spec, o.seed, { resolution: o.resolution });
      writePng(o.out, o.scale > 1 ? upscaleNearest(image, o.scale) : image);
      if (o.eval) {
        const ev = evaluateImage(image, spec, null, o.prompt);
        for (const c of ev.checks) console.log(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: expected ${c.expected}, observed ${c.observed ?? 'nothing'}`);
        console.log(JSON.stringify({ score: ev.score, pass: ev.pass }));
      }
      console.error(`wrote ${o.out}`);
    }));
}

/** `world prompts`: print the prompts of a split. */
function registerWorldPrompts(world: Command): void {
  world
    .command('prompts')
    .description('print the prompts of a split')
    .addOption(new Option('--split <name>', 'split').choices([...SPLITS]).default('test'))
    .option('--category <name>', `one category (${CATEGORIES.join(', ')})`, category)
    .option('--seen', 'only prompts whose combinations all occur in training')
    .option('--unseen', 'only prompts with a held-out combination')
    .option('--json', 'print the JSON lines instead of the text')
    .action(action((o: { split: SplitName; category?: Category; seen?: boolean; unseen?: boolean; json?: boolean }) => {
      let recs = loadSplit(o.split, o.category);
      if (o.seen) recs = recs.filter((r) => r.seen);
      if (o.unseen) recs = recs.filter((r) => !r.seen);
      // `… | head` closes the pipe early: that is not an error
      process.stdout.once('error', (e: NodeJS.ErrnoException) => {
        if (e.code !== 'EPIPE') throw e;
      });
      const lines = recs.map((r) => {
        if (!o.json) return r.prompt;
        const { spec: _spec, ...line } = r;
        return JSON.stringify(line);
      });
      console.log(lines.join('\n'));
    }));
}

/** `world eval`: score generated images against their prompts; prints a JSON summary per category. */
function registerWorldEval(world: Command): void {
  world
    .command('eval')
    .description('score generated images against their prompts; prints a JSON summary per category')
    .requiredOption('--images <dir>', 'folder of PNG/JPEG images')
    .requiredOption('--prompts <file>', 'JSONL prompt file (e.g. data/splits/test.jsonl): a "prompt" per line, or "text" (its synonym, as in an image folder\'s metadata.jsonl)')
    .option('--out <file>', 'write every image\'s score and failed checks here (JSONL)')
    .action(action((o: { images: string; prompts: string; out?: string }) => {
      if (o.out) checkOutputFile(o.out, '--out');
      let bar: Progress | null = null;
      const { scored, summary } = evaluateFolder(o.images, o.prompts, (done, total) => {
        bar ??= new Progress({ total, label: 'eval', unit: 'img' });
        bar.update(done);
      });
      if (o.out) {
        mkdirSync(dirname(o.out), { recursive: true });
        writeFileSync(o.out, scored.map((s) => JSON.stringify(s)).join('\n') + '\n');
      }
      console.log(JSON.stringify(summary));
    }));
}

/** `world check`: measure the evaluator on rendered ground truth, swapped prompts, blank and noise images, and degraded images. */
function registerWorldCheck(world: Command): void {
  world
    .command('check')
    .description('measure the evaluator on rendered ground truth, swapped prompts, blank and noise images, and degraded images')
    .option('--json', 'print only the JSON line (no table)')
    .option('--per-category <n>', 'test prompts per category (default: all)', int('per-category', 1))
    .option('--resolution <px>', 'image side', int('resolution', 16, 1024), 32)
    .option('--seed <n>', 'seed of the renderings and degradations', int('seed'), 0)
    .option('--blur <kind>', "degradation blur: 'binomial' (3×3, radius 1) or a Gaussian σ in pixels", 'binomial')
    .action(action((o: { json?: boolean; perCategory?: number; resolution: number; seed: number; blur: string }) => {
      const blur = o.blur === 'binomial' ? 'binomial' : Number(o.blur);
      if (blur !== 'binomial' && !(Number.isFinite(blur) && blur > 0)) throw new Error(`--blur: expected 'binomial' or a positive σ, got '${o.blur}'`);
      let bar: Progress | null = null;
      const rep = runCheck({
        perCategory: o.perCategory,
        resolution: o.resolution,
        seed: o.seed,
        degradation: { blur },
        onProgress: (done, total) => {
          bar ??= new Progress({ total, label: 'world check', unit: 'prompt' });
          bar.update(done);
        },
      });
      if (!o.json) console.log(formatCheckTable(rep));
      console.log(JSON.stringify(rep));
    }));
}

/** `world splits`: regenerate the committed train/val/test prompt files (deterministic). */
function registerWorldSplits(world: Command): void {
  world
    .command('splits')
    .description('regenerate the committed train/val/test prompt files (deterministic)')
    .option('--out <dir>', 'where to write them', defaultSplitDir())
    .option('--seed <n>', 'seed of the generation', int('seed'), 2023)
    .action(action((o: { out: string; seed: number }) => {
      checkOutputDir(o.out, '--out');
      const splits = generateSplits(o.seed);
      writeSplits(o.out, splits);
      for (const name of SPLITS) console.log(`${name}: ${splits[name].length} prompts (${splits[name].filter((r) => !r.seen).length} with unseen combinations)`);
    }));
}

/** `world grid`: a PNG grid of ground-truth renderings, one row per category. */
function registerWorldGrid(world: Command): void {
  world
    .command('grid')
    .description('a PNG grid of ground-truth renderings, one row per category')
    .option('--out <file>', 'output PNG', 'docs/images/world-grid.png')
    .option('--per-category <n>', 'images per row', int('per-category', 1), 6)
    .option('--scale <k>', 'enlargement', int('scale', 1, 64), 3)
    .option('--labelled <file>', 'also write the grid with each prompt (and its category) under its image')
    .action(action(async (o: { out: string; perCategory: number; scale: number; labelled?: string }) => {
      checkOutputFile(o.out, '--out');
      if (o.labelled) checkOutputFile(o.labelled, '--labelled');
      const g = makeWorldGrid({ perCategory: o.perCategory, scale: o.scale });
      writePng(o.out, g.image);
      for (const r of g.rows) console.log(`${r.category}: ${r.prompts.map((p) => `"${p}"`).join(' · ')}`);
      if (o.labelled) {
        const torch = await import('../torch/index.js');
        const { writeGrid } = await import('../eval/grid.js');
        // the same renderings (seed k for the k-th image of a row, as makeWorldGrid does)
        const items = g.rows.flatMap((r) => r.prompts.map((p, k) => ({ label: `${r.category}: ${p}`, image: renderScene(parsePrompt(p), k).image })));
        const side = items[0]!.image.width;
        const data = new Float32Array(items.length * 3 * side * side);
        items.forEach((it, i) => data.set(it.image.data, i * 3 * side * side));
        const images = torch.fromTypedArray(data, [items.length, 3, side, side]);
        await writeGrid(o.labelled, images, items.map((it) => it.label), { cols: o.perCategory, scale: o.scale, labelLines: 4 });
        images.dispose();
      }
    }));
}

/** `world bench`: rendering speed on one core (and evaluator speed). */
function registerWorldBench(world: Command): void {
  world
    .command('bench')
    .description('rendering speed on one core (and evaluator speed)')
    .option('--seconds <s>', 'how long to render (> 0, ≤ 3600)', positive('seconds', 3600), 3)
    .option('--resolution <px>', 'image side', int('resolution', 16, 1024), 32)
    .action(action((o: { seconds: number; resolution: number }) => {
      console.log(JSON.stringify(benchRender({ seconds: o.seconds, resolution: o.resolution })));
    }));
}

/** `world folder`: write renderings of a split's prompts as an image folder (PNG files and metadata.jsonl), the format --data DIR reads. */
function registerWorldFolder(world: Command): void {
  world
    .command('folder')
    .description('write renderings of a split\'s prompts as an image folder (PNG files and metadata.jsonl), the format --data DIR reads')
    .requiredOption('--out <dir>', 'the folder to create (refused if it exists and is not empty)')
    .addOption(new Option('--split <name>', 'which prompts').choices([...SPLITS]).default('train'))
    .option('--per-prompt <k>', 'renderings per prompt (different seeds)', int('per-prompt', 1), 1)
    .option('--unseen-only', 'only the prompts with a combination held out of the train split')
    .option('--category <name>', 'only this category', category)
    .option('--seed <n>', 'seed of the renderings', int('seed'), 0)
    .option('--resolution <px>', 'image side', int('resolution', 16, 1024), 32)
    .action(action((o: { out: string; split: SplitName; perPrompt: number; unseenOnly?: boolean; category?: Category; seed: number; resolution: number }) => {
      checkOutputDir(o.out, '--out');
      if (existsSync(o.out) && readdirSync(o.out).length > 0) throw new Error(`--out ${o.out}: exists and is not empty; choose a new folder`);
      const records = loadSplit(o.split).filter((r) => (!o.unseenOnly || !r.seen) && (!o.category || r.category === o.category));
      if (records.length === 0) throw new Error(`no prompts in split ${o.split} match${o.unseenOnly ? ' --unseen-only' : ''}${o.category ? ` --category ${o.category}` : ''}`);
      const bar = new Progress({ total: records.length * o.perPrompt, label: 'world folder', unit: 'img' });
      const written = writeWorldFolder(o.out, records, { perPrompt: o.perPrompt, seed: o.seed, resolution: o.resolution, onImage: (n) => bar.update(n) });
      bar.finish();
      console.error(`wrote ${written} images of ${records.length} prompts (split ${o.split}) and metadata.jsonl to ${o.out}`);
    }));
}
