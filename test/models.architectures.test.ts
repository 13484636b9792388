import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { buildZooModel, exportPytorchWeights, ZOO, ZOO_ARCHITECTURES, ZooArchitecture } from '../src/models';
import { OptionAShortcut, registerLegacyLayers } from '../src/models/option-a-shortcut';
import { optionAShortcut } from '../src/models/resnet-cifar';
import { deriveSeed } from '../src/util/random';

function trainableParams(model: tfl.LayersModel): number {
  return model.trainableWeights.reduce((sum, w) => sum + w.shape.reduce((p: number, d) => p * (d as number), 1), 0);
}

function outputShape(model: tfl.LayersModel, layer: string): Array<number | null> {
  return (model.getLayer(layer).output as tfl.SymbolicTensor).shape;
}

/**
 * From the upstream PyTorch definitions (akamaster's resnet.py, kuangliu's resnet.py / vgg.py /
 * mobilenetv2.py), torch 2.13, 10 classes:
 * - params: sum(p.numel() for p in model.parameters()); BatchNorm running statistics are buffers,
 *   as tfjs' non-trainable weights. By hand for ResNet-20: conv1 432 + bn1 32 +
 *   layer1 3 x (2 x 2304 + 64) + layer2 (4608 + 9216 + 128) + 2 x (2 x 9216 + 128) +
 *   layer3 (18432 + 36864 + 256) + 2 x (2 x 36864 + 256) + linear 650 = 269,722;
 * - stateDict: a fingerprint of the state_dict without num_batches_tracked: deriveSeed over the
 *   sorted `name:shape` strings (e.g. `layer1.0.conv1.weight:16x16x3x3`), so every PyTorch name
 *   and shape must come out of exportPytorchWeights exactly.
 */
const PYTORCH: Record<ZooArchitecture, { params: number; entries: number; stateDict: number }> = {
  resnet20: { params: 269_722, entries: 97, stateDict: 377682984 },
  resnet32: { params: 464_154, entries: 157, stateDict: 1977458065 },
  resnet44: { params: 658_586, entries: 217, stateDict: 529641256 },
  resnet56: { params: 853_018, entries: 277, stateDict: 1729413238 },
  resnet18: { params: 11_173_962, entries: 102, stateDict: 2827809107 },
  resnet34: { params: 21_282_122, entries: 182, stateDict: 2674815242 },
  vgg11_bn: { params: 9_231_114, entries: 50, stateDict: 3956881351 },
  vgg16_bn: { params: 14_728_266, entries: 80, stateDict: 1868252788 },
  mobilenetv2: { params: 2_296_922, entries: 287, stateDict: 3282323560 },
};

describe.each(ZOO_ARCHITECTURES)('%s', (arch) => {
  test('has the PyTorch parameter count, state_dict names and shapes, [B, classes] logits and its taps', () => {
    const model = buildZooModel(arch, { seed: 0 });
    const expected = PYTORCH[arch];
    expect(trainableParams(model)).toBe(expected.params);
    expect(model.inputs[0].shape).toEqual([null, 32, 32, 3]);
    expect(model.getLayer('input').getClassName()).toBe('InputLayer');
    expect(model.outputs[0].shape).toEqual([null, 10]);
    const exported = exportPytorchWeights(model);
    const keys = Object.keys(exported).sort();
    expect(keys.length).toBe(expected.entries);
    expect(deriveSeed(...keys.map((k) => `${k}:${exported[k].shape.join('x')}`))).toBe(expected.stateDict);
    for (const tap of ZOO[arch].featureTaps) expect(() => model.getLayer(tap)).not.toThrow();
    // A real forward pass: every architecture off the pure-JS cpu backend, only the cheapest on it
    // (MobileNetV2 alone takes ~5 s there; its depthwise mapping is checked on a tiny model).
    if (tf.getBackend() !== 'cpu' || arch === 'resnet20') {
      const y = tf.tidy(() => model.predict(tf.zeros([2, 32, 32, 3])) as tf.Tensor);
      expect(y.shape).toEqual([2, 10]);
      y.dispose();
    }
    model.dispose();
  });
});

