/**
 * How commands choose their backend when neither --backend nor NATINV_BACKEND names one, on a
 * machine where @tensorflow/tfjs-node does not load (simulated), and where WebAssembly does not
 * start either: the wasm and cpu fallbacks and their notes.
 */
import { chooseBackend } from '../src/cli/backend';
import { EXIT, Reporter } from '../src/cli/io';
import { run } from '../src/cli/run';

// The backends that fail to start in the current test: tfjs-node always, wasm where a test says so.
const failing = new Set<string>();
jest.mock('../src/runtime/backend', () => {
  const actual = jest.requireActual('../src/runtime/backend');
  return {
    ...actual,
    useBackend: async (name?: string) => {
      if (name === 'tensorflow') throw new Error('Cannot find module @tensorflow/tfjs-node');
      if (name !== undefined && failing.has(name)) throw new Error(`${name} does not start here`);
      return actual.useBackend(name);
    },
  };
});
afterEach(() => failing.clear());

function notes(): { reporter: Reporter; text: () => string } {
  let text = '';
  const stream = { write: (t: string) => (text += t) };
  return { reporter: new Reporter({ stdout: stream, stderr: stream }, false), text: () => text };
}

describe('without tfjs-node', () => {
  it('synthesizing commands fall back to wasm, installed with natinv, and point at tfjs-node', async () => {
    const { reporter, text } = notes();
    expect(await chooseBackend(undefined, {}, reporter, 'synthesis')).toEqual({ name: 'wasm', reason: 'automatic' });
    expect(text()).toBe(
      'backend: wasm (WebAssembly, one core; @tensorflow/tfjs-node is not installed). Installing @tensorflow/tfjs-node is ' +
        'several times faster.\n',
    );
  });

  it('where wasm does not start either, synthesizing commands fall back to cpu', async () => {
    failing.add('wasm');
    const { reporter, text } = notes();
    expect(await chooseBackend(undefined, {}, reporter, 'synthesis')).toEqual({ name: 'cpu', reason: 'automatic' });
    expect(text()).toBe(
      'backend: cpu (pure JavaScript; neither @tensorflow/tfjs-node nor WebAssembly starts here). It is slow: install ' +
        '@tensorflow/tfjs-node for native speed.\n',
    );
  });

  it('training commands fall back to cpu and point at tfjs-node only, since wasm cannot train', async () => {
    const { reporter, text } = notes();
    expect(await chooseBackend(undefined, {}, reporter, 'training')).toEqual({ name: 'cpu', reason: 'automatic' });
    expect(text()).toBe(
      'backend: cpu (pure JavaScript; @tensorflow/tfjs-node is not installed). Training on it is slow (seconds per image and step ' +
        'for a ResNet-20): install @tensorflow/tfjs-node for native speed (wasm cannot train).\n',
    );
  });

  it('commands that only build models start cpu without a note, and an explicit tensorflow request fails with the cause', async () => {
    const { reporter, text } = notes();
    expect(await chooseBackend(undefined, {}, reporter, 'models')).toEqual({ name: 'cpu', reason: 'automatic' });
    expect(text()).toBe('');
    await expect(chooseBackend('tensorflow', {}, reporter, 'synthesis')).rejects.toThrow('Cannot find module @tensorflow/tfjs-node');
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
