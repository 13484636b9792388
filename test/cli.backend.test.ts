/**
 * How commands choose their backend when neither --backend nor NATINV_BACKEND names one, on a
 * machine where @tensorflow/tfjs-node does not load (simulated): the cpu fallback and its note.
 */
import { chooseBackend } from '../src/cli/backend';
import { EXIT, Reporter } from '../src/cli/io';
import { run } from '../src/cli/run';

jest.mock('../src/runtime/backend', () => {
  const actual = jest.requireActual('../src/runtime/backend');
  return {
    ...actual,
    useBackend: async (name?: string) => {
      if (name === 'tensorflow') throw new Error('Cannot find module @tensorflow/tfjs-node');
      return actual.useBackend(name);
    },
  };
});

function notes(): { reporter: Reporter; text: () => string } {
  let text = '';
  const stream = { write: (t: string) => (text += t) };
  return { reporter: new Reporter({ stdout: stream, stderr: stream }, false), text: () => text };
}

describe('without tfjs-node', () => {
  it('synthesizing commands fall back to cpu and point at wasm and tfjs-node', async () => {
    const { reporter, text } = notes();
    expect(await chooseBackend(undefined, {}, reporter)).toEqual({ name: 'cpu', reason: 'automatic' });
    expect(text()).toBe(
      'backend: cpu (pure JavaScript; @tensorflow/tfjs-node is not installed). It is slow: --backend wasm is many times faster, ' +
        'and installing @tensorflow/tfjs-node faster still.\n',
    );
  });

  it('training commands fall back to cpu and point at tfjs-node only, since wasm cannot train', async () => {
    const { reporter, text } = notes();
    expect(await chooseBackend(undefined, {}, reporter, false, true)).toEqual({ name: 'cpu', reason: 'automatic' });
    expect(text()).toBe(
      'backend: cpu (pure JavaScript; @tensorflow/tfjs-node is not installed). Training on it is slow (seconds per image and step ' +
        'for a ResNet-20): install @tensorflow/tfjs-node for native speed (wasm cannot train).\n',
    );
  });

  it('light commands start cpu without a note, and an explicit tensorflow request fails with the cause', async () => {
    const { reporter, text } = notes();
    expect(await chooseBackend(undefined, {}, reporter, true)).toEqual({ name: 'cpu', reason: 'automatic' });
    expect(text()).toBe('');
    await expect(chooseBackend('tensorflow', {}, reporter)).rejects.toThrow('Cannot find module @tensorflow/tfjs-node');
  });

  it('a command asked for --backend tensorflow exits 1 with the cause, in one line', async () => {
    let stdout = '';
    let stderr = '';
    const code = await run(['inspect', '--backend', 'tensorflow'], {
      stdout: { write: (t: string) => (stdout += t) },
      stderr: { write: (t: string) => (stderr += t) },
      env: {},
    });
    expect(code).toBe(EXIT.failure);
    expect(stderr).toBe('natinv inspect: Cannot find module @tensorflow/tfjs-node\n');
    expect(stdout).toBe('');
  });
});
