// The base of every optimizer: parameter groups, per-parameter state, zeroGrad, and a state dict
// that the caller can save (tensors to safetensors, meta to JSON) and load back with checks.
//
// Semantics follow torch.optim.Optimizer (https://pytorch.org/docs/stable/optim.html):
// - params are a list of tensors, or a list of groups { params, ...options }; an option a group
//   leaves out takes the optimizer's value; a group's options (lr above all) may be changed
//   between steps, which is how schedules work;
// - state is made lazily, at the first step in which a parameter has a gradient, and a parameter
//   without a gradient is skipped by step();
// - zeroGrad() sets gradients to null (PyTorch's set_to_none=True default);
// - a state dict numbers the parameters 0, 1, 2, … in group order; loading it replaces the groups'
//   options with the saved ones and copies the state onto the parameters' dtype and device.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

/** The option every optimizer has; each adds its own. */
export interface GroupOptions {
  lr: number;
}

/** A parameter group as the optimizer holds it: its tensors and all of its options. */
export type ParamGroup<O extends GroupOptions = GroupOptions> = O & { params: Tensor[] };

/** A parameter group as given to a constructor: options left out take the optimizer's values. */
export type ParamGroupInput<O extends GroupOptions = GroupOptions> = Partial<O> & { params: Tensor[] };

/** The state of one parameter: how many updates it has had, and its named buffers (exp_avg, …). */
export interface ParamState {
  step: number;
  buffers: Record<string, Tensor>;
}

/** The JSON half of a state dict. */
export interface OptimizerMeta {
  /** the optimizer's name ('AdamW', 'SGD'): a state dict loads only into the same kind */
  optimizer: string;
  /** each group's options, and its parameters as indices into the global numbering */
  paramGroups: ({ params: number[] } & Record<string, unknown>)[];
  /** the shape of every parameter, by index */
  paramShapes: number[][];
  /** by parameter index: its step count and the names of its buffers (tensors `state.<i>.<name>`) */
  state: Record<string, { step: number; buffers: string[] }>;
}

export interface OptimizerStateDict {
  /**
   * `state.<paramIndex>.<buffer>`: new handles on the live state (the next step() changes them):
   * save them before stepping again. Disposing them does not harm the optimizer.
   */
  tensors: Record<string, Tensor>;
  meta: OptimizerMeta;
}

export abstract class Optimizer<O extends GroupOptions> {
  /** The parameter groups; change a group's options (e.g. `lr`) between steps as needed. */
  readonly paramGroups: ParamGroup<O>[] = [];
  /** The options a group takes where it does not set its own. */
  readonly defaults: O;
  private readonly state = new Map<Tensor, ParamState>();

  /**
   * @param name the optimizer's name, used in messages and in the state dict
   * @param defaults every option with its default value (the set of valid option names)
   * @param overrides the options given to the constructor
   */
  protected constructor(
    readonly name: string,
    params: Tensor[] | ParamGroupInput<O>[],
    defaults: O,
    overrides: Partial<O>,
  ) {
    this.defaults = withOptions(defaults, overrides, `${name}: options`);
    this.checkOptions(this.defaults, `${name}: options`);
    if (!Array.isArray(params) || params.length === 0) {
      throw new Error(`${name}: params must be a non-empty array of tensors or of parameter groups`);
    }
    const allTensors = params.every((p) => p instanceof torch.Tensor);
    const allGroups = params.every((p) => !(p instanceof torch.Tensor) && typeof p === 'object' && p !== null);
    if (!allTensors && !allGroups) {
      throw new Error(`${name}: params must be all tensors or all parameter groups ({ params, ...options }), not a mix`);
    }
    const groups = allTensors ? [{ params: params as Tensor[] } as ParamGroupInput<O>] : (params as ParamGroupInput<O>[]);
    for (const g of groups) this.addParamGroup(g);
  }

  /** Throws an Error naming `where` if an option is out of range. */
  protected abstract checkOptions(o: O, where: string): void;

