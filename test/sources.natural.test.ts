import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { IMAGENET_NORMALIZATION, Teacher } from '../src/models/teacher';
import { adaptiveChannelScaling, naturalSource, NaturalSource, oneToOneLabels, pixels, RenderContext } from '../src/sources';
import { expectClose } from './helpers/compare';
import { expectIdentical, expectNormal } from './helpers/sources-stats';

/** A tiny stand-in teacher with stage outputs at 8, 16 and 32 (deepest first, as ResNet-20's). */
function tinyTeacher(numClasses = 10): Teacher {
  const input = tfl.input({ shape: [32, 32, 3] });
  const s1 = tfl.layers
    .conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 's1', seed: 1 } as never)
    .apply(input) as tfl.SymbolicTensor;
  const s2 = tfl.layers
    .conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 's2' })
    .apply(s1) as tfl.SymbolicTensor;
  const s3 = tfl.layers
    .conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 's3' })
    .apply(s2) as tfl.SymbolicTensor;
  const pooled = tfl.layers.globalAveragePooling2d({ name: 'pool' }).apply(s3) as tfl.SymbolicTensor;
  const logits = tfl.layers.dense({ units: numClasses, name: 'fc' }).apply(pooled) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: logits, name: 'tiny' });
  return {
    name: 'tiny',
    model,
    normalization: IMAGENET_NORMALIZATION,
    numClasses,
    inputShape: [32, 32, 3],
    featureTaps: ['s3', 's2', 's1'],
  };
}

const SMALL_GENERATOR = { latentSize: 8, baseWidth: 8 };

/**
 * A render context like the loop's: `augment` is a fixed flip (so its effect is visible), the
 * taps come from a multi-output model in inference mode. `detach` copies the input off the tape
 * first, as the loop does; without it the taps are computed on the tape.
 */
function contextFor(teacher: Teacher, options: { detach: boolean; log?: string[] }): RenderContext {
  const taps = tfl.model({
    inputs: teacher.model.inputs,
    outputs: teacher.featureTaps.map((n) => teacher.model.getLayer(n).output as tfl.SymbolicTensor),
  });
  return {
    augment: (images) => {
      options.log?.push(`augment ${images.shape}`);
      return tf.reverse(images, 2);
    },
    teacherFeatures: (images, names) => {
      options.log?.push(`features ${names.join(',')} ${images.shape}`);
      const input = options.detach ? tf.tensor(images.dataSync(), images.shape) : images;
      return taps.apply(input, { training: false }) as tf.Tensor4D[];
    },
  };
}

describe('pixels', () => {
  test('one group of [B, H, W, C] ~ N(0, 1); render returns its value as a new handle', () => {
    const source = pixels({ batchSize: 4, seed: 1 });
    expect(source.groups.map((g) => [g.name, g.variables.length, g.learningRate])).toEqual([['pixels', 1, 0.05]]);
    expect(source.pixels.shape).toEqual([4, 32, 32, 3]);
    expectNormal(source.pixels.dataSync(), 0, 1);
    const context = contextFor(tinyTeacher(), { detach: true });
    const before = tf.memory().numTensors;
    const image = source.render(context);
    expectIdentical(image.dataSync(), source.pixels.dataSync());
    image.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(source.pixels.isDisposed).toBe(false);
    const other = pixels({ batchSize: 2, imageShape: [8, 6, 1], seed: 1, learningRate: 0.1 });
    expect(other.pixels.shape).toEqual([2, 8, 6, 1]);
    expect(other.groups[0].learningRate).toBe(0.1);
    const same = pixels({ batchSize: 4, seed: 1 });
    const different = pixels({ batchSize: 4, seed: 2 });
    expectIdentical(same.pixels.dataSync(), source.pixels.dataSync());
    expect(different.pixels.dataSync()[0]).not.toBe(source.pixels.dataSync()[0]);
    [source, other, same, different].forEach((s) => s.dispose());
    expect(() => source.render(context)).toThrow(/disposed/);
  });

  test('rejects bad options', () => {
    expect(() => pixels({ batchSize: 0, seed: 0 })).toThrow(/batchSize must be a positive integer/);
    expect(() => pixels({ batchSize: 2, imageShape: [32, 32] as never, seed: 0 })).toThrow(
      /imageShape must be \[height, width, channels\]/,
    );
    expect(() => pixels({ batchSize: 2, seed: 0, learningRate: -1 })).toThrow(/learningRate must be a positive number/);
    expect(() => pixels({ batchSize: 2 } as never)).toThrow(/seed must be an integer/);
  });
});

