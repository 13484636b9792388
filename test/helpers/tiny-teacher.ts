import * as tfl from '@tensorflow/tfjs-layers';
import { IMAGENET_NORMALIZATION, Teacher } from '../../src/node';

/**
 * A small BatchNorm classifier on 8x8 RGB images with non-trivial moving statistics, so loop
 * tests run in milliseconds on the cpu backend.
 */
export function tinyTeacher(options: { seed?: number; numClasses?: number } = {}): Teacher {
  const seed = options.seed ?? 1;
  const numClasses = options.numClasses ?? 4;
  const input = tfl.input({ shape: [8, 8, 3], name: 'input' });
  let x = tfl.layers
    .conv2d({
      filters: 6,
      kernelSize: 3,
      padding: 'same',
      useBias: false,
      name: 'conv1',
      kernelInitializer: tfl.initializers.heNormal({ seed }),
    })
    .apply(input) as tfl.SymbolicTensor;
  x = tfl.layers
    .batchNormalization({
      name: 'bn1',
      epsilon: 1e-5,
      movingMeanInitializer: tfl.initializers.constant({ value: 0.2 }),
      movingVarianceInitializer: tfl.initializers.constant({ value: 0.5 }),
    })
    .apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU({ name: 'stage1' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers
    .conv2d({
      filters: 8,
      kernelSize: 3,
      strides: 2,
      padding: 'same',
      useBias: false,
      name: 'conv2',
      kernelInitializer: tfl.initializers.heNormal({ seed: seed + 1 }),
    })
    .apply(x) as tfl.SymbolicTensor;
  x = tfl.layers
    .batchNormalization({
      name: 'bn2',
      epsilon: 1e-5,
      movingMeanInitializer: tfl.initializers.constant({ value: -0.1 }),
      movingVarianceInitializer: tfl.initializers.constant({ value: 2 }),
    })
    .apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU({ name: 'stage2' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as tfl.SymbolicTensor;
  const logits = tfl.layers
    .dense({ units: numClasses, name: 'linear', kernelInitializer: tfl.initializers.glorotNormal({ seed: seed + 2 }) })
    .apply(x) as tfl.SymbolicTensor;
  return {
    name: 'tiny',
    model: tfl.model({ inputs: input, outputs: logits, name: 'tiny' }),
    normalization: IMAGENET_NORMALIZATION,
    numClasses,
    inputShape: [8, 8, 3],
    featureTaps: ['stage2', 'stage1'],
  };
}
