import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { conditionalGenerator, ConditionalGenerator } from '../src/sources';
import { expectClose } from './helpers/compare';
import { PARITY_DIR } from './helpers/shared';
import { ParityRecord, readParityFile } from './helpers/parity';
import { expectIdentical, expectNormal, expectUniform } from './helpers/sources-stats';

const PARITY_FILE = path.join(PARITY_DIR, 'natural_inversion_step.safetensors');

function oneHotInput(batch: number, latent: number, classes: number, seed = 1): tf.Tensor2D {
  return tf.tidy(() => {
    const z = tf.randomNormal([batch, latent], 0, 1, 'float32', seed);
    const labels = tf.tensor1d(
      Array.from({ length: batch }, (_, i) => i % classes),
      'int32',
    );
    return tf.concat([z, tf.cast(tf.oneHot(labels, classes), 'float32')], 1) as tf.Tensor2D;
  });
}

describe('conditionalGenerator', () => {
  describe('default CIFAR configuration', () => {
    let g: ConditionalGenerator;
    beforeAll(() => {
      g = conditionalGenerator({ numClasses: 10, seed: 3 });
    });
    afterAll(() => g.dispose());

    test('has the reference parameter names and tfjs-layout shapes', () => {
      const shapes = Object.fromEntries(Object.entries(g.parameters).map(([k, v]) => [k, v.shape]));
      expect(shapes).toEqual({
        'l1.weight': [1034, 8192],
        'l1.bias': [8192],
        'bn0.weight': [128],
        'bn0.bias': [128],
        'conv1.weight': [3, 3, 128, 128],
        'conv1.bias': [128],
        'bn1.weight': [128],
        'bn1.bias': [128],
        'conv2.weight': [3, 3, 128, 64],
        'conv2.bias': [64],
        'bn2.weight': [64],
        'bn2.bias': [64],
        'conv3.weight': [3, 3, 64, 3],
        'conv3.bias': [3],
      });
      expect(g.options).toEqual({
        latentSize: 1024,
        numClasses: 10,
        baseWidth: 128,
        outputSize: 32,
        outputChannels: 3,
        initSize: 8,
        seed: 3,
      });
      expect(Object.values(g.parameters).every((v) => v.trainable)).toBe(true);
    });

    test('initialization follows the reference distributions', () => {
      const p = g.parameters;
      // BN gamma ~ N(1, 0.02): 320 samples over the three layers, beta 0.
      const gammas = [...p['bn0.weight'].dataSync(), ...p['bn1.weight'].dataSync(), ...p['bn2.weight'].dataSync()];
      expectNormal(gammas, 1, 0.02);
      for (const name of ['bn0.bias', 'bn1.bias', 'bn2.bias', 'conv1.bias', 'conv2.bias', 'conv3.bias']) {
        expect(Array.from(p[name].dataSync()).every((v) => v === 0)).toBe(true);
      }
      // Kaiming normal, fan_in = in x 3 x 3: std sqrt(2 / fan_in).
      expectNormal(p['conv1.weight'].dataSync(), 0, Math.sqrt(2 / (128 * 9)));
      expectNormal(p['conv2.weight'].dataSync(), 0, Math.sqrt(2 / (128 * 9)));
      expectNormal(p['conv3.weight'].dataSync(), 0, Math.sqrt(2 / (64 * 9)));
      // Linear: U(+-1/sqrt(1034)) for weight and bias.
      expectUniform(p['l1.weight'].dataSync(), 1 / Math.sqrt(1034));
      expectUniform(p['l1.bias'].dataSync(), 1 / Math.sqrt(1034));
    });
  });

  test('forward gives [B, 32, 32, 3] and leaks nothing', () => {
    const g = conditionalGenerator({ numClasses: 10, latentSize: 16, baseWidth: 8, seed: 0 });
    const input = oneHotInput(4, 16, 10);
    const before = tf.memory().numTensors;
    const out = g.forward(input);
    expect(out.shape).toEqual([4, 32, 32, 3]);
    expect(Array.from(out.dataSync()).every(Number.isFinite)).toBe(true);
    out.dispose();
    expect(tf.memory().numTensors).toBe(before);
    input.dispose();
    const beforeDispose = tf.memory().numTensors;
    g.dispose();
    expect(tf.memory().numTensors).toBe(beforeDispose - 14);
    expect(() => g.forward(oneHotInput(2, 16, 10))).toThrow(/disposed/);
  });

  test('the same seed gives identical parameters and output; another seed differs', () => {
    const opts = { numClasses: 10, latentSize: 16, baseWidth: 8 };
    const a = conditionalGenerator({ ...opts, seed: 7 });
    const b = conditionalGenerator({ ...opts, seed: 7 });
    const c = conditionalGenerator({ ...opts, seed: 8 });
    for (const name of Object.keys(a.parameters)) {
      expectIdentical(b.parameters[name].dataSync(), a.parameters[name].dataSync());
    }
    expect(c.parameters['conv1.weight'].dataSync()).not.toEqual(a.parameters['conv1.weight'].dataSync());
    expect(c.parameters['l1.weight'].dataSync()).not.toEqual(a.parameters['l1.weight'].dataSync());
    const input = oneHotInput(3, 16, 10);
    const [ya, yb] = [a.forward(input), b.forward(input)];
    expectIdentical(yb.dataSync(), ya.dataSync());
    tf.dispose([ya, yb, input]);
    [a, b, c].forEach((m) => m.dispose());
  });

  test('works for 100 classes and at 64x64 (initSize 16)', () => {
    const g100 = conditionalGenerator({ numClasses: 100, latentSize: 16, baseWidth: 8, seed: 1 });
    expect(g100.inputSize).toBe(116);
    expect(g100.parameters['l1.weight'].shape).toEqual([116, 8 * 8 * 8]);
    const x100 = oneHotInput(2, 16, 100);
    const y100 = g100.forward(x100);
    expect(y100.shape).toEqual([2, 32, 32, 3]);

    const g64 = conditionalGenerator({ numClasses: 10, latentSize: 16, baseWidth: 8, outputSize: 64, initSize: 16, seed: 1 });
    expect(conditionalGenerator({ numClasses: 10, latentSize: 4, baseWidth: 2, outputSize: 64, seed: 1 }).options.initSize).toBe(16);
    const x64 = oneHotInput(2, 16, 10);
    const y64 = g64.forward(x64);
    expect(y64.shape).toEqual([2, 64, 64, 3]);
    expect(g64.parameters['l1.weight'].shape).toEqual([26, 8 * 16 * 16]);
    tf.dispose([x100, y100, x64, y64]);
    g100.dispose();
    g64.dispose();
  });

  test('rejects bad options and inputs with clear errors', () => {
    expect(() => conditionalGenerator({ seed: 0 } as never)).toThrow(/numClasses must be a positive integer/);
    expect(() => conditionalGenerator({ numClasses: 10, outputSize: 30, seed: 0 })).toThrow(/outputSize must be 4 x initSize/);
    expect(() => conditionalGenerator({ numClasses: 10, outputSize: 64, initSize: 8, seed: 0 })).toThrow(/initSize 8/);
    expect(() => conditionalGenerator({ numClasses: 10, baseWidth: 7, seed: 0 })).toThrow(/baseWidth must be even/);
    expect(() => conditionalGenerator({ numClasses: 10, latentSize: 0, seed: 0 })).toThrow(/latentSize/);
    expect(() => conditionalGenerator({ numClasses: 10, seed: 0.5 })).toThrow(/seed must be an integer/);
    const g = conditionalGenerator({ numClasses: 10, latentSize: 4, baseWidth: 2, seed: 0 });
    const wrong = tf.zeros([2, 13]) as tf.Tensor2D;
    expect(() => g.forward(wrong)).toThrow(/expected \[batch, 14\]/);
    wrong.dispose();
    g.dispose();
  });

  test('gradients keyed by tf.Variable name come back in PyTorch layout under PyTorch names', () => {
    const g = conditionalGenerator({ numClasses: 10, latentSize: 6, baseWidth: 4, seed: 2 });
    const input = oneHotInput(2, 6, 10);
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(g.forward(input))));
    const pytorch = g.toPytorchLayout(grads);
    expect(Object.keys(pytorch).sort()).toEqual(Object.keys(g.parameters).sort());
    const want: Record<string, number[]> = {
      'l1.weight': [4 * 64, 16],
      'conv1.weight': [4, 4, 3, 3],
      'conv2.weight': [2, 4, 3, 3],
      'conv3.weight': [3, 2, 3, 3],
      'bn2.weight': [2],
    };
    for (const [name, shape] of Object.entries(want)) expect(pytorch[name].shape).toEqual(shape);
    // The conv layout conversion is a plain permutation: OIHW[o][i][h][w] = HWIO[h][w][i][o].
    const hwio = grads[g.parameters['conv2.weight'].name].arraySync() as number[][][][];
    const oihw = pytorch['conv2.weight'].arraySync() as number[][][][];
    expect(oihw[1][3][2][0]).toBe(hwio[2][0][3][1]);
    tf.dispose([value, input, ...Object.values(grads), ...Object.values(pytorch)]);
    g.dispose();
  });

  describe('parity with natural_inversion_step.safetensors', () => {
    let file: ParityRecord;
    let g: ConditionalGenerator;
    beforeAll(() => {
      if (!fs.existsSync(PARITY_FILE)) throw new Error(`parity file missing: ${PARITY_FILE}`);
      file = readParityFile(path.basename(PARITY_FILE));
      const spec = file.metadata.generator as { latent: number; classes: number; channels: number; init_size: number };
      g = conditionalGenerator({
        latentSize: spec.latent,
        numClasses: spec.classes,
        baseWidth: spec.channels,
        initSize: spec.init_size,
        outputSize: file.tensors.generator_out.shape[1],
        outputChannels: file.tensors.generator_out.shape[3],
        seed: 0,
      });
      g.loadPytorchParameters(file.tensors, { prefix: 'generator.' });
    });
    afterAll(() => {
      g.dispose();
      tf.dispose(Object.values(file.tensors));
    });

    test('z holds the latent followed by the one-hot labels of metadata labels', () => {
      const labels = file.metadata.labels as number[];
      const spec = file.metadata.generator as { latent: number; classes: number };
      const oneHot = tf.tidy(() => tf.slice(file.tensors.z, [0, spec.latent], [-1, spec.classes]).arraySync()) as number[][];
      oneHot.forEach((row, i) => expect(row).toEqual(row.map((_, c) => (c === labels[i] ? 1 : 0))));
    });

    test('generator_out matches (1e-4 of the largest entry)', () => {
      const out = g.forward(file.tensors.z as tf.Tensor2D);
      expectClose(out, file.tensors.generator_out, 1e-4);
      out.dispose();
    });

    test('parameters round-trip to PyTorch layout exactly', () => {
      const back = g.toPytorchLayout(g.parameters);
      expect(Object.keys(back).sort()).toEqual(Object.keys(g.parameters).sort());
      for (const [name, value] of Object.entries(back)) {
        expect(value.shape).toEqual(file.tensors[`generator.${name}`].shape);
        expectIdentical(value.dataSync(), file.tensors[`generator.${name}`].dataSync());
      }
      tf.dispose(Object.values(back));
    });

    test('a failed load names the problem and changes nothing', () => {
      const before = g.parameters['conv1.weight'].dataSync().slice();
      const bad = { ...file.tensors, 'generator.conv1.weight': file.tensors['generator.conv2.weight'] };
      const shape = (name: string) => `\\[${file.tensors[name].shape.join(',')}\\]`;
      expect(() => g.loadPytorchParameters(bad, { prefix: 'generator.' })).toThrow(
        new RegExp(`generator.conv1.weight has shape ${shape('generator.conv2.weight')}, expected ${shape('generator.conv1.weight')}`),
      );
      const { ['generator.bn1.bias']: _dropped, ...missing } = file.tensors;
      expect(() => g.loadPytorchParameters(missing, { prefix: 'generator.' })).toThrow(/missing generator.bn1.bias/);
      expect(() => g.loadPytorchParameters(file.tensors)).toThrow(/unknown/);
      expectIdentical(g.parameters['conv1.weight'].dataSync(), before);
    });
  });
});
