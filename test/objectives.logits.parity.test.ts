import * as tf from '@tensorflow/tfjs-core';
import { competitionLoss, kdLoss } from '../src/node';
import { expectClose, expectRelative } from './helpers/compare';
import { ParityFile } from './helpers/parity';

// Data-driven: every metadata key `adi_T<t>` / `kd_T<t>` is a loss value at temperature t, with
// `grad_student_<key>` and `grad_teacher_<key>` its gradients.
describe('logit losses match the reference (logit_losses.safetensors)', () => {
  const parity = new ParityFile('logit_losses.safetensors');
  const cases = parity
    .metaKeys()
    .map((key) => ({ key, match: /^(adi|kd)_T(\d+(?:\.\d+)?)$/.exec(key) }))
    .filter((c) => c.match != null)
    .map(({ key, match }) => ({ key, kind: match![1], temperature: Number(match![2]) }));

  test('the file holds cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(3);
  });

  test.each(cases)('$key: value and gradients for both logits', ({ key, kind, temperature }) => {
    const student = parity.tensor('student_logits');
    const teacher = parity.tensor('teacher_logits');
    const loss = (s: tf.Tensor, t: tf.Tensor) => (kind === 'adi' ? competitionLoss(s, t, temperature) : kdLoss(s, t, temperature));
    expectRelative(loss(student, teacher).dataSync()[0], parity.meta<number>(key), 1e-4);
    const [gStudent, gTeacher] = tf.grads((s: tf.Tensor, t: tf.Tensor) => loss(s, t))([student, teacher]);
    expectClose(gStudent, parity.tensor(`grad_student_${key}`), 1e-4);
    expectClose(gTeacher, parity.tensor(`grad_teacher_${key}`), 1e-4);
  });
});
