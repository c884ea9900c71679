// Cell results of `sharpen paper` with chosen numbers, for tests of the plan, the tables and the
// claims without running a cell.
import type { CellResult, EvalCellResult } from '../../src/eval/paper/cells.js';
import type { FinetuneSummary } from '../../src/train/finetune-config.js';

/** A finished two-step training cell that spent `nfePerStep` training NFE a step. */
export function trainResult(nfePerStep: number): CellResult {
  return { kind: 'train', summary: { steps: 2, trainingNfe: 2 * nfePerStep } as FinetuneSummary, peakRssMb: 1, memoryScope: 'shared' };
}

/** A finished evaluation whose compositional score is `mean`. */
export function evalResult(mean: number): CellResult {
  return { kind: 'eval', mean, categories: {} as EvalCellResult['categories'], metrics: {}, nfePerImage: 4, images: 6, wallClockSec: 1, peakRssMb: 1, memoryScope: 'shared' };
}
