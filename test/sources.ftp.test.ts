import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { FeatureSpec, featureSpecsFromModel, featureTransferPyramid } from '../src/sources';
import { expectClose } from './helpers/compare';
import { ParityRecord, readParityFile } from './helpers/parity';
import { expectIdentical, expectUniform } from './helpers/sources-stats';
import { sharedTeacher } from './helpers/teachers';

const spec = (name: string, channels: number, size: number): FeatureSpec => ({ name, channels, height: size, width: size });

// Deepest first, as the teachers' stage outputs on 32x32 inputs.
const RESNET20 = [spec('layer3.2', 64, 8), spec('layer2.2', 32, 16), spec('layer1.2', 16, 32)];
const RESNET34 = [spec('layer4', 512, 4), spec('layer3', 256, 8), spec('layer2', 128, 16), spec('layer1', 64, 32)];
// VGG-11-BN: the ReLU before each of its five max pools.
const VGG11 = [
  spec('features.27', 512, 2),
  spec('features.20', 512, 4),
  spec('features.13', 256, 8),
  spec('features.6', 128, 16),
  spec('features.2', 64, 32),
];

function randomTaps(features: readonly FeatureSpec[], batch: number, seed: number): tf.Tensor4D[] {
  return features.map((f, k) => tf.randomNormal([batch, f.height, f.width, f.channels], 0, 1, 'float32', seed + k) as tf.Tensor4D);
}

/**
 * The pyramid written out directly from the design notes with stock ops: upsample first, then
 * the 1x1 conv, 'same' convs (symmetric for stride 1 and odd kernels), PyTorch-layout weights.
 */
function referenceForward(p: Record<string, tf.Tensor>, g: tf.Tensor4D, taps: tf.Tensor4D[]): tf.Tensor4D {
  return tf.tidy(() => {
    const conv = (x: tf.Tensor4D, name: string) =>
      tf.add(tf.conv2d(x, tf.transpose(p[`${name}.weight`], [2, 3, 1, 0]) as tf.Tensor4D, 1, 'same'), p[`${name}.bias`]) as tf.Tensor4D;
    const up = (x: tf.Tensor4D, h: number, w: number) => tf.image.resizeNearestNeighbor(x, [h, w]);
    let o = taps[0];
    for (let k = 1; k < taps.length; k++) {
      const f = taps[k];
      o = conv(tf.add(conv(up(o, f.shape[1], f.shape[2]), `reduce.${k - 1}`), f) as tf.Tensor4D, `mix.${k - 1}`);
    }
    const r = up(conv(o, 'to_image'), g.shape[1], g.shape[2]);
    return tf.tanh(conv(tf.add(g, r) as tf.Tensor4D, 'out'));
  });
}

