/**
 * Browser side of test/browser/backends.test.ts: registers every backend natinv can use in a
 * browser and runs a few steps of a method on the one asked for.
 */
import '@tensorflow/tfjs'; // gradients, layers, cpu and webgl
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { MethodName, MethodRunOptions, resnet20Teacher, runMethod } from './methods-run';

setWasmPaths('/wasm/');

async function run(backend: string, method: MethodName, options: MethodRunOptions) {
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs could not start the ${backend} backend in this browser.`);
  await tf.ready();
  const response = await fetch('/assets/cifar10_resnet20.safetensors');
  if (!response.ok) throw new Error(`GET ${response.url}: ${response.status}`);
  const weights = new Uint8Array(await response.arrayBuffer());
  const teacher = resnet20Teacher(weights);
  try {
    return await runMethod(teacher, method, options);
  } finally {
    teacher.model.dispose();
  }
}

async function hasWebGpuAdapter(): Promise<boolean> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  return gpu != null && (await gpu.requestAdapter()) != null;
}

Object.assign(window, { natinvTest: { run, hasWebGpuAdapter } });