  /** The names of every buffer this kind of optimizer may keep per parameter. */
  protected abstract bufferNames(): readonly string[];

  /**
   * Updates one parameter in place from its gradient. Runs under noGrad inside a tidy scope, after
   * `s.step` was increased (it is t, counted from 1); new buffers must be made with torch.keep.
   */
  protected abstract update(p: Tensor, grad: Tensor, o: O, s: ParamState): void;

  /** Adds a group of parameters, with options of its own (torch.optim.Optimizer.add_param_group). */
  addParamGroup(input: ParamGroupInput<O>): void {
    const where = `${this.name}: parameter group ${this.paramGroups.length}`;
    if (!Array.isArray(input.params) || input.params.length === 0) {
      throw new Error(`${where}: params must be a non-empty array of tensors`);
    }
    const { params, ...overrides } = input;
    const group = { ...withOptions(this.defaults, overrides as unknown as Partial<O>, where), params: [...params] };
    this.checkOptions(group, where);
    const seen = new Set(this.paramGroups.flatMap((g) => g.params));
    params.forEach((p, j) => {
      if (!(p instanceof torch.Tensor)) throw new Error(`${where}: params[${j}] is not a Tensor`);
      if (p.isDisposed) throw new Error(`${where}: params[${j}] is disposed`);
      if (!torch.isFloating(p.dtype)) throw new Error(`${where}: params[${j}] has dtype ${p.dtype}; only floating-point tensors can be optimized`);
      if (!p.isLeaf) throw new Error(`${where}: params[${j}] is not a leaf tensor (it was computed from others); optimize the tensor it came from, or detach it`);
      if (seen.has(p)) throw new Error(`${where}: params[${j}] appears more than once among the parameter groups`);
      seen.add(p);
    });
    this.paramGroups.push(group);
  }

  /** Sets the learning rate of every group. */
  setLr(lr: number): void {
    for (const g of this.paramGroups) g.lr = lr;
  }

  /** One update of every parameter that has a gradient. */
  step(): void {
    torch.tidy(() =>
      torch.noGrad(() => {
        this.paramGroups.forEach((group, i) => {
          this.checkOptions(group, `${this.name}: parameter group ${i}`);
          for (const p of group.params) {
            const grad = p.grad;
            if (grad === null) continue;
            const s = this.stateOf(p);
            s.step += 1;
            this.update(p, grad, group, s);
          }
        });
      }),
    );
  }

