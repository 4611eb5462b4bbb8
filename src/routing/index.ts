export * from './method.js';
export * from './node-chooser.js';
export * from './prefix-index.js';
export * from './prefix.js';
export * from './rng.js';
export * from './srv.js';
export * from './timezone.js';
