import * as tf from '@tensorflow/tfjs-core';
import { normalize, tapNetwork } from '../src/node';
import { expectClose } from './helpers/compare';
import { ParityFile, stageOutput } from './helpers/parity';
import { sharedTeacher } from './helpers/teachers';

// The tapped forward pass natinv's objectives use reproduces the reference logits and every
// `tap_<stage>` tensor (stage outputs after the residual add and ReLU), from the file's images
// and normalization.
test('tapped forward pass matches teacher_logits.safetensors', () => {
  const parity = new ParityFile('teacher_logits.safetensors');
  const network = tapNetwork(sharedTeacher(parity.meta<string>('model')).model);
  const normalization = { mean: parity.meta<number[]>('normalize_mean'), std: parity.meta<number[]>('normalize_std') };
  // Images are independent in inference mode; the pure-JS cpu backend checks the first 4.
  const all = parity.tensor('images01') as tf.Tensor4D;
  const count = tf.getBackend() === 'cpu' && process.env.NATINV_SLOW_TESTS !== '1' ? Math.min(4, all.shape[0]) : all.shape[0];
  const first = <T extends tf.Tensor>(t: T) => tf.slice(t, 0, count) as T;
  const taps = parity.names().filter((name) => name.startsWith('tap_'));
  expect(taps.length).toBeGreaterThan(0);
  const layerOf = (tap: string) => stageOutput(network.layerNames, tap.slice('tap_'.length));
  const out = network.forward(normalize(first(all), normalization), { features: taps.map(layerOf) });
  expectClose(out.logits, first(parity.tensor('logits')), 1e-4);
  for (const tap of taps) expectClose(out.features.get(layerOf(tap)), first(parity.tensor(tap)), 1e-4);
});
