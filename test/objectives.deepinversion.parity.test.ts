import * as tf from '@tensorflow/tfjs-core';
import {
  batchNormLayerLoss,
  bnStatistics,
  crossEntropy,
  EvaluationContext,
  FeatureMaps,
  l2Prior,
  Objective,
  tapNetwork,
  totalVariation,
  weighted,
} from '../src/node';
import { expectClose, expectRelative } from './helpers/compare';
import { ParityFile } from './helpers/parity';
import { sharedTeacher } from './helpers/teachers';

// Every DeepInversion term on the teacher named in the file's metadata, in value and in its
// gradient with respect to the image. Batch size, shapes and weights come from the file.
describe('DeepInversion terms match the reference (deepinversion_terms.safetensors)', () => {
  const parity = new ParityFile('deepinversion_terms.safetensors');
  const weights = parity.meta<Record<string, number>>('weights_total');
  const terms: Record<string, () => Objective> = {
    bn: () => bnStatistics(),
    bn_first10: () => bnStatistics({ firstLayerMultiplier: 10, name: 'bn_first10' }),
    ce: () => crossEntropy(),
    tv_l2: () => totalVariation('l2'),
    tv_l1: () => totalVariation('l1'),
    l2: () => l2Prior('batch'),
    total: () => weighted(Object.entries(weights).map(([name, weight]) => [weight, terms[name]()] as const)),
  };

  function evaluate(objective: Objective, x: tf.Tensor): tf.Scalar {
    const network = tapNetwork(sharedTeacher(parity.meta<string>('model')).model);
    // Image priors never look at the teacher: skip its forward pass for them (the cpu backend is slow).
    const needsTeacher = objective.requires != null;
    const context: EvaluationContext = {
      images: x as tf.Tensor4D,
      teacher: needsTeacher
        ? network.forward(x, { batchNorm: true })
        : { logits: tf.zeros([0]), batchNorm: [], features: new FeatureMaps() },
      targets: tf.cast(parity.tensor('labels'), 'int32'),
    };
    return objective.evaluate(context);
  }

  test('per-layer BatchNorm losses, in model order', () => {
    const network = tapNetwork(sharedTeacher(parity.meta<string>('model')).model);
    expect(network.batchNormLayers).toHaveLength(parity.meta<number>('bn_layer_count'));
    const out = network.forward(parity.tensor('x'), { batchNorm: true });
    const perLayer = out.batchNorm.map((tap) => batchNormLayerLoss(tap).dataSync()[0]);
    parity.meta<number[]>('bn_per_layer').forEach((want, i) => expectRelative(perLayer[i], want, 1e-4));
  });

  test.each(Object.keys(terms))('%s: value and gradient with respect to the image', (name) => {
    const x = parity.tensor('x');
    const objective = terms[name]();
    const { value, grad } = tf.valueAndGrad((input: tf.Tensor) => evaluate(objective, input))(x);
    expectRelative(value.dataSync()[0], parity.meta<number>(name), 1e-4);
    expectClose(grad, parity.tensor(`grad_${name}`), 1e-4);
  });
});
