export * from './teacher';
export { ZOO, ZOO_ARCHITECTURES, buildZooModel, assertZooArchitecture } from './architectures';
export type { ZooArchitecture, ZooEntry, BuildZooModelOptions } from './architectures';
export { OptionAShortcut } from './option-a-shortcut';
export type { OptionAShortcutArgs } from './option-a-shortcut';
export { loadPytorchWeights, exportPytorchWeights, DEFAULT_IGNORED_TENSORS } from './pytorch-weights';
export type { PytorchTensor, LoadPytorchWeightsOptions, ExportPytorchWeightsOptions } from './pytorch-weights';