  /** Clears the gradients: sets them to null (the default), or fills them with zeros. */
  zeroGrad(setToNone = true): void {
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        if (setToNone) p.grad = null;
        else {
          torch.tidy(() => {
            p.grad?.zero_(); // (a block: returning the handle would keep it alive)
          });
        }
      }
    }
  }

  /** The state of a parameter (empty until its first step). */
  protected stateOf(p: Tensor): ParamState {
    let s = this.state.get(p);
    if (!s) {
      s = { step: 0, buffers: {} };
      this.state.set(p, s);
    }
    return s;
  }

  /** Every parameter, in the numbering of the state dict. */
  private allParams(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  stateDict(): OptimizerStateDict {
    const params = this.allParams();
    const tensors: Record<string, Tensor> = {};
    const state: OptimizerMeta['state'] = {};
    params.forEach((p, i) => {
      const s = this.state.get(p);
      if (!s) return;
      state[i] = { step: s.step, buffers: Object.keys(s.buffers) };
      for (const [name, b] of Object.entries(s.buffers)) tensors[`state.${i}.${name}`] = b.detach();
    });
    let next = 0;
    const paramGroups = this.paramGroups.map((g) => {
      const { params: ps, ...options } = g;
      return { ...structuredClone(options), params: ps.map(() => next++) };
    });
    return { tensors, meta: { optimizer: this.name, paramGroups, paramShapes: params.map((p) => p.shape), state } };
  }

  /**
   * Loads a state dict made by stateDict() of the same kind of optimizer over parameters of the
   * same shapes, in the same groups. Everything is checked before anything changes; a mismatch is
   * an Error naming it. The saved options (lr, …) replace the groups' current ones; the tensors are
   * copied, so the state dict may be disposed afterwards.
   */
  loadStateDict(sd: { tensors: Record<string, Tensor>; meta: unknown }): void {
    const where = `${this.name}.loadStateDict`;
    const meta = checkMeta(sd?.meta, where);
    if (meta.optimizer !== this.name) throw new Error(`${where}: the state dict is of a ${meta.optimizer} optimizer, not ${this.name}`);

    // the layout: groups, their sizes, the parameters' shapes
    const params = this.allParams();
    if (meta.paramGroups.length !== this.paramGroups.length) {
      throw new Error(`${where}: the state dict has ${meta.paramGroups.length} parameter groups, this optimizer has ${this.paramGroups.length}`);
    }
    let next = 0;
    const options = meta.paramGroups.map((saved, i) => {
      const group = this.paramGroups[i]!;
      if (saved.params.length !== group.params.length) {
        throw new Error(`${where}: parameter group ${i} has ${saved.params.length} parameters in the state dict, ${group.params.length} here`);
      }
      saved.params.forEach((idx, j) => {
        if (idx !== next + j) throw new Error(`${where}: parameter group ${i} lists parameter ${idx} at position ${j}; expected ${next + j}`);
      });
      next += saved.params.length;
      const { params: _, ...savedOptions } = saved;
      const o = withOptions(this.defaults, savedOptions as Partial<O>, `${where}: parameter group ${i}`);
      this.checkOptions(o, `${where}: parameter group ${i}`);
      return o;
    });
    if (meta.paramShapes.length !== params.length) {
      throw new Error(`${where}: the state dict has shapes for ${meta.paramShapes.length} parameters, this optimizer has ${params.length}`);
    }
    params.forEach((p, i) => {
      if (!sameShape(meta.paramShapes[i]!, p.shape)) {
        throw new Error(`${where}: parameter ${i} has shape ${shapeString(p.shape)} here but ${shapeString(meta.paramShapes[i]!)} in the state dict`);
      }
    });

    // the state: every listed buffer present with the parameter's shape, and nothing else
    const known = this.bufferNames();
    const expected = new Set<string>();
    for (const [key, s] of Object.entries(meta.state)) {
      const i = Number(key);
      if (!Number.isSafeInteger(i) || i < 0 || i >= params.length) {
        throw new Error(`${where}: state of parameter '${key}', but there are ${params.length} parameters (0…${params.length - 1})`);
      }
      for (const name of s.buffers) {
        if (!known.includes(name)) throw new Error(`${where}: parameter ${i} has a buffer '${name}', which ${this.name} does not use (it uses ${known.join(', ')})`);
        expected.add(`state.${i}.${name}`);
      }
    }
    const tensors = sd.tensors ?? {};
    for (const name of expected) {
      if (!(name in tensors)) throw new Error(`${where}: tensor '${name}' is missing from the state dict`);
    }
    for (const [name, t] of Object.entries(tensors)) {
      if (!expected.has(name)) throw new Error(`${where}: unexpected tensor '${name}' (not listed in the meta's state)`);
      if (!(t instanceof torch.Tensor) || t.isDisposed) throw new Error(`${where}: tensor '${name}' is not a live Tensor`);
      const p = params[Number(name.split('.')[1])]!;
      if (!sameShape(t.shape, p.shape)) {
        throw new Error(`${where}: tensor '${name}' has shape ${shapeString(t.shape)}, its parameter has ${shapeString(p.shape)}`);
      }
      if (!torch.isFloating(t.dtype)) throw new Error(`${where}: tensor '${name}' has dtype ${t.dtype}; expected a floating-point dtype`);
    }

    // all checked: copy the state onto the parameters' dtype and device, then swap it in
    const state = new Map<Tensor, ParamState>();
    try {
      torch.noGrad(() => {
        for (const [key, s] of Object.entries(meta.state)) {
          const p = params[Number(key)]!;
          const buffers: Record<string, Tensor> = {};
          state.set(p, { step: s.step, buffers });
          for (const name of s.buffers) {
            const src = tensors[`state.${key}.${name}`]!;
            buffers[name] = torch.keep(src.to({ dtype: p.dtype, device: p.device as torch.Device, copy: true }));
          }
        }
      });
    } catch (e) {
      disposeState(state);
      throw e;
    }
    disposeState(this.state);
    this.state.clear();
    for (const [p, s] of state) this.state.set(p, s);
    options.forEach((o, i) => Object.assign(this.paramGroups[i]!, o));
  }

  /** Frees the state tensors (the optimizer starts afresh if stepped again). */
  dispose(): void {
    disposeState(this.state);
    this.state.clear();
  }
}

