#!/usr/bin/env node
/**
 * Entry point of the `natinv` executable (dist/cli.js): wires the process's streams, environment
 * and Ctrl-C to `run` and exits with its code.
 */
import { commitsInFlight, commitsSettled } from '../util/commits';
import { EXIT, run } from './run';

// TensorFlow's C++ start-up chatter would bury the first progress lines; the user can still ask for it.
process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';

const controller = new AbortController();
process.on('SIGINT', () => {
  if (controller.signal.aborted) {
    // A second Ctrl-C quits at once, but never in the middle of saving a finished batch.
    if (commitsInFlight() === 0) process.exit(EXIT.interrupted);
    process.stderr.write('quitting as soon as the finished batch is saved...\n');
    void commitsSettled().then(() => process.exit(EXIT.interrupted));
    return;
  }
  process.stderr.write('\nstopping after the current step (Ctrl-C again to quit now)...\n');
  controller.abort();
});

run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  signal: controller.signal,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`natinv: unexpected failure: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = EXIT.failure;
  },
);
