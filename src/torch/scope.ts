// Memory scopes and gradient mode: which tidy scope owns a tensor, the finalizer that frees what was
// never disposed, and torch.no_grad / enable_grad. `tidy` itself is in tensor.ts (it looks for
// Tensors in what its function returns).
import { N, type H } from './native.js';

/** What a scope owns: a tensor's native handle and its bookkeeping (the Tensor class). */
export interface ScopedHandle {
  /** the native handle; -1 once disposed */
  _h: H;
  /** the tidy scope that owns it, or null (top level: the finalizer's) */
  _scope: Scope | null;
  /** whether it has a FinalizationRegistry entry */
  _registered: boolean;
  dispose(): void;
}

/**
 * Tensors made inside `tidy(fn)` belong to its scope and are freed when fn returns, except those
 * it returns (found in arrays and plain objects), which move to the enclosing scope.
 *
 * Tensors made outside any scope get a FinalizationRegistry entry, the safety net by which the
 * garbage collector frees what was never disposed. Registering costs about as much as a tiny op,
 * so it is done lazily, as a nursery: such tensors wait in `young` until the next turn of the
 * event loop (or until 4096 wait), and only those not yet disposed by then are registered.
 */
export type Scope = ScopedHandle[];
const scopes: Scope[] = [];
const registry = new FinalizationRegistry<H>((h) => {
  N.dispose(h); // a handle already disposed is ignored by the addon
});
const young: ScopedHandle[] = [];
const NURSERY_SIZE = 4096;
let flushPending = false;

function flushYoung(): void {
  flushPending = false;
  for (const t of young) {
    if (t._h >= 0 && t._scope === null && !t._registered) {
      registry.register(t, t._h, t);
      t._registered = true;
    }
  }
  young.length = 0;
}

/** Gives a new (or returned) tensor to the innermost open scope, or to the top level. */
export function adopt(t: ScopedHandle): void {
  const scope = scopes.length ? scopes[scopes.length - 1]! : null;
  if (scope) {
    t._scope = scope;
    scope.push(t);
  } else {
    toTopLevel(t);
  }
}

function toTopLevel(t: ScopedHandle): void {
  t._scope = null;
  young.push(t);
  if (young.length >= NURSERY_SIZE) flushYoung();
  else if (!flushPending) {
    flushPending = true;
    setImmediate(flushYoung).unref();
  }
}

/** Opens a scope: tensors made from now on belong to it, until closeScope. */
export function openScope(): Scope {
  const scope: Scope = [];
  scopes.push(scope);
  return scope;
}

/** Closes the innermost scope (its tensors are then the caller's to keep or dispose). */
export function closeScope(): void {
  scopes.pop();
}

/** Removes a disposed tensor's finalizer entry, if it has one. */
export function forgetFinalizer(t: ScopedHandle): void {
  if (t._registered) {
    registry.unregister(t);
    t._registered = false;
  }
}

/** Takes a tensor out of its tidy scope: it lives until disposed (or collected). */
export function keep<T extends ScopedHandle>(t: T): T {
  if (t._scope) {
    const i = t._scope.lastIndexOf(t);
    if (i >= 0) t._scope.splice(i, 1);
    toTopLevel(t);
  }
  return t;
}

/** Live tensor handles and their bytes (numel × element size; views count again). */
export function memory(): { tensors: number; bytes: number } {
  return N.memory();
}

/** Runs fn with gradient recording off (torch.no_grad). */
export function noGrad<T>(fn: () => T): T {
  const prev = N.setGradEnabled(false);
  try {
    return fn();
  } finally {
    N.setGradEnabled(prev);
  }
}

/** Runs fn with gradient recording on (torch.enable_grad), e.g. inside noGrad. */
export function enableGrad<T>(fn: () => T): T {
  const prev = N.setGradEnabled(true);
  try {
    return fn();
  } finally {
    N.setGradEnabled(prev);
  }
}

export function isGradEnabled(): boolean {
  return N.isGradEnabled();
}
