// torch.nn: modules, layers, initialisations, LoRA.
export * from './module.js';
export * from './layers.js';
export * from './attention.js';
export * from './lora.js';
export * as init from './init.js';
