import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../../src/runtime/backend';

// One backend for the whole test run, picked by NATINV_BACKEND (default cpu).
beforeAll(async () => {
  await useBackend();
  // The cpu backend advertises tfjs-node on its first tensor; the suite chose cpu on purpose.
  const warn = console.warn;
  console.warn = () => undefined;
  tf.dispose(tf.zeros([1]));
  console.warn = warn;
});
