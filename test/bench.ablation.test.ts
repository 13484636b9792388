import * as tf from '@tensorflow/tfjs-core';
import { naturalInversion, SynthesizedBatch, Teacher } from '../src/node';
import { naturalSource } from '../src/sources/natural';
import type { RenderContext } from '../src/sources/types';
import { tapNetwork } from '../src/taps';
import { ablatedSource, ablationName, naturalAblation } from '../bench/ablation';
import { tinyTeacher } from './helpers/tiny-teacher';

const tinyGenerator = { latentSize: 16, baseWidth: 8 };
const small = { batchSize: 4, steps: 3, seed: 5, generator: tinyGenerator };

async function collect(batches: AsyncIterable<SynthesizedBatch>): Promise<SynthesizedBatch[]> {
  const out: SynthesizedBatch[] = [];
  for await (const batch of batches) out.push(batch);
  return out;
}

describe('NaturalInversion ablations (bench/ablation)', () => {
  let teacher: Teacher;
  beforeAll(() => {
    teacher = tinyTeacher();
  });

  test('generator + FTP + ACS is naturalInversion, image for image', async () => {
    const [reference] = await collect(naturalInversion(teacher, small));
    const [ablated] = await collect(naturalAblation(teacher, { ...small, ftp: true, acs: true }));
    expect(ablated.method).toBe('naturalInversion');
    expect(Array.from(ablated.images)).toEqual(Array.from(reference.images));
    expect(ablated.terms).toEqual(reference.terms);
  });

  test('each variant optimizes only its parts and changes the images', async () => {
    const labels = [0, 1, 2, 3];
    const variants = [
      { ftp: false, acs: false, groups: ['generator'] },
      { ftp: true, acs: false, groups: ['generator', 'ftp'] },
      { ftp: false, acs: true, groups: ['generator', 'alpha'] },
      { ftp: true, acs: true, groups: ['generator', 'ftp', 'alpha'] },
    ];
    const seen: number[][] = [];
    for (const { ftp, acs, groups } of variants) {
      const source = ablatedSource(naturalSource({ teacher, batchSize: 4, labels, seed: 3, generator: tinyGenerator }), { ftp, acs });
      expect(source.groups.map((g) => g.name)).toEqual(groups);
      expect(Array.from(source.labels ?? [])).toEqual(labels);
      const context: RenderContext = {
        augment: (x) => x,
        teacherFeatures: (x, taps) => {
          const { features } = tapNetwork(teacher.model).forward(x, { features: taps });
          return taps.map((name) => features.get(name) as tf.Tensor4D);
        },
      };
      const before = tf.memory().numTensors;
      const image = tf.tidy(() => source.render(context));
      expect(image.shape).toEqual([4, 8, 8, 3]);
      seen.push(Array.from(image.dataSync()));
      image.dispose();
      expect(tf.memory().numTensors).toBe(before);
      source.dispose();
    }
    // Four different images from the same generator.
    for (let i = 0; i < seen.length; i++) for (let j = i + 1; j < seen.length; j++) expect(seen[i]).not.toEqual(seen[j]);
    expect(variants.map((v) => ablationName(v))).toEqual(['generator', 'generator+ftp', 'generator+acs', 'naturalInversion']);
  });

  test('a variant trains end to end and leaves no tensors behind', async () => {
    await collect(naturalAblation(teacher, { ...small, steps: 1, ftp: false, acs: true })); // warm-up
    const before = tf.memory().numTensors;
    const batches = await collect(naturalAblation(teacher, { ...small, batches: 2, ftp: false, acs: false }));
    expect(batches.map((b) => [b.index, b.method])).toEqual([
      [0, 'generator'],
      [1, 'generator'],
    ]);
    expect(batches.every((b) => Number.isFinite(b.loss))).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
  });
});
