import * as tf from '@tensorflow/tfjs-core';
import { assertGradientsRegistered, backendFromEnv } from '../src/node';

test('the configured backend is active and gradients are registered', () => {
  expect(tf.getBackend()).toBe(backendFromEnv());
  expect(() => assertGradientsRegistered()).not.toThrow();
});
