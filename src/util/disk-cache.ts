// An on-disk cache of text entries keyed by a hex digest: <dir>/<first two hex digits>/<key>.json.
// Reads that fail are misses; writes are atomic (temporary file + rename), and a failed write is a
// process warning, not an error (the cache is an optimisation).
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from './atomic-write.js';

export class DiskCache {
  /** `owner` names the user of the cache in warnings (e.g. "mllm reward"). */
  constructor(readonly dir: string, readonly owner: string) {}

  /** The file of an entry. */
  path(key: string): string {
    return join(this.dir, key.slice(0, 2), `${key}.json`);
  }

  /** The entry's text, or null when it is missing or cannot be read. */
  async read(key: string): Promise<string | null> {
    try {
      return await readFile(this.path(key), 'utf8');
    } catch {
      return null;
    }
  }

  /** Writes the entry atomically; a failure emits a warning and is otherwise ignored. */
  async write(key: string, text: string): Promise<void> {
    const path = this.path(key);
    try {
      await mkdir(dirname(path), { recursive: true });
      await writeFileAtomic(path, text);
    } catch (e) {
      process.emitWarning(`${this.owner}: could not write cache file ${path}: ${(e as Error).message}`);
    }
  }
}
