export * from './augmentation';
