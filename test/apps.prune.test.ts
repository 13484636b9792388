import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { pruneFilters } from '../src/apps/prune';
import { buildZooModel } from '../src/models/architectures';
import { tapNetwork } from '../src/taps';
import { tinyNet, toyImages } from './apps.fixtures';

function logits(model: tfl.LayersModel, x: tf.Tensor): Float32Array {
  return tf.tidy(() => tapNetwork(model).forward(x).logits.dataSync() as Float32Array);
}

function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

/** The filters L1-norm pruning removes from a conv at `ratio`, computed independently. */
function removedFilters(model: tfl.LayersModel, conv: string, ratio: number): number[] {
  const kernel = model.getLayer(conv).getWeights()[0];
  const norms = Array.from(tf.tidy(() => tf.sum(tf.abs(kernel), [0, 1, 2]).dataSync()));
  const removed = Math.floor(norms.length * ratio);
  return norms
    .map((n, i) => [n, i])
    .sort((a, b) => a[0] - b[0])
    .slice(0, removed)
    .map(([, i]) => i);
}

/** Zeroes gamma and beta of the given BatchNorm channels: after ReLU they carry nothing, so removing them changes no output. */
function silence(model: tfl.LayersModel, bn: string, channels: number[]): void {
  const layer = model.getLayer(bn);
  const [gamma, beta, mean, variance] = layer.getWeights();
  const mask = tf.tidy(() => {
    const m = new Float32Array(gamma.shape[0]).fill(1);
    channels.forEach((c) => (m[c] = 0));
    return tf.tensor1d(m);
  });
  const g = tf.mul(gamma, mask);
  const b = tf.mul(beta, mask);
  layer.setWeights([g, b, mean, variance]);
  tf.dispose([mask, g, b]);
}

let images: tf.Tensor4D;
beforeAll(() => {
  images = tf.tensor4d(toyImages(6, 4, 3).images01, [6, 8, 8, 3]);
});
afterAll(() => images.dispose());