describe('adaptiveChannelScaling', () => {
  test('alpha [B, 1, 1, C] ~ N(5, 1) scales each image and channel', () => {
    // 256 x 3 = 768 draws: 5 standard errors are 0.18 on the mean and 0.13 on the std.
    const acs = adaptiveChannelScaling({ batchSize: 256, seed: 3 });
    expect(acs.alpha.shape).toEqual([256, 1, 1, 3]);
    expect(Object.keys(acs.parameters)).toEqual(['alpha']);
    expectNormal(acs.alpha.dataSync(), 5, 1);
    acs.dispose();
    const small = adaptiveChannelScaling({ batchSize: 2, channels: 2, mean: 0, std: 0.5, seed: 1 });
    const x = tf.ones([2, 3, 3, 2]) as tf.Tensor4D;
    const y = small.apply(x);
    const alpha = small.alpha.dataSync();
    const ya = y.arraySync();
    expect(ya[1][2][0][1]).toBeCloseTo(alpha[3], 6);
    expect(ya[0][1][1][0]).toBeCloseTo(alpha[0], 6);
    expect(() => small.apply(tf.ones([3, 3, 3, 2]) as tf.Tensor4D)).toThrow(/expected \[2, H, W, 2\]/);
    tf.dispose([x, y]);
    small.dispose();
    expect(() => adaptiveChannelScaling({ batchSize: 2, std: -1, seed: 0 })).toThrow(/std must be a finite number >= 0/);
    expect(() => adaptiveChannelScaling({ batchSize: 1.5, seed: 0 })).toThrow(/batchSize must be a positive integer/);
  });
});

describe('oneToOneLabels', () => {
  const counts = (labels: Int32Array, k: number) => {
    const c = new Array(k).fill(0);
    labels.forEach((l) => c[l]++);
    return c;
  };

  test('cycles through the classes and fills the rest with distinct random classes', () => {
    const ten = oneToOneLabels({ batchSize: 256, numClasses: 10, seed: 0 });
    expect(Array.from(ten.slice(0, 250))).toEqual(Array.from({ length: 250 }, (_, i) => i % 10));
    expect(new Set(ten.slice(250)).size).toBe(6);
    expect(counts(ten, 10).every((c) => c === 25 || c === 26)).toBe(true);
    const hundred = oneToOneLabels({ batchSize: 256, numClasses: 100, seed: 0 });
    expect(Array.from(hundred.slice(0, 200))).toEqual(Array.from({ length: 200 }, (_, i) => i % 100));
    expect(counts(hundred, 100).every((c) => c === 2 || c === 3)).toBe(true);
    const few = oneToOneLabels({ batchSize: 5, numClasses: 10, seed: 0 });
    expect(new Set(few).size).toBe(5);
    expect(oneToOneLabels({ batchSize: 5, numClasses: 10, seed: 0 })).toEqual(few);
    const seeds = Array.from({ length: 8 }, (_, s) => Array.from(oneToOneLabels({ batchSize: 5, numClasses: 10, seed: s })).join());
    expect(new Set(seeds).size).toBeGreaterThan(1);
    expect(() => oneToOneLabels({ batchSize: 4, numClasses: 0, seed: 0 })).toThrow(/numClasses must be a positive integer/);
  });
});

