// Atomic file writes: the data goes to a temporary file beside the target, which is then renamed
// over it, so a reader (or a process killed meanwhile) sees the old file or the new one, never a
// part. The temporary name is unique per process and call; on failure it is removed and the error
// rethrown. With `fsync`, the data is flushed to the disk before the rename and the folder after
// it, so that after a power loss the path holds the old file or the whole new one.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface AtomicWriteOptions {
  /** flush the file's data to the disk before the rename, and the folder's entry after it */
  fsync?: boolean;
}

/** A temporary path beside `path`, unique to this process and call. */
export function tempPathFor(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Writes `data` to `path` and flushes it to the disk before returning. */
export async function writeFileSynced(path: string, data: string | Uint8Array): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Flushes a written file (by path) to the disk. */
export async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Flushes a folder's entries (a rename into it) to the disk. Some file systems do not allow a
 * folder to be synced; there this does nothing.
 */
export async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // a folder that cannot be opened or synced: the file itself was synced
  } finally {
    await fh?.close();
  }
}

function fsyncDirSync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // a folder that cannot be opened or synced: the file itself was synced
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Writes `data` to `path` atomically (temporary file + rename); with `fsync`, durably. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const tmp = tempPathFor(path);
  try {
    if (opts.fsync) await writeFileSynced(tmp, data);
    else await writeFile(tmp, data);
    await rename(tmp, path);
    if (opts.fsync) await fsyncDir(dirname(path));
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}

/** Writes `data` to `path` atomically (temporary file + rename), synchronously; with `fsync`, durably. */
export function writeFileAtomicSync(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): void {
  const tmp = tempPathFor(path);
  try {
    if (opts.fsync) {
      const fd = openSync(tmp, 'w');
      try {
        writeFileSync(fd, data);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } else {
      writeFileSync(tmp, data);
    }
    renameSync(tmp, path);
    if (opts.fsync) fsyncDirSync(dirname(path));
  } catch (e) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // the original error is the one to report
    }
    throw e;
  }
}
