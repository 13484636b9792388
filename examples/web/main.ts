/**
 * The web demo: invert a classifier in the browser with natinv's platform-neutral entry, watching
 * the batch form. Built by examples/web/build.ts; `npm run demo:web` serves it.
 */
import '@tensorflow/tfjs'; // gradients, tfjs-layers, and the cpu and webgl backends
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  BUNDLED_TEACHERS,
  CIFAR10_CLASSES,
  deepInversion,
  encodePng,
  fastInversion,
  imageGrid,
  loadTeacher,
  naturalInversion,
  oneToOneLabels,
  serializeSafetensors,
  StepReport,
  SynthesizedBatch,
  Teacher,
  ZOO,
  ZOO_ARCHITECTURES,
  ZooArchitecture,
} from '../../src';
import { drawChart, LossHistory } from './chart';

setWasmPaths('wasm/');

/** Backends in order of preference; the first that starts here is the default. */
const BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
type Method = 'deepInversion' | 'naturalInversion' | 'fastInversion';
/** Redraw the grid every this many steps (and at the end). */
const GRID_EVERY = 5;
const GRID_SCALE = 2;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

/** What the page shows and the browser tests read (window.natinvDemo.state). */
interface DemoState {
  backend: string;
  running: boolean;
  step: number;
  steps: number;
  history: LossHistory;
  /** tf.memory().numTensors after every step. */
  liveTensors: number[];
  /** How many times the grid was drawn. */
  gridDraws: number;
  chartDraws: number;
  imagesPerSecond: number;
  error?: string;
  /** The kept (best-loss) images in [0, 1], NHWC, and their targets. */
  best?: { images01: Float32Array; shape: [number, number, number, number]; targets: Int32Array };
}

const state: DemoState = {
  backend: '',
  running: false,
  step: 0,
  steps: 0,
  history: { loss: [], terms: {}, msPerStep: 0 },
  liveTensors: [],
  gridDraws: 0,
  chartDraws: 0,
  imagesPerSecond: 0,
};
let controller: AbortController | undefined;
let teacher: Teacher | undefined;
let teacherKey = '';

async function hasWebGpuAdapter(): Promise<boolean> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  return gpu != null && (await gpu.requestAdapter().catch(() => null)) != null;
}

async function useBackend(name: string): Promise<void> {
  if (name === 'webgpu' && !(await hasWebGpuAdapter())) throw new Error('this browser offers no WebGPU adapter');
  if (!(await tf.setBackend(name))) throw new Error(`tfjs could not start ${name} here`);
  await tf.ready();
  state.backend = name;
  $<HTMLSelectElement>('backend').value = name;
}

/** The first backend of BACKENDS that starts: webgpu > webgl > wasm > cpu. */
async function chooseBackend(): Promise<void> {
  for (const name of BACKENDS) {
    try {
      await useBackend(name);
      return;
    } catch {
      // Try the next one.
    }
  }
  throw new Error('no tfjs backend starts in this browser');
}

function parseNumbers(text: string, what: string): number[] {
  const values = text.split(',').map((v) => Number(v.trim()));
  if (values.length !== 3 || values.some((v) => !Number.isFinite(v))) throw new Error(`${what} needs three numbers, e.g. 0.5,0.5,0.5`);
  return values;
}

async function fileBytes(file: File): Promise<Uint8Array> {
  return new Uint8Array(await file.arrayBuffer());
}

