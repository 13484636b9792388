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
import { loadModelFolder, saveModelFolder } from '../src/cli/model-folder';
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
