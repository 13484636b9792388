import { tensorflowEnvironment } from '../../src/runtime/tensorflow-environment';

/**
 * Gives the test processes TensorFlow's environment as useBackend gives a natinv process (threads,
 * oneDNN). Inside a test file, jest's process.env is a copy that never reaches the native library,
 * so useBackend's own assignment there would leave TensorFlow on its defaults, and batches made in
 * the test process would differ in their last bits from those of the CLI processes a test starts.
 * Set here, in jest's parent process, it is inherited by the workers and every child process.
 */
export default function globalSetup(): void {
  Object.assign(process.env, tensorflowEnvironment());
}
