import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { readCifarFile, readSafetensorsFile } from '../src/io/files';
import { metadataJson } from '../src/io/safetensors';
import {
  assertImageBatch,
  IMAGENET_NORMALIZATION,
  InputNormalization,
  loadBundledTeacher,
  loadTeacher,
  Teacher,
  ZooArchitecture,
} from '../src/node';
import { stageOutput } from './helpers/parity';
import { DATA_DIR, MODELS_DIR, PARITY_DIR } from './helpers/shared';

/** NHWC images in [0, 1] -> the teacher's normalized space, as a tensor. */
function normalized(images: Float32Array, count: number, norm: InputNormalization): tf.Tensor4D {
  const out = new Float32Array(count * 32 * 32 * 3);
  for (let i = 0; i < out.length; i++) {
    const ch = i % 3;
    out[i] = (images[i] - norm.mean[ch]) / norm.std[ch];
  }
  return tf.tensor4d(out, [count, 32, 32, 3]);
}

function maxRelativeError(actual: tf.Tensor, expected: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0] / tf.max(tf.abs(expected)).dataSync()[0]);
}

describe('teachers from PyTorch weights', () => {
  let teacher: Teacher;
  beforeAll(async () => {
    teacher = await loadTeacher({ arch: 'resnet20', weights: path.join(MODELS_DIR, 'cifar10_resnet20.safetensors') });
  });
  afterAll(() => teacher.model.dispose());

  test('loadTeacher reproduces the parity logits and stage outputs of the teacher the file names', async () => {
    const parity = await readSafetensorsFile(path.join(PARITY_DIR, 'teacher_logits.safetensors'));
    const stem = metadataJson<string>(parity, 'model');
    const arch = /^cifar(?:10|100)_(resnet\d+)$/.exec(stem)?.[1] as ZooArchitecture;
    const named = await loadTeacher({ arch, weights: path.join(MODELS_DIR, `${stem}.safetensors`) });
    const norm = { mean: metadataJson<number[]>(parity, 'normalize_mean'), std: metadataJson<number[]>(parity, 'normalize_std') };
    const { images01, logits } = parity.tensors;
    // Images are independent in inference mode; the pure-JS cpu backend (~0.3 s an image) checks 4 of the 16.
    const count = tf.getBackend() === 'cpu' && process.env.NATINV_SLOW_TESTS !== '1' ? 4 : images01.shape[0];
    const x = normalized(images01.data as Float32Array, count, norm);
    const taps = Object.keys(parity.tensors).filter((name) => name.startsWith('tap_'));
    expect(taps.length).toBeGreaterThan(0);
    const layerNames = named.model.layers.map((layer) => layer.name);
    const tapLayers = taps.map((tap) => stageOutput(layerNames, tap.slice('tap_'.length)));
    const probe = tfl.model({
      inputs: named.model.inputs,
      outputs: [named.model.outputs[0], ...tapLayers.map((n) => named.model.getLayer(n).output as tfl.SymbolicTensor)],
    });
    const outputs = probe.predict(x) as tf.Tensor[];
    const refs = [logits, ...taps.map((tap) => parity.tensors[tap])].map((r) =>
      tf.tidy(() => tf.slice(tf.tensor(r.data, r.shape), 0, count)),
    );
    outputs.forEach((out, i) => expect(maxRelativeError(out, refs[i])).toBeLessThan(1e-4));
    tf.dispose([x, ...outputs, ...refs]);
    named.model.dispose();
  });

  test('loadTeacher fills in name, classes, normalization and taps, and freezes the model', () => {
    expect(teacher.name).toBe('cifar10_resnet20');
    expect(teacher.numClasses).toBe(10);
    expect(teacher.normalization).toEqual(IMAGENET_NORMALIZATION);
    expect(teacher.inputShape).toEqual([32, 32, 3]);
    expect(teacher.featureTaps).toEqual(['layer3.2', 'layer2.2', 'layer1.2']);
    expect(teacher.model.trainableWeights).toHaveLength(0);
  });

  // PyTorch (akamaster's model definition, torch 2.13 cpu, same weights and file): 932/1017 correct.
  // The pure-JS cpu backend needs ~0.3 s per image, so there it checks PyTorch's predictions on a
  // fixed subset of 4 right and 4 wrong images instead; NATINV_SLOW_TESTS=1 forces the full set.
  const SUBSET = [0, 1, 2, 3, 35, 52, 58, 59];
  const PYTORCH_ON_SUBSET = [3, 8, 8, 0, 3, 2, 5, 3];

  test('the bundled ResNet-20 scores 932/1017 (91.64 %) on the lossless CIFAR-10 test images (cpu: PyTorch-checked subset)', async () => {
    const full = tf.getBackend() !== 'cpu' || process.env.NATINV_SLOW_TESTS === '1';
    const bundled = await loadBundledTeacher('cifar10-resnet20');
    expect(bundled.name).toBe('cifar10-resnet20');
    const file = path.join(DATA_DIR, 'cifar10/test_batch_first1017.bin.gz');
    const set = await readCifarFile(file, { layout: 'cifar10', limit: full ? undefined : Math.max(...SUBSET) + 1 });
    if (full) expect(set.count).toBe(1017);
    const pixels = 32 * 32 * 3;
    const images = full
      ? set.images
      : new Float32Array(SUBSET.flatMap((i) => Array.from(set.images.subarray(i * pixels, (i + 1) * pixels))));
    const x = normalized(images, full ? set.count : SUBSET.length, bundled.normalization);
    const predicted = tf.tidy(() => tf.argMax(bundled.model.predict(x, { batchSize: 128 }) as tf.Tensor, 1).dataSync());
    if (full) {
      let correct = 0;
      predicted.forEach((p, i) => (correct += p === set.labels[i] ? 1 : 0));
      expect(correct).toBe(932);
    } else {
      expect(Array.from(predicted)).toEqual(PYTORCH_ON_SUBSET);
    }
    x.dispose();
    bundled.model.dispose();
  });
});

describe('assertImageBatch', () => {
  const teacher = { name: 'cifar10-resnet20', inputShape: [32, 32, 3] as const };
  const batch = (shape: number[], dtype: 'float32' | 'int32' = 'float32') => ({ shape, dtype });

  test('accepts an NHWC batch of the teacher size', () => {
    expect(() => assertImageBatch(teacher, batch([2, 32, 32, 3]))).not.toThrow();
  });

  test('names expected and actual shapes and hints at the fix', () => {
    expect(() => assertImageBatch(teacher, batch([2, 3, 32, 32]))).toThrow(
      'teacher "cifar10-resnet20" expects an NHWC image batch [B, 32, 32, 3], got [2, 3, 32, 32]: this looks like NCHW (PyTorch layout); transpose it with tf.transpose(x, [0, 2, 3, 1]).',
    );
    expect(() => assertImageBatch(teacher, batch([32, 32, 3]))).toThrow(
      'got [32, 32, 3]: one image without the batch axis; add it with tf.expandDims(x, 0).',
    );
    expect(() => assertImageBatch(teacher, batch([2, 64, 64, 3]))).toThrow(
      'got [2, 64, 64, 3]: resize or crop the images to 32x32 with 3 channels',
    );
    expect(() => assertImageBatch(teacher, batch([2, 32, 32]))).toThrow('got [2, 32, 32] (rank 3, must be 4).');
    expect(() => assertImageBatch(teacher, batch([0, 32, 32, 3]))).toThrow('the batch is empty');
    expect(() => assertImageBatch(teacher, batch([1, 32, 32, 3], 'int32'))).toThrow('of dtype int32; images must be float32');
  });
});
