export { roll, jitter, flip, compose } from './augmentation';
export type { Augmentation } from './augmentation';