function disposeState(state: Map<Tensor, ParamState>): void {
  for (const s of state.values()) for (const b of Object.values(s.buffers)) b.dispose();
}

/** A copy of `base` with the defined values of `overrides`, whose keys must all be in `base`. */
function withOptions<O extends object>(base: O, overrides: Partial<O>, where: string): O {
  const valid = Object.keys(base);
  const out = structuredClone(base);
  for (const [k, v] of Object.entries(overrides ?? {})) {
    if (!valid.includes(k)) throw new Error(`${where}: unknown option '${k}' (valid: ${valid.join(', ')})`);
    if (v !== undefined) (out as Record<string, unknown>)[k] = structuredClone(v);
  }
  return out;
}

/** Checks the structure of a state dict's meta (it may come from a JSON file). */
function checkMeta(m: unknown, where: string): OptimizerMeta {
  const bad = (what: string): never => {
    throw new Error(`${where}: the state dict's meta ${what}`);
  };
  if (typeof m !== 'object' || m === null) return bad('is missing or not an object');
  const meta = m as Partial<OptimizerMeta>;
  if (typeof meta.optimizer !== 'string') bad('lacks the optimizer name');
  if (!Array.isArray(meta.paramGroups)) bad('lacks paramGroups');
  if (!Array.isArray(meta.paramShapes)) bad('lacks paramShapes');
  if (typeof meta.state !== 'object' || meta.state === null) bad('lacks state');
  meta.paramGroups!.forEach((g, i) => {
    if (typeof g !== 'object' || g === null || !Array.isArray(g.params)) bad(`paramGroups[${i}] lacks params`);
  });
  for (const [k, s] of Object.entries(meta.state!)) {
    if (typeof s !== 'object' || s === null) bad(`state '${k}' is not an object`);
    if (!Number.isSafeInteger(s.step) || s.step < 0) bad(`state '${k}' has step ${s.step}; expected a non-negative integer`);
    if (!Array.isArray(s.buffers) || !s.buffers.every((b) => typeof b === 'string')) bad(`state '${k}' lacks its list of buffers`);
  }
  return meta as OptimizerMeta;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return Array.isArray(a) && a.length === b.length && a.every((d, i) => d === b[i]);
}

export function shapeString(s: readonly number[]): string {
  return Array.isArray(s) ? `[${s.join(', ')}]` : String(s);
}

/** Throws unless `v` is a finite number ≥ min (and ≤ max, or < max when `openMax`). */
export function checkRange(v: unknown, name: string, where: string, min: number, max = Infinity, openMax = false): void {
  const ok = typeof v === 'number' && Number.isFinite(v) && v >= min && (openMax ? v < max : v <= max);
  if (!ok) {
    const range = max === Infinity ? `≥ ${min}` : `in [${min}, ${max}${openMax ? ')' : ']'}`;
    throw new Error(`${where}: ${name} must be a finite number ${range}, got ${String(v)}`);
  }
}