test('feature taps are one output per stage, deepest first', () => {
  const shapesOf = (arch: ZooArchitecture) => {
    const model = buildZooModel(arch, { seed: 0 });
    const shapes = ZOO[arch].featureTaps.map((t) => outputShape(model, t).slice(1));
    model.dispose();
    return shapes;
  };
  expect(ZOO.resnet20.featureTaps).toEqual(['layer3.2', 'layer2.2', 'layer1.2']);
  expect(ZOO.resnet56.featureTaps).toEqual(['layer3.8', 'layer2.8', 'layer1.8']);
  expect(ZOO.resnet18.featureTaps).toEqual(['layer4.1', 'layer3.1', 'layer2.1', 'layer1.1']);
  expect(ZOO.resnet34.featureTaps).toEqual(['layer4.2', 'layer3.5', 'layer2.3', 'layer1.2']);
  expect(ZOO.vgg11_bn.featureTaps).toEqual(['features.27', 'features.20', 'features.13', 'features.6', 'features.2']);
  expect(ZOO.vgg16_bn.featureTaps).toEqual(['features.42', 'features.32', 'features.22', 'features.12', 'features.5']);
  expect(ZOO.mobilenetv2.featureTaps).toEqual(['layers.16', 'layers.12', 'layers.5', 'layers.2']);
  expect(shapesOf('resnet20')).toEqual([
    [8, 8, 64],
    [16, 16, 32],
    [32, 32, 16],
  ]);
  expect(shapesOf('vgg11_bn')).toEqual([
    [2, 2, 512],
    [4, 4, 512],
    [8, 8, 256],
    [16, 16, 128],
    [32, 32, 64],
  ]);
  expect(shapesOf('mobilenetv2')).toEqual([
    [4, 4, 320],
    [8, 8, 96],
    [16, 16, 32],
    [32, 32, 24],
  ]);
});

test('layers carry PyTorch module names', () => {
  const model = buildZooModel('mobilenetv2', { seed: 0 });
  const names = new Set(model.layers.map((l) => l.name));
  for (const n of [
    'conv1',
    'bn1',
    'layers.0.conv1',
    'layers.0.shortcut.0',
    'layers.0.shortcut.1',
    'layers.3.conv2',
    'layers.3.bn3',
    'conv2',
    'bn2',
    'linear',
  ]) {
    expect(names.has(n)).toBe(true);
  }
  expect(model.getLayer('layers.3.conv2').getClassName()).toBe('DepthwiseConv2D');
  model.dispose();
  const resnet = buildZooModel('resnet20', { seed: 0 });
  // Standard layers only: the option-A shortcut is a 1x1 stride-2 average pool, then a channel pad.
  expect(resnet.getLayer('layer2.0.shortcut.subsample').getClassName()).toBe('AveragePooling2D');
  expect(resnet.getLayer('layer2.0.shortcut.pad').getClassName()).toBe('ZeroPadding2D');
  expect(resnet.getLayer('layer2.0.shortcut').getClassName()).toBe('Permute');
  expect(resnet.layers.filter((l) => l.getClassName().includes('>'))).toEqual([]);
  expect(resnet.getLayer('layer1.2').getClassName()).toBe('ReLU');
  expect(resnet.getLayer('layer1.2.add').getClassName()).toBe('Add');
  expect(resnet.getLayer('layer2.0.conv1.pad').getClassName()).toBe('ZeroPadding2D');
  expect(Object.keys(exportPytorchWeights(resnet)).slice(0, 5)).toEqual([
    'conv1.weight',
    'bn1.weight',
    'bn1.bias',
    'bn1.running_mean',
    'bn1.running_var',
  ]);
  resnet.dispose();
});

