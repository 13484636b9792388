export * from './teacher';