/** The teacher the form asks for, on the active backend (rebuilt when the form or backend changes). */
async function currentTeacher(): Promise<Teacher> {
  const kind = (document.querySelector('input[name="teacher"]:checked') as HTMLInputElement).value;
  const files = Array.from($<HTMLInputElement>('teacher-files').files ?? []);
  const arch = $<HTMLSelectElement>('arch').value as ZooArchitecture;
  const normalization = {
    mean: parseNumbers($<HTMLInputElement>('mean').value, 'mean'),
    std: parseNumbers($<HTMLInputElement>('std').value, 'std'),
  };
  const key = [kind, state.backend, arch, ...files.map((f) => `${f.name}:${f.size}`), normalization.mean, normalization.std].join('|');
  if (teacher != null && key === teacherKey) return teacher;
  teacher?.model.dispose();
  teacher = undefined;
  if (kind === 'bundled') {
    const info = BUNDLED_TEACHERS['cifar10-resnet20'];
    const response = await fetch(`assets/${info.file}`);
    if (!response.ok) throw new Error(`GET assets/${info.file}: ${response.status}`);
    const weights = new Uint8Array(await response.arrayBuffer());
    teacher = await loadTeacher({
      arch: info.arch,
      weights,
      numClasses: info.numClasses,
      normalization: info.normalization,
      name: 'cifar10-resnet20',
    });
  } else if (kind === 'safetensors') {
    const file = files.find((f) => f.name.endsWith('.safetensors'));
    if (file == null) throw new Error('choose a .safetensors file (a PyTorch state_dict) for your teacher');
    teacher = await loadTeacher({ arch, weights: await fileBytes(file), normalization, name: file.name.replace(/\.safetensors$/, '') });
  } else {
    const json = files.find((f) => f.name.endsWith('.json'));
    if (json == null) throw new Error("choose your model folder's model.json together with its .bin weight files");
    const model = await tfl.loadLayersModel(tf.io.browserFiles([json, ...files.filter((f) => f !== json)]));
    model.trainable = false;
    const [, height, width, channels] = model.inputs[0].shape as number[];
    const numClasses = (model.outputs[0].shape as number[])[1];
    teacher = {
      name: model.name,
      model,
      normalization,
      numClasses,
      inputShape: [height, width, channels],
      // NaturalInversion's pyramid taps: the zoo's, when the folder holds a zoo architecture.
      featureTaps:
        ZOO_ARCHITECTURES.map((a) => ZOO[a].featureTaps).find((taps) => taps.every((t) => model.layers.some((l) => l.name === t))) ?? [],
    };
  }
  teacherKey = key;
  return teacher;
}

function classNames(numClasses: number): readonly string[] {
  return numClasses === CIFAR10_CLASSES.length ? CIFAR10_CLASSES : Array.from({ length: numClasses }, (_, i) => String(i));
}

/** Keeps the best images of a step in host memory (what Stop keeps). */
async function keepBest(report: StepReport, t: Teacher, targets: Int32Array): Promise<void> {
  const images = report.bestImages?.();
  if (images == null) return;
  const images01 = tf.tidy(() =>
    tf.clipByValue(tf.add(tf.mul(images, t.normalization.std as number[]), t.normalization.mean as number[]), 0, 1),
  );
  images.dispose();
  const data = (await images01.data()) as Float32Array;
  const [n, h, w, c] = images01.shape as [number, number, number, number];
  images01.dispose();
  state.best = { images01: data, shape: [n, h, w, c], targets };
}

function drawGrid(): void {
  const best = state.best;
  if (best == null) return;
  const [n, h, w, c] = best.shape;
  if (c !== 3 && c !== 1) return;
  const names = classNames(teacher?.numClasses ?? 10);
  const grid = imageGrid(best.images01, n, h, w, {
    labels: Array.from(best.targets, (t) => names[t] ?? String(t)),
    channels: c,
    scale: GRID_SCALE,
  });
  const canvas = $<HTMLCanvasElement>('grid');
  canvas.width = grid.width;
  canvas.height = grid.height;
  const rgba = new Uint8ClampedArray(grid.width * grid.height * 4);
  for (let i = 0; i < grid.width * grid.height; i++) {
    rgba.set(grid.pixels.subarray(i * 3, i * 3 + 3), i * 4);
    rgba[i * 4 + 3] = 255;
  }
  canvas.getContext('2d')!.putImageData(new ImageData(rgba, grid.width, grid.height), 0, 0);
  state.gridDraws += 1;
}

function gridPng(): Uint8Array {
  const best = state.best!;
  const [n, h, w, c] = best.shape;
  const names = classNames(teacher?.numClasses ?? 10);
  const grid = imageGrid(best.images01, n, h, w, { labels: Array.from(best.targets, (t) => names[t] ?? String(t)), channels: c as 1 | 3 });
  return encodePng(grid.pixels, grid.width, grid.height, 3);
}

function datasetBytes(): Uint8Array {
  const best = state.best!;
  return serializeSafetensors(
    {
      images01: { dtype: 'float32', shape: [...best.shape], data: best.images01 },
      targets: { dtype: 'int32', shape: [best.targets.length], data: best.targets },
    },
    {
      format: 'natinv-web-batch',
      teacher: teacher?.name ?? '',
      method: $<HTMLSelectElement>('method').value,
      classes: JSON.stringify(classNames(teacher?.numClasses ?? 10)),
    },
  );
}

function download(bytes: Uint8Array, name: string, type: string): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function showStats(message?: string): void {
  const remaining = state.steps - state.step;
  const perStep = state.history.loss.length > 0 ? state.history.msPerStep : 0;
  const eta = state.running && perStep > 0 ? `, ETA ${Math.ceil((remaining * perStep) / 1000)} s` : '';
  const loss = state.history.loss.at(-1);
  $('stats').textContent =
    message ??
    `backend ${state.backend} | step ${state.step}/${state.steps}` +
      (loss == null ? '' : ` | loss ${loss.toFixed(3)} | ${state.imagesPerSecond.toFixed(2)} images/s${eta}`) +
      ` | tensors ${tf.memory().numTensors}`;
}