describe('tiny conv/BN network', () => {
  test('ratio 0 gives an identical model', () => {
    const model = tinyNet({ seed: 1 });
    const { model: pruned, layers, parameters } = pruneFilters(model, { ratio: 0 });
    expect(layers.map((l) => [l.layer, l.next, l.followers])).toEqual([
      ['conv1', 'conv2', ['bn1']],
      ['conv2', 'linear', ['bn2']],
    ]);
    expect(parameters.after).toBe(parameters.before);
    expect(pruned.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name));
    expect(Array.from(logits(pruned, images))).toEqual(Array.from(logits(model, images)));
  });

  test('ratio 0.5 keeps the largest-L1 filters, the next layer inputs and the BatchNorm parameters and statistics', () => {
    const model = tinyNet({ seed: 1 });
    // Non-trivial moving statistics, to see them carried over.
    model.getLayer('bn1').setWeights(
      model
        .getLayer('bn1')
        .getWeights()
        .map((w, i) => tf.add(w, tf.linspace(0.1 * i, 0.1 * i + 1, 6))),
    );
    const { model: pruned, layers, parameters } = pruneFilters(model, { ratio: 0.5 });
    const removed1 = removedFilters(model, 'conv1', 0.5);
    const removed2 = removedFilters(model, 'conv2', 0.5);
    const kept1 = [0, 1, 2, 3, 4, 5].filter((c) => !removed1.includes(c));
    const kept2 = [0, 1, 2, 3, 4, 5, 6, 7].filter((c) => !removed2.includes(c));
    expect(layers[0].kept).toEqual(kept1);
    expect(layers[1].kept).toEqual(kept2);
    // conv1 3x3x3x3, bn1 4x3, conv2 3x3x3x4, bn2 4x4, linear 4x4 + 4.
    expect(parameters).toEqual({ before: 162 + 24 + 432 + 32 + 36, after: 81 + 12 + 108 + 16 + 20 });
    expect(pruned.countParams()).toBe(237);
    const gather = (t: tf.Tensor, idx: number[], axis: number) => tf.gather(t, tf.tensor1d(idx, 'int32'), axis);
    const same = (a: tf.Tensor, b: tf.Tensor) => expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    tf.tidy(() => {
      const bnOld = model.getLayer('bn1').getWeights();
      const bnNew = pruned.getLayer('bn1').getWeights();
      bnOld.forEach((w, i) => same(bnNew[i], gather(w, kept1, 0))); // gamma, beta, moving mean, moving variance
      same(pruned.getLayer('conv1').getWeights()[0], gather(model.getLayer('conv1').getWeights()[0], kept1, 3));
      same(pruned.getLayer('conv2').getWeights()[0], gather(gather(model.getLayer('conv2').getWeights()[0], kept1, 2), kept2, 3));
      same(pruned.getLayer('linear').getWeights()[0], gather(model.getLayer('linear').getWeights()[0], kept2, 0));
      same(pruned.getLayer('linear').getWeights()[1], model.getLayer('linear').getWeights()[1]);
    });
    // Silencing the removed channels in the original makes both networks compute the same function.
    silence(model, 'bn1', removed1);
    silence(model, 'bn2', removed2);
    expect(maxAbsDifference(logits(pruned, images), logits(model, images))).toBeLessThan(1e-5);
  });

  test('a Linear after Flatten (with or without the PyTorch C,H,W permute) keeps the features of the kept channels', () => {
    for (const permute of [false, true]) {
      const input = tfl.input({ shape: [8, 8, 3] });
      let x = tfl.layers
        .conv2d({
          filters: 6,
          kernelSize: 3,
          strides: 2,
          padding: 'same',
          name: 'conv',
          kernelInitializer: tfl.initializers.heNormal({ seed: 4 }),
        })
        .apply(input) as tfl.SymbolicTensor;
      x = tfl.layers.batchNormalization({ name: 'bn' }).apply(x) as tfl.SymbolicTensor;
      x = tfl.layers.reLU({ name: 'relu' }).apply(x) as tfl.SymbolicTensor;
      x = tfl.layers.maxPooling2d({ poolSize: 2, name: 'pool' }).apply(x) as tfl.SymbolicTensor;
      if (permute) x = tfl.layers.permute({ dims: [3, 1, 2], name: 'nchw' }).apply(x) as tfl.SymbolicTensor;
      x = tfl.layers.flatten({ name: 'flatten' }).apply(x) as tfl.SymbolicTensor;
      const out = tfl.layers
        .dense({ units: 3, name: 'fc', kernelInitializer: tfl.initializers.glorotNormal({ seed: 5 }) })
        .apply(x) as tfl.SymbolicTensor;
      const model = tfl.model({ inputs: input, outputs: out });
      const removed = removedFilters(model, 'conv', 0.5);
      silence(model, 'bn', removed);
      const { model: pruned } = pruneFilters(model, { ratio: 0.5 });
      expect(pruned.getLayer('fc').getWeights()[0].shape).toEqual([3 * 2 * 2, 3]);
      expect(maxAbsDifference(logits(pruned, images), logits(model, images))).toBeLessThan(1e-5);
    }
  });

  test('exclude leaves a conv whole; the input model is unchanged and nothing leaks', () => {
    const model = tinyNet({ seed: 2 });
    const before = tf.memory().numTensors;
    const original = Array.from(model.getLayer('conv1').getWeights()[0].dataSync());
    const { model: pruned, layers } = pruneFilters(model, { ratio: 0.5, exclude: ['conv2'], name: 'half' });
    expect(pruned.name).toBe('half');
    expect(layers.map((l) => l.layer)).toEqual(['conv1']);
    expect(pruned.getLayer('conv2').getWeights()[0].shape).toEqual([3, 3, 3, 8]);
    expect(Array.from(model.getLayer('conv1').getWeights()[0].dataSync())).toEqual(original);
    expect(tf.memory().numTensors).toBe(before + pruned.weights.length);
    pruned.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('zoo networks', () => {
  test('CIFAR ResNet-20 at 0.5: only BasicBlock conv1 loses filters; the parameter count follows the architecture; outputs match', () => {
    const model = buildZooModel('resnet20', { seed: 0 });
    const blocks = [1, 2, 3].flatMap((s) => [0, 1, 2].map((b) => `layer${s}.${b}`));
    // Silence what pruning removes, so the pruned network must compute exactly the same logits.
    for (const block of blocks) silence(model, `${block}.bn1`, removedFilters(model, `${block}.conv1`, 0.5));
    const { model: pruned, layers, parameters } = pruneFilters(model, { ratio: 0.5 });
    expect(layers.map((l) => l.layer)).toEqual(blocks.map((b) => `${b}.conv1`));
    expect(layers.every((l, i) => l.next === `${blocks[i]}.conv2` && l.followers.join() === `${blocks[i]}.bn1`)).toBe(true);
    // Per block (in planes -> p planes, k = p/2 kept): conv1 in*k*9 + bn1 4k + conv2 k*p*9 + bn2 4p; stem 3*16*9 + 4*16; linear 64*10 + 10.
    let expected = 3 * 16 * 9 + 4 * 16 + 64 * 10 + 10;
    let inPlanes = 16;
    for (const p of [16, 32, 64]) {
      for (let b = 0; b < 3; b++) {
        const k = p / 2;
        expected += inPlanes * k * 9 + 4 * k + k * p * 9 + 4 * p;
        inPlanes = p;
      }
    }
    expect(parameters.after).toBe(expected);
    expect(parameters.before).toBe(model.countParams());
    const x = tf.tidy(() => tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 1));
    expect(maxAbsDifference(logits(pruned, x), logits(model, x))).toBeLessThan(1e-4);
    tf.dispose([x]);
    pruned.dispose();
    model.dispose();
  });

  test('ResNet-18 at 0.5 keeps the 1x1 shortcut convs and block outputs whole', () => {
    const model = buildZooModel('resnet18', { seed: 0 });
    const { model: pruned, layers, parameters } = pruneFilters(model, { ratio: 0.5 });
    expect(layers.map((l) => l.layer)).toEqual([1, 2, 3, 4].flatMap((s) => [0, 1].map((b) => `layer${s}.${b}.conv1`)));
    expect(pruned.getLayer('layer2.0.shortcut.0').getWeights()[0].shape).toEqual([1, 1, 64, 128]);
    expect(pruned.getLayer('layer2.0.conv2').getWeights()[0].shape).toEqual([3, 3, 64, 128]);
    // Each block loses half of conv1's filters: (in*9 + 4 + p*9) * p/2 parameters.
    let removed = 0;
    let inPlanes = 64;
    for (const p of [64, 128, 256, 512]) {
      for (let b = 0; b < 2; b++) {
        removed += (inPlanes * 9 + 4 + p * 9) * (p / 2);
        inPlanes = p;
      }
    }
    expect(parameters.before - parameters.after).toBe(removed);
    pruned.dispose();
    model.dispose();
  });

  test('VGG-11-BN at 0.5 prunes every conv and the classifier inputs; the model runs', () => {
    const model = buildZooModel('vgg11_bn', { seed: 0 });
    const { model: pruned, layers, parameters } = pruneFilters(model, { ratio: 0.5 });
    const widths = [64, 128, 256, 256, 512, 512, 512, 512];
    expect(layers.map((l) => l.filters)).toEqual(widths);
    expect(layers[layers.length - 1].next).toBe('classifier');
    // conv (with bias) in*out*9 + out, BN 4*out per conv, Linear in*10 + 10.
    let expected = 0;
    let inChannels = 3;
    for (const w of widths.map((w) => w / 2)) {
      expected += inChannels * w * 9 + w + 4 * w;
      inChannels = w;
    }
    expected += 256 * 10 + 10;
    expect(parameters.after).toBe(expected);
    const x = tf.tidy(() => tf.randomNormal([1, 32, 32, 3], 0, 1, 'float32', 2));
    const out = tf.tidy(() => tapNetwork(pruned).forward(x).logits);
    expect(out.shape).toEqual([1, 10]);
    expect(Array.from(out.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([x, out]);
    pruned.dispose();
    model.dispose();
  });
});

test('pruneFilters explains what it cannot do', () => {
  const model = tinyNet({ seed: 1 });
  expect(() => pruneFilters(model, { ratio: 1 })).toThrow(/ratio must be a number in \[0, 1\)/);
  expect(() => pruneFilters(model, { ratio: -0.1 })).toThrow(/ratio must be a number in \[0, 1\)/);
  expect(() => pruneFilters(model, { ratio: NaN })).toThrow(/ratio must be a number in \[0, 1\)/);
  expect(() => pruneFilters(model, {} as { ratio: number })).toThrow(/got undefined/);
  expect(() => pruneFilters(model, { ratio: 0.5, exclude: ['bn1'] })).toThrow(/exclude names 'bn1', which is not a conv layer/);
  expect(() => pruneFilters({ model } as unknown as tfl.LayersModel, { ratio: 0.5 })).toThrow(/for a Teacher, pass teacher.model/);
  const mobile = buildZooModel('mobilenetv2', { inputShape: [8, 8, 3] });
  expect(() => pruneFilters(mobile, { ratio: 0.5 })).toThrow(/MobileNet|DepthwiseConv2D/);
  mobile.dispose();
  // A conv whose output only feeds a residual sum has nothing prunable.
  const input = tfl.input({ shape: [8, 8, 3] });
  const conv = tfl.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', name: 'conv' }).apply(input) as tfl.SymbolicTensor;
  const sum = tfl.layers.add({ name: 'add' }).apply([conv, input]) as tfl.SymbolicTensor;
  const residual = tfl.model({
    inputs: input,
    outputs: tfl.layers.globalAveragePooling2d({}).apply(sum) as tfl.SymbolicTensor,
    name: 'residual',
  });
  expect(() => pruneFilters(residual, { ratio: 0.5 })).toThrow(/no conv layer of model 'residual' can be pruned/);
});
