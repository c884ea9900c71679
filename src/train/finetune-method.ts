// The interface every fine-tuning method implements, and the registry of methods by name
// (docs/architecture.md, "Conventions": one method per file behind a shared interface; an unknown
// name lists the valid ones; shared code never switches on a method's name — a method declares what
// it needs).
//
// The shared loop (loop.ts) owns everything a method has in common — the base checkpoint, the frozen
// text encoder, LoRA or full weights, AdamW and its schedule, gradient accumulation and clipping,
// EMA, checkpoints and exact resume, the non-finite guard, metrics, the progress bar and the
// exported model. A method owns only what makes it itself: its options, how a batch is made, and
// its loss, and what it carries from one micro-batch to the next. Once per run the loop calls
//
//   state = await method.init?.(setup)          // e.g. DDPO's rollout buffer and reward statistics
//
// (after seeding the global generator, before restoring a checkpoint; a method without init has the
// state null), then per optimizer step, for each of the `accumulation` micro-batches:
//
//   batch = await method.makeBatch(ctx)         // e.g. images + prompts, or prompts + rollouts
//   { loss, logs } = await method.loss(ctx, batch)
//   loss.backward(); method.disposeBatch(batch)
//
// (or, where the loss says backwardDone, the method has back-propagated it itself, × ctx.gradScale)
//
// with ctx.position = step · accumulation + micro, the micro-batch's place in the data stream
// (a method must draw its data from it, so that a resumed run sees the same data) and ctx.state the
// state init made. Random draws (timesteps, noise, rollouts) come from the global torch generator,
// which the loop seeds and keeps in every checkpoint. Whatever else a method carries between
// micro-batches lives in its state: a state with stateDict is saved in every checkpoint and restored
// on resume (checkpoint.ts), so that a resumed run continues exactly; the loop disposes it at the end.
import type { z } from 'zod';
import type { Tensor } from '../torch/index.js';
import type { NoiseSchedule, Scheduler } from '../diffusion/index.js';
import type { TextToImageModel } from '../models/t2i.js';
import type { RewardFn } from './rollout.js';
import type { ImageCaptionSource, PromptSource } from '../data/source.js';

/** A reward as the losses use it: images [N, 3, H, W] in [0, 1] and their prompts → N finite scores. */
export type { RewardFn };

/** The data a method reads by position (src/data/source.ts). */
export type { ImageCaptionSource, PromptSource };

/** A method state as a checkpoint keeps it: tensors (in method.safetensors) and JSON-serialisable meta. */
export interface MethodStateDict {
  tensors: Record<string, Tensor>;
  meta: unknown;
}

/**
 * What a method carries from one micro-batch to the next, made once per run by its init. With
 * stateDict and loadStateDict it is part of every checkpoint, and a checkpoint without it cannot be
 * resumed; without them (a resource made once per run, such as a reward model) it is made afresh
 * on resume.
 */
export interface MethodState {
  /** the state as it is now; the caller disposes the returned tensors once saved */
  stateDict?(): MethodStateDict;
  /** restores a saved state; the caller disposes the given tensors afterwards (copy what is kept) */
  loadStateDict?(saved: MethodStateDict): void;
  /** frees what the state holds (the loop calls it when the run ends) */
  dispose?(): void;
}

/** What the loop hands a method at every micro-batch. */
export interface MethodContext<O = Record<string, unknown>, S extends MethodState | null = null> {
  /** the policy: its UNet is trained (fully or through LoRA adapters), its text encoder is frozen */
  model: TextToImageModel;
  /** the frozen starting model (only when the method's needsReference says so) */
  reference: TextToImageModel | null;
  schedule: NoiseSchedule;
  /** a DDIM scheduler over `schedule` (trailing spacing), for the method's own use */
  scheduler: Scheduler;
  /** the reward of the run (only when the method needs one) */
  reward: RewardFn | null;
  /** image–caption data (only when the method needs a dataset) */
  data: ImageCaptionSource | null;
  /** prompts (the world's train split, or the captions of --data DIR) */
  prompts: PromptSource;
  /** the method's resolved options */
  options: O;
  /** examples (images or prompts) per micro-batch */
  batchSize: number;
  /** the optimizer step this micro-batch belongs to (0-based) */
  step: number;
  /** the micro-batch's position in the data stream: step · accumulation + micro */
  position: number;
  /** the method's state: what its init returned (null for a method without init) */
  state: S;
  /** the factor on this micro-batch's loss in the step's gradient (1 / accumulation), for a method that back-propagates itself */
  gradScale: number;
}

