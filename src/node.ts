/**
 * natinv/node: everything of the platform-neutral `natinv` entry, plus what needs Node.js: files
 * (safetensors, CIFAR, PNG with Node's zlib), the bundled teachers and loadTeacher from paths,
 * tfjs model folders (a classifier or teacher with natinv's metadata), dataset folders with
 * resumable and sharded runs, checkpoint folders, and starting a backend (tfjs-node, wasm, cpu) by name.
 */
export * from './index';
export { BACKEND_ENV, BACKEND_NAMES, backendFromEnv, tensorflowEnvironment, useBackend } from './runtime/backend';
export type { BackendName } from './runtime/backend';
export { readSafetensorsFile, writeSafetensorsFile, readCifarFile } from './io/files';
export { encodePng, decodePng } from './io/png-node';
export { nodeZlib, gunzip } from './io/node-zlib';
export { loadTeacher, loadBundledTeacher } from './models/zoo-files';
export type { LoadBundledTeacherOptions } from './models/zoo-files';
export {
  MODEL_JSON,
  WEIGHTS_BIN,
  loadModelFolder,
  saveModelFolder,
  loadTeacherFolder,
  saveTeacherFolder,
  teacherMetadata,
} from './models/model-folder';
export type { TeacherMetadata, LoadedModelFolder, LoadedTeacherFolder } from './models/model-folder';
export { findPackageRoot, findAsset } from './models/assets';
export type { FindAssetOptions } from './models/assets';
export { checkpointFolder, loadTrainingCheckpoint, RESUME_FILE } from './apps/checkpoint-folder';
export type { LoadedTrainingCheckpoint } from './apps/checkpoint-folder';
export { CHECKPOINT_FILE, POOL_DIR, loadDataFreeCheckpoint, saveDataFreeCheckpoint } from './apps/data-free-folder';
export type { LoadedCheckpoint } from './apps/data-free-folder';
export * from './dataset';
