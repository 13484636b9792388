/**
 * Model folders natinv writes (distill's student, prune's pruned network: zoo models through
 * saveModelFolder) load with plain `tf.loadLayersModel` in a process that never imported natinv,
 * and compute the same logits there. Folders written with the old custom shortcut layer still
 * load through natinv's loader.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { pruneFilters } from '../src/apps/prune';
import { CIFAR10_CLASSES } from '../src/io/cifar';
import { loadModelFolder, loadTeacherFolder, saveModelFolder, saveTeacherFolder } from '../src/models/model-folder';
import type { Teacher } from '../src/models/teacher';
import { buildZooModel } from '../src/models';
import { OptionAShortcut } from '../src/models/option-a-shortcut';

const ROOT = path.resolve(__dirname, '..');

// Reads model.json and weights.bin by hand and loads them with tfjs alone (no natinv import).
const PLAIN_LOADER = `
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');
const [folder, inputFile] = process.argv.slice(1);
const json = JSON.parse(fs.readFileSync(path.join(folder, 'model.json'), 'utf8'));
const weights = fs.readFileSync(path.join(folder, json.weightsManifest[0].paths[0]));
tf.setBackend('cpu').then(async () => {
  const model = await tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest[0].weights,
    weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
  }));
  const input = JSON.parse(fs.readFileSync(inputFile, 'utf8'));
  const logits = model.predict(tf.tensor4d(input.data, input.shape));
  process.stdout.write(JSON.stringify(Array.from(logits.dataSync())));
});
`;

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'natinv-portable-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Logits of `model` on a fixed input, here and in a plain-tfjs child process loading `folder`. */
function logitsBothWays(model: tfl.LayersModel, folder: string): { here: number[]; plain: number[] } {
  const shape = [2, 32, 32, 3];
  const input = tf.randomNormal(shape, 0, 1, 'float32', 3);
  const inputFile = path.join(tmp, 'input.json');
  fs.writeFileSync(inputFile, JSON.stringify({ data: Array.from(input.dataSync()), shape }));
  const logits = model.predict(input) as tf.Tensor;
  const here = Array.from(logits.dataSync());
  tf.dispose([input, logits]);
  const out = execFileSync(process.execPath, ['-e', PLAIN_LOADER, folder, inputFile], {
    cwd: ROOT,
    env: { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules') },
    encoding: 'utf8',
  });
  return { here, plain: JSON.parse(out) as number[] };
}

function expectClose(a: number[], b: number[]): void {
  expect(b).toHaveLength(a.length);
  const scale = Math.max(...a.map(Math.abs));
  a.forEach((value, i) => expect(Math.abs(value - b[i])).toBeLessThan(1e-4 * scale));
}

describe('model folders load in any tfjs', () => {
  it("distill's student (a zoo ResNet-20) loads with plain tf.loadLayersModel, same logits", async () => {
    const model = buildZooModel('resnet20', { seed: 1 });
    const folder = path.join(tmp, 'student');
    await saveModelFolder(model, folder);
    const { here, plain } = logitsBothWays(model, folder);
    expectClose(here, plain);
    model.dispose();
  });

  it("prune's pruned ResNet-20 loads with plain tf.loadLayersModel, same logits", async () => {
    const model = buildZooModel('resnet20', { seed: 2 });
    const { model: pruned } = pruneFilters(model, { ratio: 0.5 });
    const folder = path.join(tmp, 'pruned');
    await saveModelFolder(pruned, folder);
    const { here, plain } = logitsBothWays(pruned, folder);
    expectClose(here, plain);
    [model, pruned].forEach((m) => m.dispose());
  });

  it('a folder written with the old natinv>OptionAShortcut layer still loads through natinv', async () => {
    const input = tfl.input({ shape: [8, 8, 4] });
    const output = new OptionAShortcut({ padChannels: 2, name: 'shortcut' }).apply(input) as tfl.SymbolicTensor;
    const pooled = tfl.layers.globalAveragePooling2d({}).apply(output) as tfl.SymbolicTensor;
    const logits = tfl.layers.dense({ units: 3 }).apply(pooled) as tfl.SymbolicTensor;
    const old = tfl.model({ inputs: input, outputs: logits });
    const folder = path.join(tmp, 'old');
    await saveModelFolder(old, folder);
    expect(fs.readFileSync(path.join(folder, 'model.json'), 'utf8')).toContain('natinv>OptionAShortcut');
    const { model } = await loadModelFolder(folder);
    expect(model.getLayer('shortcut').getClassName()).toBe('natinv>OptionAShortcut');
    expect(model.outputs[0].shape).toEqual([null, 3]);
    [old, model].forEach((m) => m.dispose());
  });
});

describe('teacher folders', () => {
  it('saveTeacherFolder then loadTeacherFolder gives the same teacher: metadata, shapes and logits', async () => {
    const model = buildZooModel('resnet20', { seed: 4 });
    const teacher: Teacher = {
      name: 'my-resnet',
      model,
      normalization: { mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3] },
      numClasses: 10,
      inputShape: [32, 32, 3],
      featureTaps: ['layer3.2', 'layer2.2'],
    };
    const folder = path.join(tmp, 'teacher');
    await saveTeacherFolder(teacher, folder, { arch: 'resnet20', classNames: CIFAR10_CLASSES });
    const { teacher: loaded, metadata } = await loadTeacherFolder(folder);
    expect(metadata).toMatchObject({ arch: 'resnet20', classNames: [...CIFAR10_CLASSES] });
    expect(loaded).toMatchObject({ name: 'my-resnet', numClasses: 10, inputShape: [32, 32, 3], featureTaps: ['layer3.2', 'layer2.2'] });
    expect(loaded.normalization).toEqual(teacher.normalization);
    const input = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 5);
    const [a, b] = [model.predict(input) as tf.Tensor, loaded.model.predict(input) as tf.Tensor];
    expectClose(Array.from(a.dataSync()), Array.from(b.dataSync()));
    tf.dispose([input, a, b]);
    [model, loaded.model].forEach((m) => m.dispose());
  });

  it('a folder without natinv metadata loads as a [0, 1]-pixel teacher named after its folder, with no taps', async () => {
    const model = buildZooModel('resnet20', { seed: 5, numClasses: 7 });
    const folder = path.join(tmp, 'plain-tfjs');
    await saveModelFolder(model, folder);
    const { teacher, metadata } = await loadTeacherFolder(path.join(folder, 'model.json'));
    expect(metadata).toBeUndefined();
    expect(teacher).toMatchObject({ name: 'plain-tfjs', numClasses: 7, inputShape: [32, 32, 3], featureTaps: [] });
    expect(teacher.normalization).toEqual({ mean: [0, 0, 0], std: [1, 1, 1] });
    [model, teacher.model].forEach((m) => m.dispose());
  });

  it('refuses a model that is not an image classifier, naming the file and the shapes', async () => {
    const input = tfl.input({ shape: [5] });
    const dense = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 3 }).apply(input) as tfl.SymbolicTensor });
    const folder = path.join(tmp, 'not-images');
    await saveModelFolder(dense, folder);
    await expect(loadTeacherFolder(folder)).rejects.toThrow(
      `${path.join(folder, 'model.json')}: natinv needs an image classifier (input [N, H, W, C], logits [N, classes]); this model takes [N, 5] and returns [N, 3].`,
    );
    dense.dispose();
  });
});
