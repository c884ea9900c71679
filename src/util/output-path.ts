// Checks that an output path can be written before any work is done: a file path must not be a
// folder, and the nearest existing folder above it must accept a new file (probed by creating and
// removing one, so read-only mounts and permissions are both caught). Errors name the flag and path.
import { closeSync, existsSync, openSync, statSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

function nearestExisting(path: string): string {
  let p = resolve(path);
  while (!existsSync(p)) {
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  return p;
}

function probeWritable(dir: string, label: string): void {
  const st = statSync(dir);
  if (!st.isDirectory()) throw new Error(`${label}: '${dir}' is a file, not a folder`);
  const probe = join(dir, `.sharpen-write-probe-${process.pid}-${Date.now()}`);
  try {
    closeSync(openSync(probe, 'wx'));
  } catch (e) {
    throw new Error(`${label}: folder '${dir}' is not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  unlinkSync(probe);
}

/**
 * Refuses, before any compute, an output file that cannot be written: `path` is a folder, or the
 * folder that would hold it (or the nearest existing one above it) is a file or not writable.
 * `flag` names the option in the message (e.g. '--out').
 */
export function checkOutputFile(path: string, flag: string): void {
  const label = `${flag} ${path}`;
  if (path === '') throw new Error(`${flag}: an empty path`);
  if (existsSync(path)) {
    const st = statSync(path);
    if (st.isDirectory()) throw new Error(`${label}: is a folder; give a file path (e.g. ${join(path, 'out.png')})`);
  }
  probeWritable(nearestExisting(dirname(resolve(path))), label);
}

/** Refuses an output folder that cannot be created or written: it is a file, or the nearest existing folder is not writable. */
export function checkOutputDir(path: string, flag: string): void {
  const label = `${flag} ${path}`;
  if (path === '') throw new Error(`${flag}: an empty path`);
  if (existsSync(path) && !statSync(path).isDirectory()) throw new Error(`${label}: is a file, not a folder`);
  probeWritable(nearestExisting(path), label);
}
