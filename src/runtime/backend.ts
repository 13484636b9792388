/**
 * Starting a backend from Node (natinv/node): tfjs-node, wasm with its binaries found on disk, or
 * cpu, picked by NATINV_BACKEND. In a browser, import the backend package and call tf.setBackend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertGradientsRegistered } from './gradients';
import { tensorflowEnvironment } from './tensorflow-environment';

export { tensorflowEnvironment } from './tensorflow-environment';

/** Backends natinv knows how to start. `tensorflow` is tfjs-node (or tfjs-node-gpu). */
export type BackendName = 'cpu' | 'wasm' | 'tensorflow';

export const BACKEND_NAMES: readonly BackendName[] = ['cpu', 'wasm', 'tensorflow'];

/** Environment variable that picks the backend for tests, examples, benchmarks and the CLI. */
export const BACKEND_ENV = 'NATINV_BACKEND';

/**
 * The packages of the tensorflow backend, in the order tried: tfjs-node-gpu is installed only where
 * CUDA is (natinv's GPU image), so where it is present it is the one wanted.
 */
const TFJS_NODE_PACKAGES: readonly string[] = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'];

/** Reads NATINV_BACKEND; defaults to `cpu`. */
export function backendFromEnv(env: NodeJS.ProcessEnv = process.env): BackendName {
  const value = (env[BACKEND_ENV] ?? 'cpu').trim();
  if (!(BACKEND_NAMES as readonly string[]).includes(value)) {
    throw new Error(`${BACKEND_ENV}=${value} is not a backend natinv can start; use one of ${BACKEND_NAMES.join(', ')}.`);
  }
  return value as BackendName;
}

/** Imports tfjs-node-gpu, else tfjs-node; throws with the fix when neither is installed or loads. */
async function importTfjsNode(): Promise<void> {
  let cause: unknown;
  for (const specifier of TFJS_NODE_PACKAGES) {
    try {
      // Optional peers: a variable specifier keeps the type check and bundlers from requiring them.
      await import(specifier);
      return;
    } catch (error) {
      cause = error;
      // Installed but broken (a missing native library): that is the error to show.
      const code = (error as NodeJS.ErrnoException).code;
      const notInstalled = (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') && String(error).includes(specifier);
      if (!notInstalled) break;
    }
  }
  throw new Error(
    `the tensorflow backend needs @tensorflow/tfjs-node (or @tensorflow/tfjs-node-gpu), which did not load (${(cause as Error).message}). ` +
      `Install it (in this repository: bash ../shared/tools/install-tfjs-node.sh) or use NATINV_BACKEND=cpu.`,
  );
}

/**
 * Loads and activates a backend, registering gradients on the way. Node only (it imports the
 * backend packages on demand); in a browser, import the backend yourself and call tf.setBackend.
 */
export async function useBackend(name: BackendName = backendFromEnv()): Promise<BackendName> {
  if (name === 'tensorflow') {
    Object.assign(process.env, tensorflowEnvironment());
    await importTfjsNode();
  } else {
    // The umbrella package registers every gradient and the cpu backend.
    await import('@tensorflow/tfjs');
    if (name === 'wasm') {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      const dir = require.resolve('@tensorflow/tfjs-backend-wasm/package.json').replace(/package\.json$/, 'dist/');
      wasm.setWasmPaths(dir);
    }
  }
  if (!(await tf.setBackend(name))) {
    throw new Error(`tfjs could not start the ${name} backend.`);
  }
  await tf.ready();
  assertGradientsRegistered();
  return name;
}
