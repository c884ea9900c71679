// Small helpers shared by the benchmarks.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../src/torch/index.js';
import { TextToImageModel } from '../src/models/t2i.js';
import { modelConfigFor, PretrainConfigSchema } from '../src/train/pretrain.js';
import { loadConfig } from '../src/util/config.js';
import { worldWords } from '../src/world/vocab.js';

/**
 * A model of the shipped base's architecture (configs/base.yaml), randomly initialised from seed 0
 * and saved to `dir` as a base checkpoint; returned for the caller to use or dispose.
 */
export async function saveRandomBase(dir: string): Promise<TextToImageModel> {
  const pcfg = loadConfig(PretrainConfigSchema, { path: join(fileURLToPath(import.meta.url), '..', '..', 'configs', 'base.yaml') });
  torch.manualSeed(0);
  const model = new TextToImageModel(modelConfigFor(pcfg, worldWords()));
  await model.save(dir);
  return model;
}

export function median(xs: number[]): number {
  if (xs.length === 0) throw new Error('median of nothing');
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function printTable(header: string[], rows: (string | number)[][]): void {
  const cells = [header, ...rows].map((r) => r.map(String));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => '| ' + r.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  console.log(line(cells[0]!));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of cells.slice(1)) console.log(line(r));
}
