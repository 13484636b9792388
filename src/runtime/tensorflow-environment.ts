/**
 * The environment TensorFlow reads when tfjs-node loads, as natinv sets it. Kept free of tfjs
 * imports, so a process can set it before anything loads TensorFlow (jest's global setup does).
 */
import * as os from 'os';

/**
 * The environment natinv gives TensorFlow before tfjs-node loads, except where the environment
 * already names a variable (yours always wins):
 * - `TF_NUM_INTEROP_THREADS=1`: eager ops run one after another, so a second pool only competes
 *   with the first;
 * - `TF_NUM_INTRAOP_THREADS` = the number of cores, for the kernels themselves;
 * - `TF_ENABLE_ONEDNN_OPTS=1`: TensorFlow's oneDNN kernels. TensorFlow turns them on by itself
 *   only on CPUs with AVX-512 VNNI and newer; on AVX2 machines its default Eigen convolutions
 *   made a KD training step about twice as slow (docs/performance.md). Results differ in their
 *   last bits with it on or off, so a run continued with another setting is no longer bit-exact.
 * TensorFlow reads these variables once, when it starts: set your own before the first
 * `useBackend('tensorflow')` (or `import '@tensorflow/tfjs-node'`) to override them.
 */
export function tensorflowEnvironment(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return {
    TF_NUM_INTEROP_THREADS: env.TF_NUM_INTEROP_THREADS ?? '1',
    TF_NUM_INTRAOP_THREADS: env.TF_NUM_INTRAOP_THREADS ?? String(Math.max(1, cores)),
    TF_ENABLE_ONEDNN_OPTS: env.TF_ENABLE_ONEDNN_OPTS ?? '1',
  };
}
