import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { buildZooModel } from '../src/models/architectures';
import { tapNetwork } from '../src/taps';
import { movingStatistics } from '../src/taps/layer-ops';
import { expectClose } from './helpers/compare';
import { tinyTeacher } from './helpers/tiny-teacher';

/** Loss and weight gradients of a training-mode pass, through the given forward. */
function lossAndGradients(model: tfl.LayersModel, forward: (x: tf.Tensor) => tf.Tensor, images: tf.Tensor, weights: tf.Tensor) {
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  return tf.variableGrads(() => tf.sum(tf.mul(forward(images), weights)) as tf.Scalar, variables);
}

function snapshotMovingStatistics(model: tfl.LayersModel): tf.Tensor[] {
  const network = tapNetwork(model);
  return network.batchNormLayers.flatMap((name) => {
    const { mean, variance } = movingStatistics(network.layer(name));
    return [tf.clone(mean), tf.clone(variance)];
  });
}

describe.each([
  ['a conv / BatchNorm / ReLU / dense classifier', () => tinyTeacher({ seed: 3 }).model, [6, 8, 8, 3]],
  [
    'a CIFAR ResNet-20 (option-A shortcuts, residual adds)',
    () => buildZooModel('resnet20', { inputShape: [8, 8, 3], seed: 2 }),
    [2, 8, 8, 3],
  ],
] as const)('trainingForward of %s', (_, build, shape) => {
  it('gives the logits and weight gradients of the model in training mode', () => {
    const reference = build();
    const model = build();
    const images = tf.randomNormal([...shape], 0, 1, 'float32', 7);
    const outputWeights = tf.randomNormal([shape[0], model.outputs[0].shape[1] as number], 0, 1, 'float32', 8);
    const stock = lossAndGradients(reference, (x) => reference.apply(x, { training: true }) as tf.Tensor, images, outputWeights);
    const network = tapNetwork(model);
    let updates: ReturnType<typeof network.trainingForward>['batchNorm'] = [];
    const plain = lossAndGradients(
      model,
      (x) => {
        const out = network.trainingForward(x);
        updates = out.batchNorm;
        return out.logits;
      },
      images,
      outputWeights,
    );
    expectClose(plain.value, stock.value, 1e-5);
    const stockGrads = reference.trainableWeights.map((w) => stock.grads[(w.read() as tf.Variable).name]);
    model.trainableWeights.forEach((w, i) => expectClose(plain.grads[(w.read() as tf.Variable).name], stockGrads[i], 1e-4));
    expect(updates.map((u) => u.layer)).toEqual(network.batchNormLayers);
    network.updateMovingStatistics(updates);
    tf.dispose([images, outputWeights, stock.value, plain.value, ...Object.values(stock.grads), ...Object.values(plain.grads)]);
    reference.dispose();
    model.dispose();
  });

  it("updates the moving statistics PyTorch's way (layer momentum, unbiased batch variance)", () => {
    const model = build();
    const network = tapNetwork(model);
    const images = tf.randomNormal([...shape], 0, 1, 'float32', 9);
    const before = snapshotMovingStatistics(model);
    // The batch statistics each BatchNorm layer sees, from the inputs the inference pass taps.
    const forward = network.trainingForward(images);
    const expected = forward.batchNorm.map(({ layer, statistics }, i) => {
      const momentum = (network.layer(layer) as tfl.layers.Layer & { momentum: number }).momentum;
      return [
        tf.add(tf.mul(before[2 * i], momentum), tf.mul(statistics.mean, 1 - momentum)),
        tf.add(tf.mul(before[2 * i + 1], momentum), tf.mul(statistics.variance, 1 - momentum)),
      ];
    });
    // The first layer's statistics are those of its input (the same in both modes), with the unbiased variance.
    const [h, w] = [shape[1], shape[2]];
    const { input } = network.forward(images, { batchNorm: true }).batchNorm[0];
    const moments = tf.moments(input, [0, 1, 2]);
    const count = shape[0] * h * w;
    expectClose(forward.batchNorm[0].statistics.mean, moments.mean, 1e-5);
    expectClose(forward.batchNorm[0].statistics.variance, tf.mul(moments.variance, count / (count - 1)), 1e-5);
    network.updateMovingStatistics(forward.batchNorm);
    const after = snapshotMovingStatistics(model);
    expected.flat().forEach((want, i) => expectClose(after[i], want, 1e-6));
    tf.dispose([images, input, moments.mean, moments.variance, forward.logits, ...before, ...after, ...expected.flat()]);
    model.dispose();
  });
});

describe('trainingForward', () => {
  it('leaves no tensors behind', () => {
    const model = tinyTeacher({ seed: 3 }).model;
    const network = tapNetwork(model);
    const images = tf.randomNormal([6, 8, 8, 3], 0, 1, 'float32', 10);
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const step = () => {
      let updates: ReturnType<typeof network.trainingForward>['batchNorm'] = [];
      const { value, grads } = tf.variableGrads(() => {
        const out = network.trainingForward(images);
        updates = out.batchNorm;
        return tf.mean(out.logits) as tf.Scalar;
      }, variables);
      network.updateMovingStatistics(updates);
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const before = tf.memory().numTensors;
    step();
    step();
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
    model.dispose();
  });
});
