export * from './synthesize';
export * from './batch';
