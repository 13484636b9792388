import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Browser, Page } from 'playwright-core';
import { useBackend } from '../../src/runtime/backend';
import { bundle, launchChromium, REPO_ROOT, serveStatic, StaticServer } from './harness';
import { MethodName, MethodRun, MethodRunOptions, resnet20Teacher, runMethod } from './pages/methods-run';

// DI, NI and the fast method run in Chromium on webgl, webgpu (SwiftShader's adapter) and wasm,
// and compute what the cpu backend computes in Node: the same teacher (the bundled ResNet-20),
// seeds and code (pages/methods-run.ts) on both sides.
//
// Tolerance: 1e-4 relative for the loss and every term at every step (absolute 1e-4 for terms
// below 1). Measured on this machine: the largest differences are 2e-7 on the losses and 8e-6 on
// a term (ce, webgl, NI's second update); the backends differ in float32 summation order and
// conv algorithms only. Step 2 starts from parameters the first update produced, so it also
// checks the gradients' signs and sizes (Adam's first update is lr * sign(gradient)).
//
// WebGPU: DI only. On SwiftShader's WebGPU adapter (Chromium 156 here), NI's and the fast
// method's first steps lose the device ("A valid external Instance reference no longer exists",
// in a fresh page too), before any number comes back; DI's steps run and match.
//
// Steps are few and batches tiny: SwiftShader renders WebGL and WebGPU in software, and a step
// of ResNet-20 at batch 2 takes seconds there on two shared cores.

const METHODS: MethodName[] = ['deepInversion', 'naturalInversion', 'fastInversion'];
const BACKENDS: Array<{ backend: string; methods: MethodName[] }> = [
  { backend: 'webgl', methods: METHODS },
  { backend: 'webgpu', methods: ['deepInversion'] },
  { backend: 'wasm', methods: METHODS },
];
const OPTIONS: MethodRunOptions = { steps: 2, batchSize: 2, seed: 3 };
const TOLERANCE = 1e-4;

declare global {
  interface Window {
    natinvTest: {
      run(backend: string, method: MethodName, options: MethodRunOptions): Promise<MethodRun>;
      hasWebGpuAdapter(): Promise<boolean>;
    };
  }
}

/** The largest relative difference of the loss and of any term, over all steps. */
function largestDifference(run: MethodRun, reference: MethodRun): number {
  let largest = 0;
  run.loss.forEach((loss, step) => {
    largest = Math.max(largest, Math.abs(loss - reference.loss[step]) / Math.abs(reference.loss[step]));
    for (const [name, value] of Object.entries(reference.terms[step])) {
      largest = Math.max(largest, Math.abs(run.terms[step][name] - value) / Math.max(Math.abs(value), 1));
    }
  });
  return largest;
}

describe('natinv in Chromium', () => {
  let browser: Browser;
  let server: StaticServer;
  let page: Page;
  let webgpu = false;
  const reference = new Map<MethodName, MethodRun>();

  beforeAll(async () => {
    const out = await fs.mkdtemp(path.join(os.tmpdir(), 'natinv-browser-'));
    await bundle(path.join(__dirname, 'pages/backends.ts'), out);
    await fs.copyFile(path.join(__dirname, 'pages/backends.html'), path.join(out, 'index.html'));
    server = await serveStatic({
      '/': out,
      '/assets/': path.join(REPO_ROOT, 'assets'),
      '/wasm/': path.join(REPO_ROOT, 'node_modules/@tensorflow/tfjs-backend-wasm/dist'),
    });
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('pageerror', (error) => console.log(`[chromium] ${error.message}`));
    await page.goto(`${server.url}/`);
    await page.waitForFunction(() => 'natinvTest' in window);
    webgpu = await page.evaluate(() => window.natinvTest.hasWebGpuAdapter());
    if (!webgpu) console.log('Chromium offers no WebGPU adapter here: the webgpu runs are skipped.');

    await useBackend('cpu');
    const weights = new Uint8Array(await fs.readFile(path.join(REPO_ROOT, 'assets/cifar10_resnet20.safetensors')));
    const teacher = resnet20Teacher(weights);
    for (const method of METHODS) reference.set(method, await runMethod(teacher, method, OPTIONS));
    teacher.model.dispose();
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  for (const { backend, methods } of BACKENDS) {
    for (const method of methods) {
      test(`${method} on ${backend}: every step matches the cpu backend, with no tensor growth`, async () => {
        if (backend === 'webgpu' && !webgpu) return; // said once in beforeAll
        const run = await page.evaluate(([b, m, o]) => window.natinvTest.run(b, m, o), [backend, method, OPTIONS] as const);
        const cpu = reference.get(method)!;
        console.log(
          `${method} on ${run.backend}: largest relative difference from cpu ${largestDifference(run, cpu).toExponential(1)}, ` +
            `ms per step ${run.msPerStep.join(', ')} (cpu in Node: ${cpu.msPerStep.join(', ')})`,
        );
        expect(run.backend).toBe(backend);
        expect(run.loss).toHaveLength(OPTIONS.steps!);
        expect(run.liveTensors).toEqual(run.liveTensors.map(() => run.liveTensors[0]));
        expect(run.loss[1]).toBeLessThan(run.loss[0]);
        expect(largestDifference(run, cpu)).toBeLessThan(TOLERANCE);
      }, 600_000);
    }
  }
});
