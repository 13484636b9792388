export * from './types';
export * from './losses';
export * from './terms';
export * from './weighted';
