import * as tf from '@tensorflow/tfjs-core';
import { channelMean, channelSum, scaleShift } from './layer-ops';

/**
 * Training-mode BatchNorm over the last axis: normalize with the batch's own mean and biased
 * variance, then scale and shift. One forward and one backward kernel on tfjs-node (TensorFlow's
 * FusedBatchNormV3 / FusedBatchNormGradV3); elsewhere a handful of per-channel reductions. tfjs's
 * own path (moments, then batchNorm, each differentiated op by op) costs about ten full-size
 * kernels per layer each way, which made a training step several times slower than PyTorch's.
 */

/** The batch statistics a training-mode BatchNorm saw, for the moving-average update. */
export interface BatchStatistics {
  readonly mean: tf.Tensor1D;
  /** Unbiased (n / (n - 1)) batch variance, as PyTorch folds into its running variance. */
  readonly variance: tf.Tensor1D;
}

/** What natinv uses of tfjs-node's backend to run a TensorFlow op by name. */
interface NativeBackend {
  executeMultipleOutputs(name: string, attrs: unknown[], inputs: tf.TensorInfo[], outputs: number): tf.TensorInfo[];
  binding: { TF_ATTR_TYPE: number; TF_ATTR_FLOAT: number; TF_ATTR_STRING: number; TF_ATTR_BOOL: number; TF_FLOAT: number };
}

function nativeBackend(): NativeBackend | undefined {
  if (tf.getBackend() !== 'tensorflow') return undefined;
  const backend = tf.backend() as unknown as Partial<NativeBackend>;
  const binding = backend.binding;
  const usable =
    typeof backend.executeMultipleOutputs === 'function' &&
    binding?.TF_ATTR_TYPE != null &&
    binding.TF_ATTR_FLOAT != null &&
    binding.TF_ATTR_STRING != null &&
    binding.TF_ATTR_BOOL != null;
  return usable ? (backend as NativeBackend) : undefined;
}

function attributes(native: NativeBackend, epsilon: number): unknown[] {
  const { binding } = native;
  return [
    { name: 'T', type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT },
    { name: 'U', type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT },
    { name: 'epsilon', type: binding.TF_ATTR_FLOAT, value: epsilon },
    { name: 'data_format', type: binding.TF_ATTR_STRING, value: 'NHWC' },
    { name: 'is_training', type: binding.TF_ATTR_BOOL, value: true },
  ];
}

/** tfjs-node returns its outputs as tensors the engine already tracks (typed as TensorInfo). */
function wrap(outputs: tf.TensorInfo[]): tf.Tensor[] {
  return outputs as tf.Tensor[];
}

/** FusedBatchNormV3 wants a 4-D input; a [B, C] input (after a Dense layer) is viewed as [B, 1, 1, C]. */
function as4d(x: tf.Tensor): tf.Tensor4D {
  return (x.rank === 4 ? x : tf.reshape(x, [x.size / x.shape[x.rank - 1], 1, 1, x.shape[x.rank - 1]])) as tf.Tensor4D;
}

function nativeBatchNorm(
  native: NativeBackend,
  x: tf.Tensor,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  epsilon: number,
): { y: tf.Tensor; statistics: BatchStatistics } {
  let statistics: BatchStatistics | undefined;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [input, scale, offset, save] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const x4 = as4d(input);
    const empty = tf.tensor1d([]);
    // Outputs: y, batch mean, batch variance (unbiased), and three reserve spaces for the gradient.
    const [y, mean, variance, r1, r2, r3] = wrap(
      native.executeMultipleOutputs('FusedBatchNormV3', attributes(native, epsilon), [x4, scale, offset, empty, empty], 6),
    );
    statistics = { mean: tf.keep(mean) as tf.Tensor1D, variance: tf.keep(variance) as tf.Tensor1D };
    save([x4, scale, r1, r2, r3]);
    return {
      value: tf.reshape(y, input.shape),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sscale, s1, s2, s3] = saved;
        const [dx, dscale, doffset] = wrap(
          native.executeMultipleOutputs('FusedBatchNormGradV3', attributes(native, epsilon), [as4d(dy), sx, sscale, s1, s2, s3], 5),
        );
        return [tf.reshape(dx, input.shape), dscale, doffset];
      },
    };
  }) as (x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D) => tf.Tensor;
  const y = op(x, gamma, beta);
  return { y, statistics: statistics as BatchStatistics };
}

function portableBatchNorm(
  x: tf.Tensor,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  epsilon: number,
): { y: tf.Tensor; statistics: BatchStatistics } {
  const channels = x.shape[x.rank - 1];
  const n = x.size / channels;
  let statistics: BatchStatistics | undefined;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [input, scale, offset, save] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const mean = channelMean(input);
    const centered = tf.sub(input, mean);
    const variance = channelMean(tf.square(centered));
    const inverseStd = tf.rsqrt(tf.add(variance, epsilon)) as tf.Tensor1D;
    const normalized = scaleShift(centered, inverseStd);
    statistics = { mean: tf.keep(mean), variance: tf.keep(tf.mul(variance, n > 1 ? n / (n - 1) : 1)) as tf.Tensor1D };
    save([normalized, inverseStd, scale]);
    return {
      value: scaleShift(normalized, scale, offset),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xhat, invStd, g] = saved;
        const dOffset = channelSum(dy);
        const dScale = channelSum(tf.mul(dy, xhat));
        // dx = gamma * invStd / n * (n * dy - sum(dy) - xhat * sum(dy * xhat))
        const inner = tf.sub(scaleShift(dy, tf.fill([channels], n), tf.neg(dOffset)), scaleShift(xhat, dScale));
        const dx = scaleShift(inner, tf.div(tf.mul(g, invStd), n));
        return [dx, dScale, dOffset];
      },
    };
  }) as (x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D) => tf.Tensor;
  const y = op(x, gamma, beta);
  return { y, statistics: statistics as BatchStatistics };
}

/**
 * Training-mode BatchNorm of `x` (channels last) with scale `gamma` and shift `beta`, both
 * differentiable (pass constants of ones / zeros for a layer without them). Returns the output
 * and the batch statistics, which the caller owns (dispose them after the moving-average update).
 */
export function batchNormTraining(
  x: tf.Tensor,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  epsilon: number,
): { y: tf.Tensor; statistics: BatchStatistics } {
  const native = nativeBackend();
  return native != null && x.dtype === 'float32'
    ? nativeBatchNorm(native, x, gamma, beta, epsilon)
    : portableBatchNorm(x, gamma, beta, epsilon);
}
