import { existsSync } from 'fs';
import * as path from 'path';
import * as esbuild from 'esbuild';
import { Browser, chromium } from 'playwright-core';

export { serveStatic } from '../../examples/web/static-server';
export type { StaticServer } from '../../examples/web/static-server';

/**
 * What the browser suite needs: a bundled page, a static server on 127.0.0.1 and the system's
 * Chromium (Debian's `chromium` package; no browser can be downloaded here).
 */

export const REPO_ROOT = path.resolve(__dirname, '../..');

/** The Chromium binary: CHROMIUM_PATH, else Debian's. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Flags for headless Chromium on these machines (DESIGN.md, "Browsers on these machines"):
 * software WebGL 2 through SwiftShader, a WebGPU adapter on SwiftShader's Vulkan, and no
 * network traffic of the browser's own.
 */
export const CHROMIUM_FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--enable-unsafe-swiftshader',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-webgpu-adapter=swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: install it (apt-get install -y chromium) or set CHROMIUM_PATH.`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_FLAGS, headless: true });
}

/** Bundles a browser entry point (ESM, with source maps) into `outdir`. */
export async function bundle(entry: string, outdir: string): Promise<void> {
  await esbuild.build({
    entryPoints: [entry],
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    sourcemap: true,
    logLevel: 'warning',
  });
}
