import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { parseSafetensors, serializeSafetensors, TensorData } from '../src/io/safetensors';
import { buildZooModel, exportPytorchWeights, loadPytorchWeights, WeightsMismatchError } from '../src/models';
import { loadTeacher } from '../src/node';
import { MODELS_DIR } from './helpers/shared';

const RESNET20 = path.join(MODELS_DIR, 'cifar10_resnet20.safetensors');

/** Deterministic PyTorch-layout data, the same formula as the Python side: sin(0.7 i + k). */
function fill(shape: number[], k: number): TensorData {
  const size = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', shape, data: Float32Array.from({ length: size }, (_, i) => Math.sin(0.7 * i + k)) };
}

/** Depthwise 3x3 s2 -> BN -> ReLU -> 1x1 conv with bias -> mean over H, W -> Linear: every mapped layer kind. */
function tinyModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [5, 5, 2], name: 'input' });
  let x = tfl.layers
    .zeroPadding2d({
      padding: [
        [1, 1],
        [1, 1],
      ],
      name: 'dw.pad',
    })
    .apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, useBias: false, name: 'dw' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ epsilon: 1e-5, name: 'bn' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU({ name: 'bn.relu' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({ filters: 3, kernelSize: 1, name: 'pw' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dense({ units: 4, name: 'fc' }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: x, name: 'tiny' });
}

function tinyWeights(): Record<string, TensorData> {
  const shapes: Array<[string, number[]]> = [
    ['dw.weight', [2, 1, 3, 3]],
    ['bn.weight', [2]],
    ['bn.bias', [2]],
    ['bn.running_mean', [2]],
    ['bn.running_var', [2]],
    ['pw.weight', [3, 2, 1, 1]],
    ['pw.bias', [3]],
    ['fc.weight', [4, 3]],
    ['fc.bias', [4]],
  ];
  const weights: Record<string, TensorData> = {};
  shapes.forEach(([name, shape], k) => (weights[name] = fill(shape, k)));
  const v = weights['bn.running_var'].data;
  v.forEach((value, i) => (v[i] = 1.5 + 0.5 * value));
  return weights;
}

describe('loadPytorchWeights', () => {
  test('converts conv, depthwise, BatchNorm and Linear layouts as PyTorch computes them', () => {
    const model = tinyModel();
    loadPytorchWeights(model, tinyWeights());
    const x = tf.tensor(fill([1, 5, 5, 2], 10).data, [1, 5, 5, 2]);
    const y = model.predict(x) as tf.Tensor;
    // The same module in PyTorch 2.13 (float64), weights from the same formula, NCHW input.
    const expected = [3.460350990699536, -2.83823064672724, 1.0889169198426765, 1.8016738515455004];
    Array.from(y.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 5));
    tf.dispose([x, y]);
    model.dispose();
  });

  test('exportPytorchWeights is its exact inverse', () => {
    const model = tinyModel();
    const weights = tinyWeights();
    loadPytorchWeights(model, weights);
    const exported = exportPytorchWeights(model);
    expect(Object.keys(exported).sort()).toEqual(Object.keys(weights).sort());
    for (const [name, w] of Object.entries(weights)) {
      expect(exported[name].shape).toEqual(w.shape);
      expect(exported[name].data).toEqual(w.data);
    }
    expect(exportPytorchWeights(model, { numBatchesTracked: true })['bn.num_batches_tracked']).toEqual({
      dtype: 'int32',
      shape: [],
      data: new Int32Array([0]),
    });
    model.dispose();
  });

  test('one error lists every missing, unexpected and mis-shaped tensor, and nothing is written', () => {
    const model = tinyModel();
    const before = exportPytorchWeights(model);
    const weights = tinyWeights();
    delete weights['bn.running_mean'];
    weights['extra.weight'] = fill([7], 0);
    weights['fc.weight'] = fill([5, 3], 0);
    weights['bn.num_batches_tracked'] = { dtype: 'int32', shape: [], data: new Int32Array([3]) };
    let message = '';
    let problem = '';
    try {
      loadPytorchWeights(model, weights);
    } catch (e) {
      expect(e).toBeInstanceOf(WeightsMismatchError);
      message = (e as WeightsMismatchError).message;
      problem = (e as WeightsMismatchError).problem;
    }
    // The message adds the API remedy to the problem; callers with other words for it use `problem`.
    expect(message).toBe(`${problem}; { strict: false } skips missing and unexpected tensors (never wrong shapes).`);
    expect(problem).toMatch(/Check that the architecture and numClasses match the checkpoint$/);
    expect(message).toContain('the PyTorch weights do not fit model "tiny" (3 problems)');
    expect(message).toContain('1 missing: bn.running_mean (layer bn, PyTorch shape [2])');
    expect(message).toContain('1 unexpected: extra.weight [7]');
    expect(message).toContain('1 wrong shape: fc.weight (layer fc): expected PyTorch shape [4, 3], got [5, 3]');
    expect(message).not.toContain('num_batches_tracked');
    expect(exportPytorchWeights(model)['bn.weight'].data).toEqual(before['bn.weight'].data);
    model.dispose();
  });

  test('strict: false skips missing and unexpected tensors but never wrong shapes; ignore replaces the default', () => {
    const model = tinyModel();
    const weights = tinyWeights();
    delete weights['bn.running_mean'];
    weights['extra.weight'] = fill([7], 0);
    expect(() => loadPytorchWeights(model, weights, { strict: false })).not.toThrow();
    expect(exportPytorchWeights(model)['bn.weight'].data).toEqual(weights['bn.weight'].data);
    weights['fc.weight'] = fill([5, 3], 0);
    expect(() => loadPytorchWeights(model, weights, { strict: false })).toThrow('wrong shape: fc.weight');
    const extra = { ...tinyWeights(), 'extra.weight': fill([7], 0) };
    expect(() => loadPytorchWeights(model, extra, { ignore: [/^extra\./] })).not.toThrow();
    model.dispose();
  });

  test('plain data whose length does not match its shape is reported', () => {
    const model = tinyModel();
    const weights = tinyWeights();
    weights['pw.bias'] = { dtype: 'float32', shape: [3], data: new Float32Array(2) };
    expect(() => loadPytorchWeights(model, weights)).toThrow('invalid: pw.bias: shape [3] needs 3 values, the data has 2');
    model.dispose();
  });

  test('tf.Tensor inputs are accepted and not disposed', () => {
    const model = tinyModel();
    const tensors = Object.fromEntries(Object.entries(tinyWeights()).map(([k, v]) => [k, tf.tensor(v.data, v.shape)]));
    loadPytorchWeights(model, tensors);
    expect(Object.values(tensors).every((t) => !t.isDisposed)).toBe(true);
    tf.dispose(Object.values(tensors));
    model.dispose();
  });
});

describe('loadTeacher errors', () => {
  test('a checkpoint of another depth is summarized in a few lines, with a guess at its architecture', async () => {
    const error = await loadTeacher({ arch: 'resnet32', weights: RESNET20 }).catch((e: Error) => e);
    const message = (error as Error).message;
    expect(message).toMatch(
      /^natinv: cannot load resnet32 weights from .*cifar10_resnet20\.safetensors: the PyTorch weights do not fit model "resnet32" \(60 problems\):\n {2}60 missing: layer1\.3\.conv1\.weight \(layer layer1\.3\.conv1, PyTorch shape \[16, 16, 3, 3\]\); .*; and 57 more\nThe tensor names look like resnet20 \(3 blocks per stage\)\. Check that the architecture/,
    );
    expect(message.split('\n')).toHaveLength(3);
  });

  test('the summary guesses a deeper checkpoint too', async () => {
    const resnet56 = path.join(MODELS_DIR, 'cifar10_resnet56.safetensors');
    const error = await loadTeacher({ arch: 'resnet20', weights: resnet56 }).catch((e: Error) => e);
    expect((error as Error).message).toMatch(
      /\(\d+ problems\):\n {2}\d+ unexpected: .*; and \d+ more\nThe tensor names look like resnet56 \(9 blocks per stage\)\./,
    );
  });

  test('numClasses that contradicts the checkpoint is a wrong shape', async () => {
    await expect(loadTeacher({ arch: 'resnet20', weights: RESNET20, numClasses: 100 })).rejects.toThrow(
      'wrong shape: linear.weight (layer linear): expected PyTorch shape [100, 64], got [10, 64]',
    );
  });

  test('a corrupt or truncated weights file is named in the error', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'natinv-models-'));
    const file = path.join(dir, 'truncated.safetensors');
    const bytes = fs.readFileSync(RESNET20);
    fs.writeFileSync(file, bytes.subarray(0, 5000));
    await expect(loadTeacher({ arch: 'resnet20', weights: file })).rejects.toThrow(`safetensors file ${file}`);
    await expect(loadTeacher({ arch: 'resnet20', weights: new Uint8Array([1, 2, 3]) })).rejects.toThrow('8-byte header length prefix');
    await expect(loadTeacher({ arch: 'resnet20', weights: path.join(dir, 'absent.safetensors') })).rejects.toThrow('absent.safetensors');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('an unknown architecture lists the known ones', async () => {
    await expect(loadTeacher({ arch: 'resnet21' as 'resnet20', weights: RESNET20 })).rejects.toThrow(
      'unknown architecture "resnet21"; the zoo has resnet20, resnet32, resnet44, resnet56, resnet18, resnet34, vgg11_bn, vgg16_bn, mobilenetv2.',
    );
  });
});

test('zoo weights survive export -> safetensors bytes -> loadTeacher', async () => {
  const source = buildZooModel('resnet20', { seed: 3 });
  const bytes = serializeSafetensors(exportPytorchWeights(source, { numBatchesTracked: true }));
  const teacher = await loadTeacher({ arch: 'resnet20', weights: bytes });
  expect(teacher.name).toBe('resnet20');
  const a = exportPytorchWeights(source);
  const b = exportPytorchWeights(teacher.model);
  // A plain loop: jest's toEqual walks typed arrays element by element very slowly.
  const differing = Object.keys(a).filter(
    (key) => b[key].data.length !== a[key].data.length || b[key].data.some((v, i) => v !== a[key].data[i]),
  );
  expect(differing).toEqual([]);
  expect(Object.keys(parseSafetensors(bytes).tensors)).toContain('layer1.0.bn1.num_batches_tracked');
  source.dispose();
  teacher.model.dispose();
});
