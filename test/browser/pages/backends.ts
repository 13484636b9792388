/**
 * Browser side of test/browser/backends.test.ts: registers every backend natinv can use in a
 * browser and runs a few steps of a method on the one asked for.
 */
import { MethodName, MethodRunOptions, resnet20Teacher, runMethod } from './methods-run';
import { hasWebGpuAdapter, startBackend } from './start-backend';

async function run(backend: string, method: MethodName, options: MethodRunOptions) {
  await startBackend(backend);
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

Object.assign(window, { natinvTest: { run, hasWebGpuAdapter } });
