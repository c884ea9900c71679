// The embedded compositional world (see docs/world.md): vocabulary and grammar, renderer,
// evaluator, prompt splits and the evaluator's measurements.
export * from './vocab.js';
export * from './spec.js';
export * from './grammar.js';
export * from './prompts.js';
export * from './rng.js';
export * from './image.js';
export * from './geometry.js';
export * from './layout.js';
export * from './render.js';
export * from './evaluate.js';
export * from './degrade.js';
export * from './splits.js';
export * from './check.js';
export * from './grid.js';
export * from './bench.js';
