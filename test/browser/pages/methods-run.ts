import * as tf from '@tensorflow/tfjs-core';
import { buildZooModel, ZOO } from '../../../src/models/architectures';
import { loadPytorchWeights } from '../../../src/models/pytorch-weights';
import type { Teacher } from '../../../src/models/teacher';
import { parseSafetensors } from '../../../src/io/safetensors';
import { deepInversion, naturalInversion } from '../../../src/synthesis/methods';
import { fastInversion } from '../../../src/synthesis/fast';
import type { SynthesizedBatch } from '../../../src/synthesis/batch';

/**
 * A few steps of one method on the active backend, recorded step by step. The same code runs in
 * Node (the cpu reference) and in the browser bundle, so both sides build the same teacher,
 * source and seeds.
 */

export type MethodName = 'deepInversion' | 'naturalInversion' | 'fastInversion';

export interface MethodRun {
  readonly backend: string;
  readonly method: MethodName;
  readonly loss: number[];
  readonly terms: Array<Record<string, number>>;
  /** tf.memory().numTensors after every step. */
  readonly liveTensors: number[];
  readonly msPerStep: number[];
}

export interface MethodRunOptions {
  readonly steps?: number;
  readonly batchSize?: number;
  readonly seed?: number;
}

/** The CIFAR-10 ResNet-20 teacher from safetensors bytes, as loadTeacher builds it (without its file-path branch). */
export function resnet20Teacher(weights: Uint8Array): Teacher {
  const model = buildZooModel('resnet20', { numClasses: 10, inputShape: [32, 32, 3] });
  loadPytorchWeights(model, parseSafetensors(weights).tensors);
  model.trainable = false;
  return {
    name: 'cifar10-resnet20',
    model,
    normalization: ZOO.resnet20.normalization,
    numClasses: 10,
    inputShape: [32, 32, 3],
    featureTaps: ZOO.resnet20.featureTaps,
  };
}

/** Small generators, so a step costs little more than the teacher's forward and backward pass. */
const GENERATOR = { latentSize: 32, baseWidth: 16 };

export async function runMethod(teacher: Teacher, method: MethodName, options: MethodRunOptions = {}): Promise<MethodRun> {
  const steps = options.steps ?? 3;
  const batchSize = options.batchSize ?? 2;
  const seed = options.seed ?? 3;
  const run: MethodRun = { backend: tf.getBackend(), method, loss: [], terms: [], liveTensors: [], msPerStep: [] };
  let last = Date.now();
  const onStep = (report: { loss: number; terms: Readonly<Record<string, number>> }): void => {
    run.loss.push(report.loss);
    run.terms.push({ ...report.terms });
    run.liveTensors.push(tf.memory().numTensors);
    const now = Date.now();
    run.msPerStep.push(now - last);
    last = now;
  };
  let batches: AsyncGenerator<SynthesizedBatch>;
  if (method === 'deepInversion') batches = deepInversion(teacher, { batchSize, steps, seed, onStep });
  else if (method === 'naturalInversion') batches = naturalInversion(teacher, { batchSize, steps, seed, generator: GENERATOR, onStep });
  else batches = fastInversion(teacher, { batchSize, innerSteps: steps, seed, generator: GENERATOR, onStep });
  for await (const batch of batches) void batch;
  return run;
}
