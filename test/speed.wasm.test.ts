import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  bnStatistics,
  buildZooModel,
  crossEntropy,
  deepInversion,
  loadTeacher,
  naturalInversion,
  StepReport,
  tapNetwork,
  Teacher,
  totalVariation,
  useBackend,
  weighted,
} from '../src/node';
import { expectClose } from './helpers/compare';
import { MODELS_DIR } from './helpers/shared';

// The browser backend runs the whole DeepInversion and NaturalInversion steps, and computes what
// the cpu backend computes. Both backends live in this one process; each run builds its own
// teacher and source from the same seeds on the backend being tested.
//
// Tolerance: 1e-5 relative for the loss and every term at every step. The two backends differ
// only in float32 summation order and conv algorithms; measured here, the losses of three DI and
// three NI steps agree to 3.5e-7 and every term to 1e-6. Steps 2 and 3 start from the parameters
// the earlier updates produced, so they also check the gradients' signs and rough sizes (Adam's
// first updates are lr * sign(gradient) where the gradient is not tiny); precise gradients are
// checked by the parity suite on each backend and by the depthwise tests below.

const STEPS = 3;
const TOLERANCE = 1e-5;

type Run = { loss: number[]; terms: Array<Record<string, number>>; liveTensors: number[] };

async function resnet20(): Promise<Teacher> {
  return loadTeacher({ arch: 'resnet20', weights: path.join(MODELS_DIR, 'cifar10_resnet20.safetensors') });
}

/** Per-step losses of a few DI and NI steps with the CIFAR presets on the active backend. */
async function runMethods(): Promise<{ di: Run; ni: Run }> {
  const teacher = await resnet20();
  const record = (run: Run) => (report: StepReport) => {
    run.loss.push(report.loss);
    run.terms.push({ ...report.terms });
    run.liveTensors.push(tf.memory().numTensors);
  };
  const di: Run = { loss: [], terms: [], liveTensors: [] };
  const ni: Run = { loss: [], terms: [], liveTensors: [] };
  try {
    for await (const batch of deepInversion(teacher, { batchSize: 4, steps: STEPS, seed: 3, onStep: record(di) })) void batch;
    const generator = { latentSize: 32, baseWidth: 16 };
    for await (const batch of naturalInversion(teacher, { batchSize: 4, steps: STEPS, seed: 3, generator, onStep: record(ni) })) void batch;
  } finally {
    teacher.model.dispose();
  }
  return { di, ni };
}

function expectSameRun(wasm: Run, cpu: Run): void {
  expect(wasm.loss).toHaveLength(STEPS);
  // Zero tensor growth per step on wasm too (test/speed.growth.test.ts covers the active backend).
  expect(wasm.liveTensors).toEqual(wasm.liveTensors.map(() => wasm.liveTensors[0]));
  wasm.loss.forEach((loss, step) => {
    expect(Math.abs(loss - cpu.loss[step]) / Math.abs(cpu.loss[step])).toBeLessThan(TOLERANCE);
    for (const [name, value] of Object.entries(cpu.terms[step])) {
      expect(Math.abs(wasm.terms[step][name] - value)).toBeLessThanOrEqual(TOLERANCE * Math.max(Math.abs(value), 1e-3));
    }
  });
}

/** Depthwise layers at stride 1 and 2, 'same' (TF's asymmetric padding at stride 2) and 'valid'. */
function depthwiseNet(): tfl.LayersModel {
  const input = tfl.input({ shape: [9, 10, 4], name: 'image' });
  let x = input;
  const layers: Array<[number, 'same' | 'valid', number]> = [
    [2, 'same', 3],
    [1, 'same', 3],
    [2, 'valid', 3],
    [1, 'valid', 1],
  ];
  layers.forEach(([strides, padding, kernelSize], i) => {
    x = tfl.layers
      .depthwiseConv2d({
        kernelSize,
        strides,
        padding,
        name: `dw${i}`,
        depthwiseInitializer: tfl.initializers.glorotNormal({ seed: i + 1 }),
      })
      .apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.batchNormalization({ name: `bn${i}`, epsilon: 1e-5 }).apply(x) as tfl.SymbolicTensor;
  });
  const pooled = tfl.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as tfl.SymbolicTensor;
  const logits = tfl.layers.dense({ units: 3, name: 'head', kernelInitializer: tfl.initializers.glorotNormal({ seed: 9 }) }).apply(pooled);
  return tfl.model({ inputs: input, outputs: logits as tfl.SymbolicTensor, name: 'dw' });
}

