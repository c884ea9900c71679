// Prints (and writes to DIR/table.md) the comparison table of a scripts/compare.sh folder.
//   node --import tsx scripts/compare-table.ts DIR
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareRows, formatCompareTable } from '../src/eval/compare.js';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node --import tsx scripts/compare-table.ts DIR');
  process.exit(2);
}
const order = ['standard-ft', 'sft-sharpening', 'rlhf-sharpening', 'rlhf-sharpening-image', 'diffusion-dpo', 'ddpo', 'd3po', 'refl-iter', 'best-of-n', 'zero-order', 'demon', 'free2guide'];
const table = formatCompareTable(compareRows(dir, order));
writeFileSync(join(dir, 'table.md'), table + '\n');
console.log(table);
