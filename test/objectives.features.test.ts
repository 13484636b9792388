import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { crossEntropy, Objective, pixels, StepReport, synthesize, Teacher, weighted } from '../src/node';
import { tinyTeacher } from './helpers/tiny-teacher';

/** A term that reads one layer's output by name: the mean of its square. */
function energyOf(layer: string): Objective {
  return {
    name: `energy_${layer}`,
    requires: { features: [layer] },
    evaluate: ({ teacher }) => tf.mean(tf.square(teacher.features.get(layer))) as tf.Scalar,
  };
}

/** The same value computed with the layers API, independently of natinv's tapped forward pass. */
function expectedEnergy(teacher: Teacher, layer: string, images: tf.Tensor): number {
  return tf.tidy(() => {
    const truncated = tfl.model({ inputs: teacher.model.inputs, outputs: teacher.model.getLayer(layer).output });
    return tf.mean(tf.square(truncated.predict(images) as tf.Tensor)).dataSync()[0];
  });
}

/** Runs one step of `terms` on fixed pixels; returns that step's reported term values. */
async function firstStepTerms(teacher: Teacher, terms: ReadonlyArray<readonly [number, Objective]>) {
  const source = pixels({ batchSize: 4, imageShape: [8, 8, 3], seed: 5 });
  const images = tf.clone(source.pixels);
  const reports: StepReport[] = [];
  try {
    const result = await synthesize({
      teacher,
      source,
      objective: weighted(terms),
      steps: 1,
      targets: [0, 1, 2, 3],
      onStep: (r) => void reports.push(r),
    });
    result.images.dispose();
    return { terms: reports[0].terms, images };
  } finally {
    source.dispose();
  }
}

describe('objectives read the teacher features by name', () => {
  let teacher: Teacher;
  beforeAll(() => {
    teacher = tinyTeacher();
  });

  test('two custom terms on different layers each get their own layer, in either order', async () => {
    for (const order of [
      ['stage1', 'stage2'],
      ['stage2', 'stage1'],
    ]) {
      const { terms, images } = await firstStepTerms(teacher, [
        [1, crossEntropy()],
        ...order.map((layer) => [0.5, energyOf(layer)] as const),
      ]);
      const stage1 = expectedEnergy(teacher, 'stage1', images);
      const stage2 = expectedEnergy(teacher, 'stage2', images);
      images.dispose();
      // The layers differ in value, so reading the other term's tensor could not pass.
      expect(Math.abs(stage1 - stage2)).toBeGreaterThan(0.01 * Math.max(stage1, stage2));
      expect(terms.energy_stage1).toBeCloseTo(stage1, 5);
      expect(terms.energy_stage2).toBeCloseTo(stage2, 5);
    }
  });

  test('reading a layer the objective did not request is a clear error', async () => {
    const sneaky: Objective = {
      name: 'sneaky',
      requires: { features: ['stage2'] },
      evaluate: ({ teacher }) => tf.mean(teacher.features.get('stage1')) as tf.Scalar,
    };
    const source = pixels({ batchSize: 4, imageShape: [8, 8, 3], seed: 5 });
    await expect(synthesize({ teacher, source, objective: sneaky, steps: 1 })).rejects.toThrow(
      "the forward pass did not tap layer 'stage1' (tapped: stage2). List it in the objective's requires.features",
    );
    source.dispose();
  });
});
