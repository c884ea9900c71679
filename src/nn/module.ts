// Module: parameters, buffers and submodules under dotted names, as in torch.nn.Module
// (`down_blocks.0.resnets.1.conv1.weight`), train/eval mode, and state dicts.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

/** What loadStateDict found: keys the model has but the dict lacks, and the reverse, and shapes that differ. */
export interface LoadReport {
  missing: string[];
  unexpected: string[];
  mismatched: { key: string; expected: number[]; got: number[] }[];
  /** dtypes that differ from the module's (an Error unless `cast` is set) */
  dtypeMismatched?: { key: string; expected: string; got: string }[];
  /** floating tensors holding NaN or ±Inf, or values beyond MAX_PLAUSIBLE_WEIGHT, with how many (always an Error) */
  nonFinite?: { key: string; count: number; huge: number; numel: number }[];
}

export interface LoadStateDictOptions {
  /** missing or unexpected keys are an Error (default true) */
  strict?: boolean;
  /** accept tensors of another dtype and cast them to the module's (default false: a dtype mismatch is an Error) */
  cast?: boolean;
}

const FLOATING = new Set(['float32', 'float64', 'float16', 'bfloat16']);

/**
 * Above this magnitude a weight is taken for corruption (a flipped exponent bit turns 0.02 into
 * about 1e37): no trained network of this project comes near it.
 */
export const MAX_PLAUSIBLE_WEIGHT = 1e20;

/** How many values of a floating tensor are NaN or ±Inf, and how many are finite but beyond MAX_PLAUSIBLE_WEIGHT (0 and 0 for other dtypes). */
export function badValues(t: Tensor): { nonFinite: number; huge: number } {
  if (!FLOATING.has(t.dtype) || t.numel() === 0) return { nonFinite: 0, huge: 0 };
  return torch.noGrad(() =>
    torch.tidy(() => {
      const a = t.abs();
      const m = a.amax().item();
      if (m <= MAX_PLAUSIBLE_WEIGHT) return { nonFinite: 0, huge: 0 }; // NaN fails the comparison
      const finite = t.isfinite();
      return { nonFinite: t.numel() - finite.sum().item(), huge: a.gt(MAX_PLAUSIBLE_WEIGHT).logicalAnd(finite).sum().item() };
    }),
  );
}

export class Module {
  /** Training mode (dropout active, etc.); set with train() / eval(). */
  training = true;
  private readonly _params = new Map<string, Tensor>();
  private readonly _buffers = new Map<string, Tensor>();
  private readonly _modules = new Map<string, Module>();

  /** Registers a trainable tensor under `name`; it leaves any tidy scope and gets requiresGrad. */
  protected registerParameter(name: string, t: Tensor): Tensor {
    checkName(name, this);
    torch.keep(t);
    if (!t.requiresGrad) t.requiresGrad = true;
    this._params.set(name, t);
    return t;
  }

  /** Registers a non-trainable tensor that is saved in the state dict (e.g. a running mean). */
  protected registerBuffer(name: string, t: Tensor): Tensor {
    checkName(name, this);
    torch.keep(t);
    this._buffers.set(name, t);
    return t;
  }

  registerModule<M extends Module>(name: string, m: M): M {
    checkName(name, this);
    this._modules.set(name, m);
    return m;
  }

  /** Removes a submodule (e.g. a LoRA adapter) and returns it; the caller owns its tensors. */
  unregisterModule(name: string): Module | undefined {
    const m = this._modules.get(name);
    this._modules.delete(name);
    return m;
  }

  /** Replaces a registered parameter's tensor (the old one is disposed). */
  protected replaceParameter(name: string, t: Tensor): Tensor {
    const old = this._params.get(name);
    if (!old) throw new Error(`${this.constructor.name} has no parameter '${name}'`);
    this._params.delete(name);
    const p = this.registerParameter(name, t);
    if (old !== t) old.dispose();
    return p;
  }

  children(): [string, Module][] {
    return [...this._modules.entries()];
  }

