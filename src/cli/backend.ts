/**
 * Picks and starts the tfjs backend for a command: --backend, else NATINV_BACKEND, else the fastest
 * that starts for what the command does: tfjs-node, then wasm (a dependency, so always installed)
 * where nothing is trained, then the pure-JavaScript cpu backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_ENV, BACKEND_NAMES, BackendName, useBackend } from '../runtime/backend';
import { UsageError } from './args';
import type { OptionSpec } from './args';
import type { Reporter } from './io';

/** The --backend option every computing command takes. */
export const BACKEND_OPTION: OptionSpec = {
  name: 'backend',
  kind: 'string',
  value: 'NAME',
  choices: BACKEND_NAMES,
  help:
    'tfjs backend: tensorflow (tfjs-node, fastest; install @tensorflow/tfjs-node), wasm (WebAssembly, ' +
    'installed with natinv, far faster than cpu, cannot train) or cpu (pure JavaScript, always available, slow).',
  default: `$${BACKEND_ENV}, else tensorflow when @tensorflow/tfjs-node loads, else wasm (cpu for commands that train)`,
};

/** The --backend option of the commands that only build a model (inspect, convert): cpu is enough. */
export const MODEL_BACKEND_OPTION: OptionSpec = {
  ...BACKEND_OPTION,
  help: 'tfjs backend to build the model on.',
  default: `$${BACKEND_ENV}, else cpu`,
};

/** How the backend was chosen, for the run's notes. */
export interface ChosenBackend {
  readonly name: BackendName;
  readonly reason: 'option' | 'environment' | 'automatic';
}

/**
 * Starts a backend with the cpu backend's "install tfjs-node" banner silenced (the CLI gives its
 * own hint): the banner goes through tfjs's warn(), which stays quiet while tfjs's PROD flag is
 * set, so the flag is set for the one first write that prints it, then restored.
 */
async function start(name: BackendName): Promise<void> {
  await useBackend(name);
  const production = tf.env().getBool('PROD');
  tf.env().set('PROD', true);
  try {
    tf.dispose(tf.zeros([1]));
  } finally {
    tf.env().set('PROD', production);
  }
}

/**
 * What a command does with its backend, which decides the automatic choice: `models` only builds
 * and reads models (inspect, convert: cpu, not worth loading TensorFlow for), `synthesis` runs
 * forward passes and input gradients (wasm can), `training` trains convolutions (wasm cannot).
 */
export type BackendUse = 'models' | 'synthesis' | 'training';

/**
 * Starts the backend a command asked for, else the fastest that starts for its `use`, with a note
 * when that is not tfjs-node. An unknown NATINV_BACKEND is a usage error; a requested backend
 * that cannot start (tfjs-node not installed) is a runtime error with the fix.
 */
export async function chooseBackend(
  requested: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  reporter: Reporter,
  use: BackendUse,
): Promise<ChosenBackend> {
  if (requested !== undefined) {
    await start(requested as BackendName);
    return { name: requested as BackendName, reason: 'option' };
  }
  const fromEnv = env[BACKEND_ENV]?.trim();
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!(BACKEND_NAMES as readonly string[]).includes(fromEnv)) {
      throw new UsageError(
        `${BACKEND_ENV}=${fromEnv} is not a backend natinv can start; set it to one of ${BACKEND_NAMES.join(', ')} or pass --backend.`,
      );
    }
    await start(fromEnv as BackendName);
    return { name: fromEnv as BackendName, reason: 'environment' };
  }
  if (use === 'models') {
    await start('cpu');
    return { name: 'cpu', reason: 'automatic' };
  }
  try {
    await start('tensorflow');
    return { name: 'tensorflow', reason: 'automatic' };
  } catch {
    // tfjs-node is an optional peer: not installed, or no build for this platform.
  }
  if (use === 'synthesis') {
    try {
      await start('wasm');
      reporter.note(
        'backend: wasm (WebAssembly, one core; @tensorflow/tfjs-node is not installed). Installing @tensorflow/tfjs-node is ' +
          'several times faster.',
      );
      return { name: 'wasm', reason: 'automatic' };
    } catch {
      // A platform without WebAssembly: cpu always starts.
    }
  }
  await start('cpu');
  reporter.note(
    use === 'training'
      ? 'backend: cpu (pure JavaScript; @tensorflow/tfjs-node is not installed). Training on it is slow (seconds per ' +
          'image and step for a ResNet-20): install @tensorflow/tfjs-node for native speed (wasm cannot train).'
      : 'backend: cpu (pure JavaScript; neither @tensorflow/tfjs-node nor WebAssembly starts here). It is slow: ' +
          'install @tensorflow/tfjs-node for native speed.',
  );
  return { name: 'cpu', reason: 'automatic' };
}
