import { existsSync, promises as fs } from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import * as esbuild from 'esbuild';
import { Browser, chromium } from 'playwright-core';

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

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.png': 'image/png',
  '.css': 'text/css',
};

export interface StaticServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves folders on 127.0.0.1 under URL prefixes (`{ '/': dist, '/wasm/': wasmDir }`); the
 * longest matching prefix wins. Nothing outside the folders is reachable.
 */
export async function serveStatic(routes: Readonly<Record<string, string>>): Promise<StaticServer> {
  const prefixes = Object.keys(routes).sort((a, b) => b.length - a.length);
  const server = http.createServer((request, response) => {
    void (async () => {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      const prefix = prefixes.find((p) => url.pathname.startsWith(p));
      const root = prefix == null ? undefined : path.resolve(routes[prefix]);
      let file = root == null ? undefined : path.resolve(root, '.' + decodeURIComponent(url.pathname.slice(prefix!.length - 1)));
      if (file != null && url.pathname.endsWith('/')) file = path.join(file, 'index.html');
      if (root == null || file == null || (file !== root && !file.startsWith(root + path.sep))) {
        response.writeHead(404).end();
        return;
      }
      try {
        const body = await fs.readFile(file);
        response.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' }).end(body);
      } catch {
        response.writeHead(404).end();
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}