describe('naturalSource', () => {
  let teacher: Teacher;
  beforeAll(() => {
    teacher = tinyTeacher();
  });

  const build = (seed: number, extra: Partial<Parameters<typeof naturalSource>[0]> = {}): NaturalSource =>
    naturalSource({ teacher, batchSize: 4, labels: [0, 1, 2, 3], seed, generator: SMALL_GENERATOR, ...extra });

  test('has the generator, ftp and alpha groups with the paper learning rates', () => {
    const source = build(0);
    expect(source.groups.map((g) => [g.name, g.variables.length, g.learningRate])).toEqual([
      ['generator', 14, 1e-3],
      ['ftp', 12, 5e-4],
      ['alpha', 1, 5e-2],
    ]);
    expect(Array.from(source.labels)).toEqual([0, 1, 2, 3]);
    expect(source.generatorInput.shape).toEqual([4, 8 + 10]);
    expect(source.ftp.features.map((f) => [f.name, f.channels, f.height])).toEqual([
      ['s3', 8, 8],
      ['s2', 6, 16],
      ['s1', 4, 32],
    ]);
    expect(JSON.parse(JSON.stringify(source.config))).toEqual(source.config);
    expect(source.config.generator).toMatchObject({ latentSize: 8, baseWidth: 8, numClasses: 10, outputSize: 32, outputChannels: 3 });
    const custom = build(0, { learningRates: { ftp: 1e-2 } });
    expect(custom.groups.map((g) => g.learningRate)).toEqual([1e-3, 1e-2, 5e-2]);
    [source, custom].forEach((s) => s.dispose());
  });

  test('render: image = alpha * FTP(augment(G(z + onehot)), teacher taps of the augmented image)', () => {
    const source = build(1);
    const log: string[] = [];
    const context = contextFor(teacher, { detach: true, log });
    const before = tf.memory().numTensors;
    const image = tf.tidy(() => source.render(context));
    expect(image.shape).toEqual([4, 32, 32, 3]);
    expect(log).toEqual(['augment 4,32,32,3', 'features s3,s2,s1 4,32,32,3']);
    const want = tf.tidy(() => {
      const ga = tf.reverse(source.generator.forward(source.generatorInput), 2) as tf.Tensor4D;
      const taps = contextFor(teacher, { detach: true }).teacherFeatures(ga, source.featureTaps);
      return tf.mul(source.acs.alpha, source.ftp.forward(ga, taps));
    });
    expectClose(image, want, 1e-6);
    tf.dispose([image, want]);
    expect(tf.memory().numTensors).toBe(before);
    source.dispose();
  });

  test('gradients reach all three groups and never flow through the teacher taps', () => {
    const source = build(2);
    const variables = source.groups.flatMap((g) => g.variables);
    const gradsWith = (detach: boolean) => {
      const context = contextFor(teacher, { detach });
      return tf.variableGrads(() => tf.sum(tf.square(source.render(context))), variables);
    };
    const detached = gradsWith(true);
    const onTape = gradsWith(false);
    expect(Object.keys(detached.grads).length).toBe(variables.length);
    for (const v of variables) {
      expect(tf.tidy(() => tf.max(tf.abs(detached.grads[v.name])).dataSync()[0])).toBeGreaterThan(0);
      expectClose(onTape.grads[v.name], detached.grads[v.name], 1e-6);
    }
    // Reference names and layouts for comparing with PyTorch.
    const pytorch = source.toPytorchLayout(detached.grads);
    expect(Object.keys(pytorch)).toContain('generator.conv1.weight');
    expect(pytorch['generator.conv1.weight'].shape).toEqual([8, 8, 3, 3]);
    expect(pytorch['ftp.mix.0.weight'].shape).toEqual([6, 6, 3, 3]);
    expect(pytorch.alpha.shape).toEqual([4, 1, 1, 3]);
    expect(Object.keys(pytorch).length).toBe(variables.length);
    tf.dispose([detached.value, onTape.value, ...Object.values(detached.grads), ...Object.values(onTape.grads), ...Object.values(pytorch)]);
    source.dispose();
  });

  test('the same seed rebuilds the same source; another seed differs; dispose frees everything', () => {
    const context = contextFor(teacher, { detach: true });
    const before = tf.memory().numTensors;
    const [a, b, c] = [5, 5, 6].map((seed) => build(seed));
    const [ia, ib, ic] = [a, b, c].map((s) => tf.tidy(() => s.render(context)));
    expectIdentical(ib.dataSync(), ia.dataSync());
    expect(ic.dataSync()[0]).not.toBe(ia.dataSync()[0]);
    for (const part of ['generator', 'ftp'] as const) {
      for (const [name, v] of Object.entries(a[part].parameters)) expectIdentical(b[part].parameters[name].dataSync(), v.dataSync());
    }
    expectIdentical(b.generatorInput.dataSync(), a.generatorInput.dataSync());
    tf.dispose([ia, ib, ic]);
    [a, b, c].forEach((s) => s.dispose());
    a.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(() => a.render(context)).toThrow(/disposed/);
  });

  test('works for 100 classes', () => {
    const teacher100 = tinyTeacher(100);
    const labels = oneToOneLabels({ batchSize: 4, numClasses: 100, seed: 0 });
    const source = naturalSource({ teacher: teacher100, batchSize: 4, labels, seed: 0, generator: SMALL_GENERATOR });
    expect(source.generatorInput.shape).toEqual([4, 108]);
    const hot = source.generatorInput.arraySync().map((row) => row.slice(8).indexOf(1));
    expect(hot).toEqual(Array.from(labels));
    const image = tf.tidy(() => source.render(contextFor(teacher100, { detach: true })));
    expect(image.shape).toEqual([4, 32, 32, 3]);
    image.dispose();
    source.dispose();
    teacher100.model.dispose();
  });

  test('rejects bad options with clear errors', () => {
    expect(() => build(0, { labels: [0, 1, 2] })).toThrow(/got 3 labels for batchSize 4/);
    expect(() => build(0, { labels: [0, 1, 2, 10] })).toThrow(/labels\[3\] = 10 is not a class in \[0, 9\]/);
    expect(() => build(0, { featureTaps: ['s3', 'nope'] })).toThrow(/no layer named 'nope'. Its layers are: .*s1, s2, s3/);
    expect(() => build(0, { featureTaps: ['pool'] })).toThrow(/a feature tap must be a single rank-4 map/);
    expect(() => build(0, { generator: { outputSize: 64 } })).toThrow(/outputSize 64 differs from the teacher's input size 32/);
    expect(() => build(0, { learningRates: { alpha: 0 } })).toThrow(/learningRates.alpha must be a positive number/);
    const latent = tf.zeros([4, 9]) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    expect(() => build(0, { latent })).toThrow(/latent must be \[4, 8\] \(batchSize, latentSize\), got \[4,9\]/);
    expect(tf.memory().numTensors).toBe(before);
    latent.dispose();
    expect(() => build(0, { generator: { baseWidth: 3 } })).toThrow(/baseWidth must be even/);
    expect(() => build(0, { generator: { numClasses: 12 } })).toThrow(/generator.numClasses 12 differs from teacher tiny's 10 classes/);
    expect(() => build(0, { generator: { outputChannels: 1 } })).toThrow(/outputChannels 1 differs from the teacher's 3 input channels/);
    expect(() => naturalSource({ teacher: { ...teacher, inputShape: [32, 24, 3] }, batchSize: 4, labels: [0, 1, 2, 3], seed: 0 })).toThrow(
      /square images/,
    );
    expect(() => naturalSource({ batchSize: 4, labels: [0, 1, 2, 3], seed: 0 } as never)).toThrow(/teacher is required/);
  });
});
