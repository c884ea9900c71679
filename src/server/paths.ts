// Which files the dashboard may read: only regular files inside the project's run and checkpoint
// folders (`<root>/runs`, `<root>/checkpoints`). A requested path is relative to the root; it is
// refused when it is absolute, holds a `..` segment (after URL decoding, so `%2e%2e` too), a NUL
// or a backslash, or when its real path (symlinks resolved) leaves the allowed folders.
import { existsSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';

/** A path the dashboard refuses, with the HTTP status to answer. */
export class PathError extends Error {
  constructor(message: string, readonly status: 400 | 403 | 404) {
    super(message);
  }
}

export const ALLOWED_FOLDERS = ['runs', 'checkpoints'] as const;

/** Is `child` (resolved, real) `parent` itself or inside it? */
function inside(parent: string, child: string): boolean {
  const r = relative(parent, child);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
}

export class ProjectPaths {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** The folders files may be read from (real paths of those that exist). */
  private allowedRoots(): string[] {
    return ALLOWED_FOLDERS.map((f) => join(this.root, f)).filter((p) => existsSync(p)).map((p) => realpathSync(p));
  }

  /**
   * Resolves a client-given path (relative to the root) to a real path inside the allowed folders;
   * `kind` says whether a file or a folder is wanted. Throws a PathError otherwise.
   */
  resolve(rel: string, kind: 'file' | 'dir' = 'file'): string {
    if (typeof rel !== 'string' || rel.length === 0) throw new PathError('path: must be a non-empty string', 400);
    if (rel.length > 1000) throw new PathError('path: longer than 1000 characters', 400);
    if (rel.includes('\0')) throw new PathError('path: contains a NUL character', 400);
    if (rel.includes('\\')) throw new PathError('path: contains a backslash; use forward slashes', 400);
    if (isAbsolute(rel) || /^[a-zA-Z]:/.test(rel)) throw new PathError(`path: '${rel}' is absolute; give a path relative to the project`, 400);
    if (rel.split('/').some((s) => s === '..')) throw new PathError(`path: '${rel}' holds a '..' segment`, 400);
    const full = resolve(this.root, rel);
    const allowed = this.allowedRoots();
    const lexical = ALLOWED_FOLDERS.map((f) => join(this.root, f));
    if (!lexical.some((a) => inside(a, full))) throw new PathError(`path: '${rel}' is outside ${ALLOWED_FOLDERS.map((f) => f + '/').join(' and ')}`, 403);
    if (!existsSync(full)) throw new PathError(`path: '${rel}' does not exist`, 404);
    const real = realpathSync(full);
    if (!allowed.some((a) => inside(a, real))) throw new PathError(`path: '${rel}' leads outside ${ALLOWED_FOLDERS.map((f) => f + '/').join(' and ')} (a symbolic link)`, 403);
    const st = statSync(real);
    if (kind === 'file' && !st.isFile()) throw new PathError(`path: '${rel}' is not a file`, 404);
    if (kind === 'dir' && !st.isDirectory()) throw new PathError(`path: '${rel}' is not a folder`, 404);
    return real;
  }

  /** The path of an absolute file relative to the root (forward slashes), for URLs. */
  toRel(abs: string): string {
    return relative(this.root, abs).split(sep).join('/');
  }

  /** Is an absolute path inside the allowed folders (lexically and for real)? */
  isAllowed(abs: string): boolean {
    const full = resolve(abs);
    if (!ALLOWED_FOLDERS.some((f) => inside(join(this.root, f), full))) return false;
    if (!existsSync(full)) return true;
    return this.allowedRoots().some((a) => inside(a, realpathSync(full)));
  }
}
