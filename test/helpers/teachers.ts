import * as fs from 'fs';
import * as path from 'path';
import { IMAGENET_NORMALIZATION, Teacher } from '../../src/node';
import { parseSafetensors } from '../../src/io/safetensors';
import { buildZooModel, ZOO, ZooArchitecture } from '../../src/models/architectures';
import { loadPytorchWeights } from '../../src/models/pytorch-weights';
import { MODELS_DIR } from './shared';

const cache = new Map<string, Teacher>();

/**
 * A teacher from ../shared/models by file stem, e.g. `cifar10_resnet20` (the `model` metadata
 * of the parity files). Built once per test file.
 */
export function sharedTeacher(stem: string): Teacher {
  const cached = cache.get(stem);
  if (cached != null) return cached;
  const match = /^cifar(10|100)_(resnet\d+)$/.exec(stem);
  if (match == null) throw new Error(`no zoo architecture for shared model '${stem}'`);
  const arch = match[2] as ZooArchitecture;
  const numClasses = Number(match[1]);
  const file = path.join(MODELS_DIR, `${stem}.safetensors`);
  const weights = parseSafetensors(new Uint8Array(fs.readFileSync(file)), { source: file });
  const model = buildZooModel(arch, { numClasses });
  loadPytorchWeights(model, weights.tensors);
  const teacher: Teacher = {
    name: stem,
    model,
    normalization: IMAGENET_NORMALIZATION,
    numClasses,
    inputShape: [32, 32, 3],
    featureTaps: ZOO[arch].featureTaps,
  };
  cache.set(stem, teacher);
  return teacher;
}
