import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  bnStatistics,
  competition,
  crossEntropy,
  EvaluationContext,
  pixels,
  synthesize,
  tapNetwork,
  totalVariation,
  weighted,
} from '../src/node';
import { tinyTeacher } from './helpers/tiny-teacher';

function noBatchNormModel(): tfl.LayersModel {
  return tfl.sequential({
    name: 'plain',
    layers: [
      tfl.layers.conv2d({ inputShape: [8, 8, 3], filters: 2, kernelSize: 3, name: 'conv' }),
      tfl.layers.flatten({ name: 'flat' }),
      tfl.layers.dense({ units: 3, name: 'head' }),
    ],
  });
}

describe('objective errors', () => {
  test('bnStatistics on a model with no BatchNormalization layer', () => {
    expect(() => bnStatistics().prepare!(tapNetwork(noBatchNormModel()))).toThrow(
      "bn: model 'plain' has no BatchNormalization layer, so there are no statistics to match. " +
        'Use a teacher trained with BatchNorm, or leave bnStatistics out of the objective.',
    );
  });

  test('synthesize refuses bnStatistics for such a teacher before the first step', async () => {
    const teacher = { ...tinyTeacher(), name: 'plain', model: noBatchNormModel(), numClasses: 3 };
    const source = pixels({ batchSize: 2, imageShape: [8, 8, 3], seed: 0 });
    await expect(
      synthesize({
        teacher,
        source,
        steps: 1,
        targets: [0, 1],
        objective: weighted([
          [1, crossEntropy()],
          [10, bnStatistics()],
        ]),
      }),
    ).rejects.toThrow(/has no BatchNormalization layer/);
    source.dispose();
  });

  test('bnStatistics with a layer that is not a BatchNorm layer lists the real ones', () => {
    expect(() => bnStatistics({ layers: ['conv1'] }).prepare!(tapNetwork(tinyTeacher().model))).toThrow(
      "bn: 'conv1' is not a BatchNormalization layer of model 'tiny'. Its BatchNorm layers are: bn1, bn2.",
    );
  });

  test('terms that need targets or a student say so', () => {
    const teacher = tinyTeacher();
    const images = tf.zeros([2, 8, 8, 3]) as tf.Tensor4D;
    const context: EvaluationContext = { images, teacher: tapNetwork(teacher.model).forward(images) };
    expect(() => crossEntropy().evaluate(context)).toThrow('ce: cross-entropy needs target labels, and this evaluation has none.');
    expect(() => competition().evaluate(context)).toThrow(
      'competition: this term compares a student with the teacher, and this evaluation has no student.',
    );
  });

  test('weighted sums refuse duplicate names, non-finite weights and all-zero weights', () => {
    expect(() =>
      weighted([
        [1, totalVariation('l2')],
        [2, totalVariation('l2')],
      ]),
    ).toThrow("weighted: two terms are named 'tv_l2'; give one a different name option.");
    expect(() => weighted([[NaN, crossEntropy()]])).toThrow("weighted: the weight of term 'ce' is NaN; weights must be finite numbers.");
    expect(() => weighted([[0, crossEntropy()]])).toThrow('weighted: the objective has no term with a non-zero weight.');
    expect(() => totalVariation('l3' as 'l2')).toThrow("totalVariation: form must be 'l1' or 'l2', got 'l3'.");
  });
});
