// Builds the native addon with cmake-js into native/build/Release/sharpen_native.node.
// LIBTORCH=/path/to/libtorch selects another libtorch (see native/CMakeLists.txt).
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cmakeJs = join(root, 'node_modules', '.bin', 'cmake-js');
const args = ['build', '-d', 'native', '-O', 'native/build', '-p', String(Math.max(1, cpus().length)), '-l', 'warn'];
console.log(`building the native addon${process.env.LIBTORCH ? ` against LIBTORCH=${process.env.LIBTORCH}` : ''} …`);
const r = spawnSync(cmakeJs, args, { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  console.error('the native addon failed to build; see the compiler output above');
  process.exit(r.status ?? 1);
}
