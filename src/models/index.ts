export { IMAGENET_NORMALIZATION, CIFAR_NORMALIZATION } from './teacher';
export type { InputNormalization, Teacher } from './teacher';
export { ZOO, ZOO_ARCHITECTURES, buildZooModel, assertZooArchitecture } from './architectures';
export type { ZooArchitecture, ZooEntry, BuildZooModelOptions } from './architectures';
export { loadPytorchWeights, exportPytorchWeights, DEFAULT_IGNORED_TENSORS, WeightsMismatchError } from './pytorch-weights';
export type { PytorchTensor, LoadPytorchWeightsOptions, ExportPytorchWeightsOptions } from './pytorch-weights';
export { loadTeacher, BUNDLED_TEACHERS } from './zoo';
export type { LoadTeacherOptions, BundledTeacherName, BundledTeacherInfo } from './zoo';
export { assertImageBatch } from './input-check';
