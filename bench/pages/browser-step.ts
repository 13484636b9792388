/**
 * Browser side of bench/browser-step.ts: times DI / NI synthesis steps on one backend, with the
 * step loop bench/step.ts times in Node (bench/step-setup.ts) and the teacher it loads (ResNet-20
 * from the shared models folder, served under /models/).
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadTeacher } from '../../src/models/zoo';
import { StepRecord, stepRunner, SynthesisMethod } from '../step-setup';
import { startBackend, webGpuAdapter } from '../../test/browser/pages/start-backend';

export interface BrowserStepRun extends StepRecord {
  readonly backend: string;
  /** Tensors alive before the teacher was built, and after the run with everything disposed. */
  readonly tensorsBefore: number;
  readonly tensorsAfter: number;
  /** What the backend runs on: tfjs flags that decide its kernels. */
  readonly flags: Record<string, unknown>;
}

async function time(backend: string, method: SynthesisMethod, batch: number, warmup: number, steps: number): Promise<BrowserStepRun> {
  await startBackend(backend);
  const tensorsBefore = tf.memory().numTensors;
  const response = await fetch('/models/cifar10_resnet20.safetensors');
  if (!response.ok) throw new Error(`GET ${response.url}: ${response.status}`);
  const teacher = await loadTeacher({ arch: 'resnet20', weights: new Uint8Array(await response.arrayBuffer()) });
  const { source, record, run } = stepRunner(teacher, method, batch, warmup);
  (await run(warmup + steps)).images.dispose();
  source.dispose();
  teacher.model.dispose();
  return { backend: tf.getBackend(), ...record, tensorsBefore, tensorsAfter: tf.memory().numTensors, flags: await backendFlags(backend) };
}

async function backendFlags(backend: string): Promise<Record<string, unknown>> {
  const names: Record<string, string[]> = {
    webgl: ['WEBGL_VERSION', 'WEBGL_RENDER_FLOAT32_ENABLED', 'WEBGL_PACK'],
    wasm: ['WASM_HAS_SIMD_SUPPORT', 'WASM_HAS_MULTITHREAD_SUPPORT'],
  };
  const flags: Record<string, unknown> = {};
  for (const name of names[backend] ?? []) flags[name] = await tf.env().getAsync(name);
  return flags;
}

/** What renders WebGL here (the unmasked renderer string names SwiftShader when it is software) and the WebGPU adapter. */
async function environment(): Promise<Record<string, unknown>> {
  const gl = document.createElement('canvas').getContext('webgl2');
  const info = gl?.getExtension('WEBGL_debug_renderer_info');
  return {
    userAgent: navigator.userAgent,
    hardwareConcurrency: navigator.hardwareConcurrency,
    crossOriginIsolated,
    webgl2: gl != null,
    webglVendor: gl == null ? null : info == null ? gl.getParameter(gl.VENDOR) : gl.getParameter(info.UNMASKED_VENDOR_WEBGL),
    webglRenderer: gl == null ? null : info == null ? gl.getParameter(gl.RENDERER) : gl.getParameter(info.UNMASKED_RENDERER_WEBGL),
    webgpuAdapter: await webGpuAdapter(),
  };
}

Object.assign(window, { natinvBench: { time, environment } });
