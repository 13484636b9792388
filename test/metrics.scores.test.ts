/** Improved precision/recall and the inception score on toy data with known answers. */
import { inceptionScoreFromProbabilities, precisionRecall, topOneAccuracy } from '../src/metrics';
import { Random } from '../src/util/random';

/** n points of an isotropic Gaussian blob in d dimensions around `centre`. */
function blob(n: number, d: number, centre: number, seed: number): Float64Array {
  const random = new Random(seed);
  const x = new Float64Array(n * d);
  for (let i = 0; i < x.length; i++) {
    const r = Math.sqrt(-2 * Math.log(1 - random.next()));
    x[i] = centre + r * Math.cos(2 * Math.PI * random.next());
  }
  return x;
}

function concat(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

describe('precisionRecall', () => {
  const d = 4;

  test('identical sets: precision 1, recall 1', () => {
    const x = blob(100, d, 0, 1);
    expect(precisionRecall(x, x, { dimension: d })).toEqual({ precision: 1, recall: 1 });
  });

  test('two samples of one distribution: both high', () => {
    const { precision, recall } = precisionRecall(blob(300, d, 0, 1), blob(300, d, 0, 2), { dimension: d });
    expect(precision).toBeGreaterThan(0.8);
    expect(recall).toBeGreaterThan(0.8);
  });

  test('disjoint sets: precision 0, recall 0', () => {
    expect(precisionRecall(blob(100, d, 0, 1), blob(100, d, 100, 2), { dimension: d })).toEqual({ precision: 0, recall: 0 });
  });

  test('fakes covering one of two real modes: high precision, recall about one half', () => {
    const real = concat(blob(150, d, 0, 1), blob(150, d, 50, 2));
    const fake = blob(150, d, 0, 3);
    const { precision, recall } = precisionRecall(real, fake, { dimension: d });
    expect(precision).toBeGreaterThan(0.9);
    expect(recall).toBeGreaterThan(0.35);
    expect(recall).toBeLessThanOrEqual(0.5); // the far mode is never covered
  });

  test('a larger k widens the balls', () => {
    const real = blob(200, d, 0, 1);
    const fake = blob(200, d, 1.5, 2);
    const k1 = precisionRecall(real, fake, { dimension: d, k: 1 });
    const k10 = precisionRecall(real, fake, { dimension: d, k: 10 });
    expect(k10.precision).toBeGreaterThanOrEqual(k1.precision);
    expect(k10.recall).toBeGreaterThanOrEqual(k1.recall);
  });

  test('clear errors', () => {
    expect(() => precisionRecall(blob(3, d, 0, 1), blob(10, d, 0, 2), { dimension: d })).toThrow(/real set has 3 samples.*k = 3/);
    expect(() => precisionRecall(blob(10, d, 0, 1), blob(10, d, 0, 2), { dimension: d, k: 0 })).toThrow(/k must be a positive integer/);
    expect(() => precisionRecall([[1, 2]], [[1, 2, 3]])).toThrow(/dimension 2 but fake ones 3/);
  });
});

describe('inceptionScoreFromProbabilities', () => {
  const classes = 10;

  function oneHot(count: number, classOf: (i: number) => number): Float32Array {
    const p = new Float32Array(count * classes);
    for (let i = 0; i < count; i++) p[i * classes + classOf(i)] = 1;
    return p;
  }

  test('one-hot predictions with uniform classes score the number of classes', () => {
    const score = inceptionScoreFromProbabilities(
      oneHot(100, (i) => i % classes),
      classes,
      { splits: 10 },
    );
    score.splits.forEach((s) => expect(s).toBeCloseTo(classes, 12));
    expect(score.mean).toBeCloseTo(classes, 12);
    expect(score.std).toBeLessThan(1e-12);
  });

  test('one class for every image, or uniform predictions, score 1', () => {
    expect(
      inceptionScoreFromProbabilities(
        oneHot(50, () => 3),
        classes,
        { splits: 5 },
      ).mean,
    ).toBeCloseTo(1, 12);
    expect(inceptionScoreFromProbabilities(new Float32Array(50 * classes).fill(0.1), classes, { splits: 1 }).mean).toBeCloseTo(1, 6);
  });

  test('confident predictions over half the classes score half the classes', () => {
    expect(
      inceptionScoreFromProbabilities(
        oneHot(100, (i) => i % 5),
        classes,
        { splits: 4 },
      ).mean,
    ).toBeCloseTo(5, 12);
  });

  test('uneven splits differ in size by at most one image', () => {
    const score = inceptionScoreFromProbabilities(
      oneHot(23, (i) => i % 2),
      classes,
      { splits: 3 },
    );
    expect(score.splits).toHaveLength(3);
    score.splits.forEach((s) => expect(s).toBeGreaterThan(1.9));
  });

  test('clear errors', () => {
    expect(() =>
      inceptionScoreFromProbabilities(
        oneHot(5, () => 0),
        classes,
        { splits: 10 },
      ),
    ).toThrow(/5 images cannot fill 10 splits/);
    expect(() => inceptionScoreFromProbabilities(new Float32Array(11), classes)).toThrow(/whole number of rows/);
    expect(() => inceptionScoreFromProbabilities(new Float32Array(20).fill(3), classes, { splits: 1 })).toThrow(/not logits/);
  });
});

describe('topOneAccuracy', () => {
  it('counts matches overall and per class', () => {
    const result = topOneAccuracy([0, 1, 1, 2, 0], [0, 1, 2, 2, 1], 4);
    expect(result).toEqual({
      accuracy: 3 / 5,
      correct: 3,
      total: 5,
      perClass: [
        { correct: 1, total: 1 },
        { correct: 1, total: 2 },
        { correct: 1, total: 2 },
        { correct: 0, total: 0 },
      ],
    });
  });

  it('refuses labels that are not class indices and lengths that differ, naming the caller', () => {
    expect(() => topOneAccuracy([0, 1], [0, 4], 4, 'evaluate')).toThrow('evaluate: label 4 at index 1 is not a class index in [0, 4).');
    expect(() => topOneAccuracy([0, 1, 2], [0, 1], 4)).toThrow('topOneAccuracy: 3 predictions but 2 labels');
  });
});
