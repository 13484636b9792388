export * from './synthesize';
export * from './batch';
export * from './trainer';
export * from './methods';
export * from './configuration';
export * from './synthesizer';
export * from './fast';
export * from './per-batch-synthesizers';
