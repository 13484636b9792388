/**
 * Every backend natinv can use in a browser, registered, and the one asked for started: shared by
 * the browser suite's page (backends.ts) and bench/browser-step's page. The wasm binaries are
 * served under /wasm/.
 */
import '@tensorflow/tfjs'; // gradients, layers, cpu and webgl
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';

setWasmPaths('/wasm/');

/** Makes `backend` the active one, or throws when it cannot start in this browser. */
export async function startBackend(backend: string): Promise<void> {
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs could not start the ${backend} backend in this browser.`);
  await tf.ready();
}

interface GpuAdapterInfo {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
}

interface NavigatorGpu {
  requestAdapter(): Promise<{ info?: GpuAdapterInfo } | null>;
}

/** The WebGPU adapter Chromium offers (vendor, architecture, device, description), or null when it offers none. */
export async function webGpuAdapter(): Promise<GpuAdapterInfo | null> {
  const gpu = (navigator as unknown as { gpu?: NavigatorGpu }).gpu;
  const adapter = gpu == null ? null : await gpu.requestAdapter();
  if (adapter == null) return null;
  const { vendor, architecture, device, description } = adapter.info ?? {};
  return { vendor, architecture, device, description };
}

export async function hasWebGpuAdapter(): Promise<boolean> {
  return (await webGpuAdapter()) != null;
}