/** What a method's init sees: the run's models, data and options, before any step. */
export type MethodSetup<O = Record<string, unknown>> = Omit<MethodContext<O>, 'step' | 'position' | 'state' | 'gradScale'>;

/** What a method's loss returns: a scalar with a graph to the trained parameters, and numbers to log. */
export interface MethodLoss {
  loss: Tensor;
  /**
   * true when the method has back-propagated the loss itself, scaled by ctx.gradScale (DDPO and
   * D3PO, step by step, so that one denoising step's graph is alive at a time); `loss` is then its
   * value only and the loop does not call backward
   */
  backwardDone?: boolean;
  /** logged per step (rewardMean / rewardBest / rewardWorst where the method has rewards) */
  logs: Record<string, number>;
}

export interface FinetuneMethod<O extends Record<string, unknown> = Record<string, unknown>, B = unknown, S extends MethodState | null = null> {
  readonly name: string;
  /** one line for `--help` and the list of methods */
  readonly description: string;
  /** the method's options: a strict zod object whose fields all have defaults */
  readonly optionsSchema: z.ZodType<O>;
  /** whether the loop must build a frozen copy of the starting model */
  needsReference(options: O): boolean;
  /** whether the method learns from an image–caption dataset (--data world|DIR) */
  readonly needsData: boolean;
  /** whether the method needs a reward (--reward NAME) */
  readonly needsReward: boolean;
  /**
   * how many consecutive data positions the method reads as one unit (DDPO: a rollout buffer of
   * bufferBatches micro-batches); data-parallel training gives each rank whole units (default 1)
   */
  positionGroup?(options: O): number;
  /** makes the method's state, once per run (optional: a method without it has the state null) */
  init?(setup: MethodSetup<O>): Promise<S>;
  makeBatch(ctx: MethodContext<O, S>): Promise<B>;
  loss(ctx: MethodContext<O, S>, batch: B): Promise<MethodLoss>;
  /** frees what makeBatch allocated */
  disposeBatch(batch: B): void;
}

// ------------------------------------------------------------------ registry

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyMethod = FinetuneMethod<any, any, any>;

const methods = new Map<string, AnyMethod>();

/** Registers a method under its name (unique). Concrete methods register in methods/index.ts. */
export function registerMethod(method: AnyMethod): void {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(method.name)) throw new Error(`registerMethod: invalid name '${method.name}' (lower-case letters, digits, '-')`);
  if (methods.has(method.name)) throw new Error(`registerMethod: a method named '${method.name}' is already registered`);
  methods.set(method.name, method);
}

/** The registered names, sorted. */
export function methodNames(): string[] {
  return [...methods.keys()].sort();
}

/** The method registered under `name`; an unknown name throws, listing the valid ones. */
export function getMethod(name: string): AnyMethod {
  const m = methods.get(name);
  if (!m) {
    const valid = methodNames();
    throw new Error(`unknown fine-tuning method '${name}'; valid methods: ${valid.length ? valid.join(', ') : '(none registered)'}`);
  }
  return m;
}

/**
 * A step whose loss, reward or gradient is not a finite number. The loop catches it, skips the step
 * without touching the weights or the optimizer, counts it, and stops after too many in a row.
 */
export class NonFiniteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NonFiniteError';
  }
}
