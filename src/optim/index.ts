export * from './optimizers';
export * from './schedules';