test('numClasses, inputShape and seed', () => {
  const a = buildZooModel('resnet20', { seed: 7, numClasses: 100, inputShape: [33, 33, 3] });
  expect(trainableParams(a)).toBe(275_572); // PyTorch, 100 classes
  expect(outputShape(a, 'layer2.2')).toEqual([null, 17, 17, 32]); // PyTorch: x[:, :, ::2, ::2] keeps ceil(33 / 2)
  const x = tf.randomNormal([1, 33, 33, 3], 0, 1, 'float32', 1);
  const y = a.predict(x) as tf.Tensor;
  expect(y.shape).toEqual([1, 100]);
  const b = buildZooModel('resnet20', { seed: 7, numClasses: 100, inputShape: [33, 33, 3] });
  const c = buildZooModel('resnet20', { seed: 8, numClasses: 100, inputShape: [33, 33, 3] });
  const first = (m: tfl.LayersModel) => m.getLayer('layer3.0.conv2').getWeights()[0];
  expect(tf.max(tf.abs(tf.sub(first(a), first(b)))).dataSync()[0]).toBe(0);
  expect(tf.max(tf.abs(tf.sub(first(a), first(c)))).dataSync()[0]).toBeGreaterThan(0);
  // kaiming_normal_ (fan_in): std sqrt(2 / (64 * 9)) = 0.0589
  const std = Math.sqrt(tf.moments(first(a)).variance.dataSync()[0]);
  expect(std).toBeGreaterThan(0.0589 * 0.95);
  expect(std).toBeLessThan(0.0589 * 1.05);
  tf.dispose([x, y]);
  [a, b, c].forEach((m) => m.dispose());
  expect(() => buildZooModel('resnet20', { numClasses: 0 })).toThrow('numClasses must be a positive integer, got 0.');
  expect(() => buildZooModel('resnet20', { inputShape: [32, 32] as unknown as [number, number, number] })).toThrow(
    'inputShape is [height, width, channels] (NHWC without the batch), got [32, 32].',
  );
});

describe.each([
  ['optionAShortcut (standard layers)', (padChannels: number) => standardShortcut(padChannels)],
  ['OptionAShortcut (the legacy custom layer)', (padChannels: number) => new OptionAShortcut({ padChannels })],
])('%s', (_, make) => {
  test('takes x[:, ::2, ::2] and zero-pads channels on both sides, with a gradient', () => {
    const x = tf.tensor4d(
      Array.from({ length: 2 * 3 * 3 * 2 }, (_, i) => i),
      [2, 3, 3, 2],
    );
    const layer = make(1);
    const y = layer.apply(x) as tf.Tensor;
    expect(y.shape).toEqual([2, 2, 2, 4]);
    // image 1, row 2, column 0: element offset 18 + (2 * 3 + 0) * 2 = 30
    expect(Array.from(tf.slice(y, [1, 1, 0, 0], [1, 1, 1, 4]).dataSync())).toEqual([0, 30, 31, 0]);
    const g = tf.grad((v: tf.Tensor) => tf.sum(layer.apply(v) as tf.Tensor))(x);
    expect(Array.from(tf.slice(g, [0, 0, 0, 0], [1, 1, 2, 2]).dataSync())).toEqual([1, 1, 0, 0]);
    tf.dispose([x, y, g]);
  });
});

/** The standard-layer shortcut as one model, so it applies to a tensor like a layer. */
function standardShortcut(padChannels: number): tfl.LayersModel {
  const input = tfl.input({ shape: [null, null, 2] });
  return tfl.model({ inputs: input, outputs: optionAShortcut(input, padChannels, 'sc') });
}

describe('the legacy OptionAShortcut layer', () => {
  test('survives model serialization once registered', async () => {
    registerLegacyLayers();
    const input = tfl.input({ shape: [4, 4, 8] });
    const output = new OptionAShortcut({ padChannels: 2, name: 'sc' }).apply(input) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: output });
    const restored = await tfl.models.modelFromJSON({ modelTopology: model.toJSON(undefined, false) as tf.io.ModelJSON['modelTopology'] });
    expect(restored.getLayer('sc').getClassName()).toBe('natinv>OptionAShortcut');
    expect(restored.outputs[0].shape).toEqual([null, 2, 2, 12]);
  });
});