  /** This module and every submodule, with dotted names ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [n, m] of this._modules) out.push(...m.namedModules(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, m] of this.namedModules(prefix)) {
      for (const [n, p] of m._params) out.push([name ? `${name}.${n}` : n, p]);
    }
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Parameters with requiresGrad (what an optimizer should update). */
  trainableParameters(): Tensor[] {
    return this.parameters().filter((p) => p.requiresGrad);
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, m] of this.namedModules(prefix)) {
      for (const [n, b] of m._buffers) out.push([name ? `${name}.${n}` : n, b]);
    }
    return out;
  }

  /**
   * Moves every parameter and buffer (and gradient) to `device`, in place as torch.nn.Module.to:
   * the tensors keep their identity, so an optimizer made before still holds them.
   */
  to(device: torch.Device): this {
    for (const [, t] of [...this.namedParameters(), ...this.namedBuffers()]) {
      torch.moveTo_(t, device);
      const g = t.grad;
      if (g && g.device !== t.device) {
        t.grad = torch.keep(g.to(t.device as torch.Device));
        g.dispose();
      }
    }
    return this;
  }

  /** The device of the first parameter (or buffer); 'cpu' for a module without tensors. */
  device(): torch.Device {
    const first = this.namedParameters()[0]?.[1] ?? this.namedBuffers()[0]?.[1];
    return (first?.device ?? 'cpu') as torch.Device;
  }

  /** Counts elements of the parameters (all, or only trainable ones). */
  numParameters(opts: { trainableOnly?: boolean } = {}): number {
    const ps = opts.trainableOnly ? this.trainableParameters() : this.parameters();
    return ps.reduce((s, p) => s + p.numel(), 0);
  }

  /** Sets requiresGrad on every parameter (freeze with false). */
  requiresGrad_(on: boolean): this {
    for (const p of this.parameters()) p.requiresGrad = on;
    return this;
  }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /**
   * Parameters and buffers by dotted name. The tensors are the module's own (not copies), as in
   * PyTorch: read or save them, do not dispose them.
   */
  stateDict(): Record<string, Tensor> {
    const sd: Record<string, Tensor> = {};
    for (const [n, p] of this.namedParameters()) sd[n] = p;
    for (const [n, b] of this.namedBuffers()) sd[n] = b;
    return sd;
  }

  /**
   * Copies values from `sd` into the module's tensors (moved to their device). Checks the whole dict
   * first, and changes nothing when any check fails: a mis-shaped key, a dtype other than the
   * module's (unless `cast` asks for a cast to the module's dtype), and a floating tensor holding
   * NaN, ±Inf or values beyond MAX_PLAUSIBLE_WEIGHT are always an Error listing them all (the last
   * with the count of bad values); with
   * `strict` (the default) so are missing and unexpected keys, and without it the report lists
   * what was skipped.
   */
  loadStateDict(sd: Record<string, Tensor>, opts: LoadStateDictOptions = {}): LoadReport {
    const strict = opts.strict ?? true;
    const own = this.stateDict();
    const report: LoadReport = { missing: [], unexpected: [], mismatched: [], dtypeMismatched: [], nonFinite: [] };
    for (const k of Object.keys(own)) if (!(k in sd)) report.missing.push(k);
    for (const k of Object.keys(sd)) if (!(k in own)) report.unexpected.push(k);
    for (const [k, t] of Object.entries(own)) {
      const s = sd[k];
      if (!s) continue;
      if (!sameShape(s.shape, t.shape)) report.mismatched.push({ key: k, expected: t.shape, got: s.shape });
      if (s.dtype !== t.dtype && !opts.cast) report.dtypeMismatched!.push({ key: k, expected: t.dtype, got: s.dtype });
      const bad = badValues(s);
      if (bad.nonFinite + bad.huge > 0) report.nonFinite!.push({ key: k, count: bad.nonFinite, huge: bad.huge, numel: s.numel() });
    }
    const problems = report.mismatched.length + report.dtypeMismatched!.length + report.nonFinite!.length +
      (strict ? report.missing.length + report.unexpected.length : 0);
    if (problems > 0) throw new Error(`loadStateDict(${this.constructor.name}): ${describeReport(report)}`);
    torch.noGrad(() =>
      torch.tidy(() => {
        for (const [k, t] of Object.entries(own)) {
          const s = sd[k];
          if (s) t.copy_(s);
        }
      }),
    );
    return report;
  }

  /** Frees every parameter and buffer. The module is unusable afterwards. */
  dispose(): void {
    for (const [, t] of this.namedParameters()) t.dispose();
    for (const [, t] of this.namedBuffers()) t.dispose();
  }
}

function checkName(name: string, m: Module): void {
  if (!name || name.includes('.')) throw new Error(`${m.constructor.name}: invalid name '${name}' (non-empty, no dots)`);
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export function describeReport(r: LoadReport): string {
  const parts: string[] = [];
  const list = (ks: string[]) => ks.slice(0, 10).join(', ') + (ks.length > 10 ? `, … (${ks.length} in all)` : '');
  if (r.missing.length) parts.push(`missing keys: ${list(r.missing)}`);
  if (r.unexpected.length) parts.push(`unexpected keys: ${list(r.unexpected)}`);
  if (r.mismatched.length) {
    parts.push(
      'shape mismatches: ' +
        r.mismatched.slice(0, 10).map((m) => `${m.key} expected [${m.expected.join(', ')}] got [${m.got.join(', ')}]`).join('; '),
    );
  }
  const dt = r.dtypeMismatched ?? [];
  if (dt.length) {
    parts.push(
      'dtype mismatches: ' +
        dt.slice(0, 10).map((m) => `${m.key} expected ${m.expected} got ${m.got}`).join('; ') +
        (dt.length > 10 ? `; … (${dt.length} in all)` : '') +
        ' (pass { cast: true } to cast)',
    );
  }
  const nf = r.nonFinite ?? [];
  if (nf.length) {
    parts.push(
      'corrupt values: ' +
        nf.slice(0, 10).map((m) => `${m.key} has ${[
          m.count ? `${m.count} NaN or infinite` : '',
          m.huge ? `${m.huge} beyond ±${MAX_PLAUSIBLE_WEIGHT.toExponential()}` : '',
        ].filter(Boolean).join(' and ')} of ${m.numel} values`).join('; ') +
        (nf.length > 10 ? `; … (${nf.length} tensors in all)` : ''),
    );
  }
  return parts.join('; ') || 'no problems';
}

/** A module that maps one tensor to one tensor (what Sequential chains). */
export interface UnaryModule extends Module {
  forward(x: Tensor): Tensor;
}
