import * as tf from '@tensorflow/tfjs-core';
import { bnStatistics, crossEntropy, l2Prior, tapNetwork, totalVariation, weighted } from '../src/node';
import { tinyTeacher } from './helpers/tiny-teacher';

// The full DeepInversion objective on a small BatchNorm teacher (ResNet-20 would make 100
// gradient evaluations take minutes on the pure-JS backend; the code path is the same).
test('100 evaluations of the full DI objective with gradients leak no tensors', () => {
  const teacher = tinyTeacher();
  const network = tapNetwork(teacher.model);
  const objective = weighted([
    [1, crossEntropy()],
    [10, bnStatistics()],
    [2.5e-5, totalVariation('l2')],
    [3e-8, l2Prior()],
  ]);
  const x = tf.randomNormal([4, 8, 8, 3], 0, 1, 'float32', 3);
  const targets = tf.tensor1d([0, 1, 2, 3], 'int32');
  const evaluateWithGradient = () =>
    tf.dispose(
      tf.grad((images: tf.Tensor) =>
        objective.evaluate({ images: images as tf.Tensor4D, teacher: network.forward(images, { batchNorm: true }), targets }),
      )(x),
    );
  evaluateWithGradient();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 100; i++) evaluateWithGradient();
  expect(tf.memory().numTensors).toBe(before);
});