describe('featureTransferPyramid', () => {
  test.each([
    ['ResNet-20', RESNET20, 2],
    ['ResNet-34', RESNET34, 1],
    ['VGG-11', VGG11, 1],
  ])('%s-like specs give [B, 32, 32, 3] in (-1, 1) without leaks', (_, features, batch) => {
    const ftp = featureTransferPyramid({ features, seed: 1 });
    const n = features.length;
    expect(Object.keys(ftp.parameters)).toEqual([
      ...Array.from({ length: n - 1 }, (_, k) => [`reduce.${k}.weight`, `reduce.${k}.bias`, `mix.${k}.weight`, `mix.${k}.bias`]).flat(),
      'to_image.weight',
      'to_image.bias',
      'out.weight',
      'out.bias',
    ]);
    expect(ftp.parameters[`mix.${n - 2}.weight`].shape).toEqual([3, 3, features[n - 1].channels, features[n - 1].channels]);
    const g = tf.randomNormal([batch, 32, 32, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
    const taps = randomTaps(features, batch, 3);
    const before = tf.memory().numTensors;
    const y = ftp.forward(g, taps);
    expect(y.shape).toEqual([batch, 32, 32, 3]);
    expect(y.dataSync().every((v) => v > -1 && v < 1)).toBe(true);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([g, ...taps]);
    ftp.dispose();
  });

  test.each([
    ['three taps up to the image size', RESNET20],
    ['taps that stop at 16x16 (to_image output upsampled)', [spec('a', 8, 4), spec('b', 4, 16)]],
  ])('equals the formula written with stock ops: %s', (_, features) => {
    const ftp = featureTransferPyramid({ features, seed: 4 });
    const g = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const taps = randomTaps(features, 2, 6);
    const y = ftp.forward(g, taps);
    const pytorch = ftp.toPytorchLayout(ftp.parameters);
    const want = referenceForward(pytorch, g, taps);
    expectClose(y, want, 1e-5);
    tf.dispose([y, want, g, ...taps, ...Object.values(pytorch)]);
    ftp.dispose();
  });

  test('one tap only: no reduce/mix stages', () => {
    const single = featureTransferPyramid({ features: [spec('only', 5, 8)], imageChannels: 1, seed: 0 });
    expect(Object.keys(single.parameters)).toEqual(['to_image.weight', 'to_image.bias', 'out.weight', 'out.bias']);
    const g1 = tf.zeros([2, 16, 16, 1]) as tf.Tensor4D;
    const t1 = tf.ones([2, 8, 8, 5]) as tf.Tensor4D;
    const y = single.forward(g1, [t1]);
    expect(y.shape).toEqual([2, 16, 16, 1]);
    tf.dispose([g1, t1, y]);
    single.dispose();
  });

  test('initialization is PyTorch default: weight and bias U(+-1/sqrt(fan_in))', () => {
    const ftp = featureTransferPyramid({ features: RESNET34, seed: 11 });
    const p = ftp.parameters;
    expectUniform(p['mix.0.weight'].dataSync(), 1 / Math.sqrt(256 * 9));
    expectUniform(p['reduce.0.weight'].dataSync(), 1 / Math.sqrt(512));
    expectUniform(p['mix.2.weight'].dataSync(), 1 / Math.sqrt(64 * 9));
    // Biases, each divided by its bound 1/sqrt(fan_in), pool into one U(-1, 1) sample of 902.
    const fanIns: Record<string, number> = { 'to_image.bias': 64, 'out.bias': 3 };
    RESNET34.slice(1).forEach((f, k) => {
      fanIns[`reduce.${k}.bias`] = RESNET34[k].channels;
      fanIns[`mix.${k}.bias`] = f.channels * 9;
    });
    const scaled = Object.entries(fanIns).flatMap(([name, fanIn]) => Array.from(p[name].dataSync(), (v) => v * Math.sqrt(fanIn)));
    expect(scaled.length).toBe(902);
    expectUniform(scaled, 1);
    ftp.dispose();
  });

  test('the same seed gives identical parameters; another seed differs', () => {
    const [a, b, c] = [1, 1, 2].map((seed) => featureTransferPyramid({ features: RESNET20, seed }));
    for (const name of Object.keys(a.parameters)) expectIdentical(b.parameters[name].dataSync(), a.parameters[name].dataSync());
    expect(Array.from(c.parameters['mix.0.weight'].dataSync())).not.toEqual(Array.from(a.parameters['mix.0.weight'].dataSync()));
    [a, b, c].forEach((m) => m.dispose());
  });

  test('rejects bad specs and inputs with clear errors', () => {
    expect(() => featureTransferPyramid({ features: [], seed: 0 })).toThrow(/at least one feature spec/);
    expect(() => featureTransferPyramid({ features: [spec('a', 16, 32), spec('b', 32, 16)], seed: 0 })).toThrow(
      /b \(16x16\) is not a whole-number upscale of the previous feature a \(32x32\).*deepest \(smallest\) first/,
    );
    expect(() => featureTransferPyramid({ features: [spec('a', 16, 6), spec('b', 8, 16)], seed: 0 })).toThrow(/whole-number upscale/);
    expect(() => featureTransferPyramid({ features: [spec('a', 1.5, 8)], seed: 0 })).toThrow(/a has channels 1.5/);
    expect(() => featureTransferPyramid({ features: RESNET20, imageChannels: 0, seed: 0 })).toThrow(/imageChannels/);
    expect(() => featureTransferPyramid({ features: RESNET20 } as never)).toThrow(/seed must be an integer/);
    const ftp = featureTransferPyramid({ features: RESNET20, seed: 0 });
    const g = tf.zeros([2, 32, 32, 3]) as tf.Tensor4D;
    const taps = randomTaps(RESNET20, 2, 0);
    expect(() => ftp.forward(g, taps.slice(1))).toThrow(/expected 3 taps \(layer3.2, layer2.2, layer1.2\), got 2/);
    expect(() => ftp.forward(g, [taps[0], taps[2], taps[1]])).toThrow(/tap 1 \(layer2.2\) must be \[2,16,16,32\], got \[2,32,32,16\]/);
    const g24 = tf.zeros([2, 24, 24, 3]) as tf.Tensor4D;
    expect(() => ftp.forward(g24, taps)).toThrow(/whole-number upscale of the largest tap layer1.2/);
    const g1 = tf.zeros([2, 32, 32, 1]) as tf.Tensor4D;
    expect(() => ftp.forward(g1, taps)).toThrow(/g must be \[B, H, W, 3\]/);
    tf.dispose([g, g24, g1, ...taps]);
    ftp.dispose();
    expect(() => ftp.forward(g, taps)).toThrow(/disposed/);
  });

  describe('with the parity file weights', () => {
    let file: ParityRecord;
    let features: FeatureSpec[];
    beforeAll(() => {
      file = readParityFile('natural_inversion_step.safetensors');
      const teacher = sharedTeacher(file.metadata.model as string);
      features = featureSpecsFromModel(teacher.model, teacher.featureTaps);
    });
    afterAll(() => tf.dispose(Object.values(file.tensors)));

    test('loads ftp.* (reference names and PyTorch layouts) and round-trips them exactly', () => {
      const ftp = featureTransferPyramid({ features, seed: 0 });
      ftp.loadPytorchParameters(file.tensors, { prefix: 'ftp.' });
      const back = ftp.toPytorchLayout(ftp.parameters);
      const names = Object.keys(file.tensors)
        .filter((k) => k.startsWith('ftp.'))
        .map((k) => k.slice(4));
      expect(Object.keys(back).sort()).toEqual(names.sort());
      for (const name of names) {
        expect(back[name].shape).toEqual(file.tensors[`ftp.${name}`].shape);
        expectIdentical(back[name].dataSync(), file.tensors[`ftp.${name}`].dataSync());
      }
      // Gradients come back shaped as the file's grad.ftp.* entries.
      const g = tf.slice(file.tensors.generator_out, [0, 0, 0, 0], [2, -1, -1, -1]) as tf.Tensor4D;
      const taps = randomTaps(features, 2, 7);
      const { value, grads } = tf.variableGrads(() => tf.sum(ftp.forward(g, taps)));
      const pytorchGrads = ftp.toPytorchLayout(grads);
      for (const name of names) expect(pytorchGrads[name].shape).toEqual(file.tensors[`grad.ftp.${name}`].shape);
      tf.dispose([value, g, ...taps, ...Object.values(back), ...Object.values(grads), ...Object.values(pytorchGrads)]);
      ftp.dispose();
    });
  });
});

describe('featureSpecsFromModel', () => {
  function smallModel(): tfl.LayersModel {
    const input = tfl.input({ shape: [32, 32, 3] });
    const a = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'stage1' }).apply(input) as tfl.SymbolicTensor;
    const b = tfl.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', name: 'stage2' }).apply(a) as tfl.SymbolicTensor;
    const c = tfl.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', name: 'stage3' }).apply(b) as tfl.SymbolicTensor;
    const odd = tfl.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'valid', name: 'odd' }).apply(c) as tfl.SymbolicTensor;
    const pooled = tfl.layers.globalAveragePooling2d({ name: 'pool' }).apply(odd) as tfl.SymbolicTensor;
    const logits = tfl.layers.dense({ units: 10, name: 'fc' }).apply(pooled) as tfl.SymbolicTensor;
    return tfl.model({ inputs: input, outputs: logits, name: 'small' });
  }

  test('reads [h, w, c] of the named layers in the order given', () => {
    const model = smallModel();
    expect(featureSpecsFromModel(model, ['stage3', 'stage2', 'stage1'])).toEqual([
      { name: 'stage3', height: 8, width: 8, channels: 16 },
      { name: 'stage2', height: 16, width: 16, channels: 8 },
      { name: 'stage1', height: 32, width: 32, channels: 4 },
    ]);
    model.dispose();
  });

  test('errors name the problem', () => {
    const model = smallModel();
    expect(() => featureSpecsFromModel(model, ['stage9'])).toThrow(
      /model small has no layer named 'stage9'. Its layers are: .*stage1, stage2, stage3, odd, pool, fc/,
    );
    expect(() => featureSpecsFromModel(model, ['pool'])).toThrow(
      /layer 'pool' outputs \[null,2\]; a feature tap must be a single rank-4 map/,
    );
    expect(() => featureSpecsFromModel(model, ['odd', 'stage2'])).toThrow(
      /stage2 \(16x16\) is not a whole-number upscale of the previous feature odd \(6x6\)/,
    );
    expect(() => featureSpecsFromModel(model, ['stage1', 'stage3'])).toThrow(/deepest \(smallest\) first/);
    expect(() => featureSpecsFromModel(model, [])).toThrow(/at least one layer name/);
    model.dispose();
  });
});
