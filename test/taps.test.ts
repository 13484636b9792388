import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { tapNetwork, TappedNetwork } from '../src/node';
import { expectClose } from './helpers/compare';

function smallConvNet(): tfl.Sequential {
  return tfl.sequential({
    name: 'small',
    layers: [
      tfl.layers.conv2d({
        inputShape: [6, 6, 3],
        filters: 4,
        kernelSize: 3,
        padding: 'same',
        name: 'conv',
        kernelInitializer: tfl.initializers.glorotNormal({ seed: 1 }),
      }),
      tfl.layers.batchNormalization({
        name: 'bn',
        epsilon: 1e-5,
        movingMeanInitializer: 'ones',
        movingVarianceInitializer: tfl.initializers.constant({ value: 2 }),
      }),
      tfl.layers.activation({ activation: 'relu', name: 'relu' }),
      tfl.layers.globalAveragePooling2d({ name: 'pool' }),
      tfl.layers.dense({ units: 5, name: 'head', kernelInitializer: tfl.initializers.glorotNormal({ seed: 2 }) }),
    ],
  });
}

/** A functional model that uses a nested model as one of its layers. */
function nestedNet(): tfl.LayersModel {
  const inner = smallConvNet();
  const input = tfl.input({ shape: [6, 6, 3], name: 'image' });
  const stem = tfl.layers
    .conv2d({ filters: 3, kernelSize: 1, name: 'stem', kernelInitializer: tfl.initializers.glorotNormal({ seed: 3 }) })
    .apply(input) as tfl.SymbolicTensor;
  const stemBn = tfl.layers.batchNormalization({ name: 'stem_bn' }).apply(stem) as tfl.SymbolicTensor;
  const logits = inner.apply(stemBn) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: logits, name: 'outer' });
}

describe('TappedNetwork', () => {
  let x: tf.Tensor4D;
  beforeAll(() => {
    x = tf.randomNormal([2, 6, 6, 3], 0, 1, 'float32', 7);
  });

  test('logits equal predict() and BatchNorm inputs are the conv outputs, in model order', () => {
    const model = smallConvNet();
    const network = new TappedNetwork(model);
    expect(network.batchNormLayers).toEqual(['bn']);
    const out = network.forward(x, { batchNorm: true, features: ['conv', 'relu'] });
    expectClose(out.logits, model.predict(x) as tf.Tensor, 1e-5);
    expect(out.batchNorm).toHaveLength(1);
    expect(out.batchNorm[0].layer).toBe('bn');
    expectClose(out.batchNorm[0].input, out.features.get('conv'), 0);
    expect(Array.from(out.batchNorm[0].movingMean.dataSync())).toEqual([1, 1, 1, 1]);
    expect(out.features.get('relu').shape).toEqual([2, 6, 6, 4]);
    expect([...out.features.keys()]).toEqual(['conv', 'relu']);
  });

  test('walks into nested models and names their layers outer/inner', () => {
    const model = nestedNet();
    const network = tapNetwork(model);
    expect(network.batchNormLayers).toEqual(['stem_bn', 'small/bn']);
    expect(network.layerNames).toContain('small/relu');
    const out = network.forward(x, { batchNorm: true, features: ['small/relu'] });
    expectClose(out.logits, model.predict(x) as tf.Tensor, 1e-5);
    expect(out.batchNorm.map((t) => t.layer)).toEqual(['stem_bn', 'small/bn']);
    expect(out.features.get('small/relu').shape).toEqual([2, 6, 6, 4]);
  });

  test('never updates moving statistics, even under gradient computation', () => {
    const model = smallConvNet();
    const network = tapNetwork(model);
    const before = model
      .getLayer('bn')
      .getWeights()
      .map((w) => Array.from(w.dataSync()));
    const grad = tf.grad((input: tf.Tensor) => tf.sum(network.forward(input, { batchNorm: true }).logits));
    const g = grad(x);
    expect(g.shape).toEqual(x.shape);
    expect(Number.isFinite(tf.sum(tf.abs(g)).dataSync()[0])).toBe(true);
    const after = model
      .getLayer('bn')
      .getWeights()
      .map((w) => Array.from(w.dataSync()));
    expect(after).toEqual(before);
  });

  test('gradient with respect to the input matches the layers API', () => {
    const model = smallConvNet();
    const network = tapNetwork(model);
    const ours = tf.grad((input: tf.Tensor) => tf.sum(tf.square(network.forward(input).logits)))(x);
    const reference = tf.grad((input: tf.Tensor) => tf.sum(tf.square(model.apply(input, { training: false }) as tf.Tensor)))(x);
    expectClose(ours, reference, 1e-5);
  });

  test('an unknown tap name lists the available layers', () => {
    const network = tapNetwork(smallConvNet());
    expect(() => network.forward(x, { features: ['layer9'] })).toThrow(
      "model 'small' has no layer named 'layer9'. Available layers: conv, bn, relu, pool, head.",
    );
  });

  test('a wrong input shape names expected and actual shapes, and spots NCHW', () => {
    const network = tapNetwork(smallConvNet());
    expect(() => network.forward(tf.zeros([2, 6, 6, 1]))).toThrow("model 'small' takes images of shape [N, 6, 6, 3] but got [2, 6, 6, 1].");
    expect(() => network.forward(tf.zeros([2, 3, 6, 6]))).toThrow(/channels-first \(NCHW\)/);
    expect(() => network.forward(tf.zeros([6, 6, 3]))).toThrow(/takes images of shape \[N, 6, 6, 3\]/);
  });

  test('releases every intermediate tensor', () => {
    const network = tapNetwork(smallConvNet());
    network.forward(x, { batchNorm: true }); // warm up lazily created state
    const before = tf.memory().numTensors;
    const out = network.forward(x, { batchNorm: true, features: ['relu'] });
    tf.dispose([out.logits, ...out.batchNorm.map((t) => t.input), ...out.features.values()]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
