import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Browser, Page } from 'playwright-core';
import { buildWebDemo } from '../../examples/web/build';
import { decodePng } from '../../src/io/png-node';
import { useBackend } from '../../src/runtime/backend';
import { deepInversion, oneToOneLabels } from '../../src/node';
import { launchChromium, REPO_ROOT, serveStatic, StaticServer } from './harness';
import { resnet20Teacher } from './pages/methods-run';

// The web demo (examples/web) in Chromium, driven through its own controls: short DI and NI runs
// on webgl and wasm redraw the grid and the loss chart, lower the loss, hold the number of live
// tensors flat, and download a grid PNG that decodes; a fixed-seed DI run on webgl ends at the
// loss Node's cpu backend reaches (1e-4 relative; the backends test measures the step-by-step
// agreement). One run takes the screenshot in docs/images/web-demo.png.

const SCREENSHOT = path.join(REPO_ROOT, 'docs/images/web-demo.png');

interface DemoState {
  backend: string;
  running: boolean;
  step: number;
  history: { loss: number[]; terms: Record<string, number[]> };
  liveTensors: number[];
  gridDraws: number;
  chartDraws: number;
  error?: string;
}

declare global {
  interface Window {
    natinvDemo: { state: DemoState; ready: Promise<void>; useBackend(name: string): Promise<void> };
  }
}

interface RunSettings {
  backend: string;
  method: 'deepInversion' | 'naturalInversion';
  batchSize: number;
  steps: number;
  seed: number;
}

async function runOnPage(page: Page, settings: RunSettings, onFirstGrid?: () => Promise<void>) {
  await page.evaluate((b) => window.natinvDemo.useBackend(b), settings.backend);
  await page.selectOption('#method', settings.method);
  await page.fill('#batch-size', String(settings.batchSize));
  await page.fill('#steps', String(settings.steps));
  await page.fill('#seed', String(settings.seed));
  const blank = await page.evaluate(() => (document.getElementById('grid') as HTMLCanvasElement).toDataURL());
  await page.click('#start');
  await page.waitForFunction(() => window.natinvDemo.state.gridDraws >= 1 || window.natinvDemo.state.error != null, undefined, {
    timeout: 600_000,
    polling: 200,
  });
  const firstGrid = await page.evaluate(() => (document.getElementById('grid') as HTMLCanvasElement).toDataURL());
  await onFirstGrid?.();
  await page.waitForFunction(() => !window.natinvDemo.state.running, undefined, { timeout: 600_000, polling: 500 });
  const state = await page.evaluate(() => window.natinvDemo.state);
  return { state, blank, firstGrid };
}

describe('the web demo in Chromium', () => {
  let browser: Browser;
  let server: StaticServer;
  let page: Page;

  beforeAll(async () => {
    const out = await fs.mkdtemp(path.join(os.tmpdir(), 'natinv-web-'));
    await buildWebDemo(out, REPO_ROOT);
    server = await serveStatic({ '/': out });
    browser = await launchChromium();
    page = await browser.newPage({ acceptDownloads: true, viewport: { width: 1100, height: 760 } });
    page.on('pageerror', (error) => console.log(`[chromium] ${error.message}`));
    await page.goto(`${server.url}/`);
    await page.waitForFunction(() => 'natinvDemo' in window);
    await page.evaluate(() => window.natinvDemo.ready);
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  test('picks a backend by itself (webgpu > webgl > wasm > cpu) and shows it', async () => {
    const backend = await page.evaluate(() => window.natinvDemo.state.backend);
    expect(['webgpu', 'webgl']).toContain(backend); // both exist in this Chromium
    expect(await page.inputValue('#backend')).toBe(backend);
  });

  const runs: RunSettings[] = [
    { backend: 'wasm', method: 'naturalInversion', batchSize: 8, steps: 20, seed: 1 }, // its screenshot is taken at step 5
    { backend: 'wasm', method: 'deepInversion', batchSize: 2, steps: 6, seed: 2 },
    { backend: 'webgl', method: 'naturalInversion', batchSize: 2, steps: 6, seed: 3 },
    { backend: 'webgl', method: 'deepInversion', batchSize: 2, steps: 6, seed: 4 },
  ];
  for (const settings of runs) {
    test(`${settings.method} on ${settings.backend}: grid and chart redraw, the loss falls, no tensor growth, the PNG decodes`, async () => {
      const screenshot =
        settings === runs[0] ? () => page.screenshot({ path: SCREENSHOT, timeout: 300_000 }).then(() => undefined) : undefined;
      const { state, blank, firstGrid } = await runOnPage(page, settings, screenshot);
      expect(state.error).toBeUndefined();
      expect(state.backend).toBe(settings.backend);
      expect(state.history.loss).toHaveLength(settings.steps);
      expect(state.chartDraws).toBe(settings.steps);
      expect(state.gridDraws).toBeGreaterThanOrEqual(2);
      expect(firstGrid).not.toBe(blank);
      expect(state.history.loss.at(-1)!).toBeLessThan(state.history.loss[0]);
      expect(Object.keys(state.history.terms)).toEqual(expect.arrayContaining(['ce', 'bn']));
      expect(state.liveTensors).toEqual(state.liveTensors.map(() => state.liveTensors[0]));

      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-grid')]);
      const png = decodePng(new Uint8Array(await fs.readFile(await download.path())));
      const columns = Math.ceil(Math.sqrt(settings.batchSize));
      expect(png.channels).toBe(3);
      expect(png.width).toBe(columns * (32 * 2 + 2) + 2); // imageGrid's default scale 2, padding 2
      if (settings.backend === 'webgl' && settings.method === 'deepInversion') {
        await useBackend('cpu');
        const weights = new Uint8Array(await fs.readFile(path.join(REPO_ROOT, 'assets/cifar10_resnet20.safetensors')));
        const teacher = resnet20Teacher(weights);
        const targets = oneToOneLabels({ batchSize: settings.batchSize, numClasses: 10, seed: settings.seed });
        const losses: number[] = [];
        const options = { batchSize: settings.batchSize, steps: settings.steps, seed: settings.seed, labels: () => targets };
        for await (const batch of deepInversion(teacher, { ...options, onStep: (r) => void losses.push(r.loss) })) void batch;
        teacher.model.dispose();
        const final = state.history.loss.at(-1)!;
        console.log(`DI on webgl, final loss ${final}; cpu in Node ${losses.at(-1)}`);
        expect(Math.abs(final - losses.at(-1)!) / losses.at(-1)!).toBeLessThan(1e-4);
      }
    }, 900_000);
  }
});