function setRunning(running: boolean): void {
  state.running = running;
  $<HTMLButtonElement>('start').disabled = running;
  $<HTMLButtonElement>('stop').disabled = !running;
  $<HTMLSelectElement>('backend').disabled = running;
  $<HTMLButtonElement>('download-grid').disabled = running || state.best == null;
  $<HTMLButtonElement>('download-dataset').disabled = running || state.best == null;
}

function positiveInteger(id: string): number {
  const value = Number($<HTMLInputElement>(id).value);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${id.replace('-', ' ')} must be a positive integer`);
  return value;
}

async function start(): Promise<void> {
  if (state.running) return;
  // Running from the click on: a second click, a backend switch or a reader of the state sees it at once.
  Object.assign(state, { error: undefined, step: 0, history: { loss: [], terms: {}, msPerStep: 0 }, liveTensors: [], best: undefined });
  Object.assign(state, { gridDraws: 0, chartDraws: 0, imagesPerSecond: 0 });
  controller = new AbortController();
  setRunning(true);
  try {
    const method = $<HTMLSelectElement>('method').value as Method;
    const batchSize = positiveInteger('batch-size');
    const steps = positiveInteger('steps');
    const seed = Number($<HTMLInputElement>('seed').value) || 0;
    state.steps = steps;
    showStats('loading the teacher…');
    const t = await currentTeacher();
    const targets = oneToOneLabels({ batchSize, numClasses: t.numClasses, seed });
    let last = performance.now();
    const onStep = async (report: StepReport): Promise<void> => {
      const now = performance.now();
      const ms = now - last;
      last = now;
      state.step = report.step;
      state.history.loss.push(report.loss);
      for (const [name, value] of Object.entries(report.terms)) (state.history.terms[name] ??= []).push(value);
      state.history.msPerStep = state.history.msPerStep === 0 ? ms : 0.8 * state.history.msPerStep + 0.2 * ms;
      state.imagesPerSecond = (batchSize * 1000) / (state.history.msPerStep * steps);
      await keepBest(report, t, targets);
      state.liveTensors.push(tf.memory().numTensors);
      if (report.step % GRID_EVERY === 0 || report.step === steps) drawGrid();
      drawChart($<HTMLCanvasElement>('chart'), state.history);
      state.chartDraws += 1;
      showStats();
    };
    const common = { batchSize, seed, labels: () => targets, signal: controller.signal, onStep };
    const batches: AsyncGenerator<SynthesizedBatch> =
      method === 'deepInversion'
        ? deepInversion(t, { ...common, steps })
        : method === 'naturalInversion'
          ? naturalInversion(t, { ...common, steps })
          : fastInversion(t, { ...common, innerSteps: steps });
    for await (const batch of batches) void batch; // the kept images are already in state.best
  } catch (error) {
    state.error = (error as Error).message;
  } finally {
    setRunning(false);
    drawGrid();
    showStats(state.error == null ? undefined : `error: ${state.error}`);
  }
}

function stop(): void {
  controller?.abort(); // the loop stops after the current step; the best images so far stay
}

async function init(): Promise<void> {
  const backendSelect = $<HTMLSelectElement>('backend');
  backendSelect.innerHTML = BACKENDS.map((b) => `<option>${b}</option>`).join('');
  $<HTMLSelectElement>('arch').innerHTML = ZOO_ARCHITECTURES.map((a) => `<option>${a}</option>`).join('');
  document.querySelectorAll('input[name="teacher"]').forEach((radio) =>
    radio.addEventListener('change', () => {
      const kind = (document.querySelector('input[name="teacher"]:checked') as HTMLInputElement).value;
      $('teacher-box').classList.toggle('show-own', kind !== 'bundled');
    }),
  );
  backendSelect.addEventListener('change', () => {
    useBackend(backendSelect.value)
      .then(() => showStats())
      .catch((error: Error) => {
        showStats(`${backendSelect.value}: ${error.message}; staying on ${state.backend}`);
        backendSelect.value = state.backend;
      });
  });
  $('start').addEventListener('click', () => void start());
  $('stop').addEventListener('click', stop);
  $('download-grid').addEventListener('click', () => download(gridPng(), 'natinv-grid.png', 'image/png'));
  $('download-dataset').addEventListener('click', () => download(datasetBytes(), 'natinv-batch.safetensors', 'application/octet-stream'));
  await chooseBackend();
  setRunning(false);
  showStats();
}

Object.assign(window, { natinvDemo: { state, start, stop, useBackend, ready: init() } });