/** The DI objective and its image gradient through `model` on the active backend. */
function diGradient(
  model: tfl.LayersModel,
  images: Float32Array,
  shape: number[],
  labels: number[],
): { loss: number; gradient: Float32Array } {
  return tf.tidy(() => {
    const network = tapNetwork(model);
    const objective = weighted([
      [1, crossEntropy()],
      [10, bnStatistics()],
      [2.5e-5, totalVariation('l2')],
    ]);
    const targets = tf.tensor1d(labels, 'int32');
    const x = tf.tensor(images, shape);
    const { value, grad } = tf.valueAndGrad((input: tf.Tensor) =>
      objective.evaluate({ images: input as tf.Tensor4D, teacher: network.forward(input, { batchNorm: true }), targets }),
    )(x);
    return { loss: value.dataSync()[0], gradient: grad.dataSync() as Float32Array };
  });
}

/** diGradient on cpu, then on wasm, each with its own copy of the model built there. */
async function onBothBackends(build: () => tfl.LayersModel, shape: number[], labels: number[]) {
  await useBackend('cpu');
  const images = tf.tidy(() => tf.randomNormal(shape, 0, 1, 'float32', 11).dataSync() as Float32Array);
  const losses: number[] = [];
  const gradients: Float32Array[] = [];
  for (const backend of ['cpu', 'wasm'] as const) {
    await useBackend(backend);
    const model = build();
    const { loss, gradient } = diGradient(model, images, shape, labels);
    losses.push(loss);
    gradients.push(gradient);
    model.dispose();
  }
  return { losses, gradients };
}

describe('wasm backend', () => {
  let original: string;
  beforeAll(() => {
    original = tf.getBackend();
  });
  afterAll(async () => {
    await tf.setBackend(original);
  });

  test('DI and NI steps on wasm match the cpu backend step by step, with no tensor growth', async () => {
    await useBackend('cpu');
    const cpu = await runMethods();
    await useBackend('wasm');
    const wasm = await runMethods();
    expectSameRun(wasm.di, cpu.di);
    expectSameRun(wasm.ni, cpu.ni);
  }, 600_000);

  // wasm has no DepthwiseConv2dNativeBackpropInput; natinv's taps compute it with forward
  // depthwise convolutions there (src/taps/layer-ops.ts).
  test('depthwise layers at stride 1 and 2: the DI image gradient on wasm equals the cpu one', async () => {
    const shape = [2, 9, 10, 4];
    const { losses, gradients } = await onBothBackends(depthwiseNet, shape, [0, 2]);
    expect(Math.abs(losses[1] - losses[0]) / losses[0]).toBeLessThan(1e-5);
    expectClose(tf.tensor(gradients[1]), gradients[0], 1e-5);
  }, 300_000);

  // MobileNetV2 with random weights at batch 2 is ill-conditioned: on the cpu backend alone, a
  // 1e-6 relative perturbation of the images moves the DI gradient by 4.6e-3 of its largest
  // entry, and the backends' float32 forward passes differ by ~1e-6. So the gradient is compared
  // at 5e-2 of its largest entry (measured 8e-3), which still catches a misplaced or unflipped
  // kernel (errors of order one); the loss itself agrees to 1e-5.
  test('MobileNetV2: the DI step runs on wasm and its loss and gradient agree with cpu', async () => {
    const shape = [2, 32, 32, 3];
    const { losses, gradients } = await onBothBackends(() => buildZooModel('mobilenetv2', { seed: 0 }), shape, [1, 7]);
    expect(Math.abs(losses[1] - losses[0]) / losses[0]).toBeLessThan(1e-5);
    expectClose(tf.tensor(gradients[1]), gradients[0], 5e-2);
  }, 300_000);
});
