/** A static file server on 127.0.0.1 for the web demo and the browser tests (Node only). */
import { promises as fs } from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.png': 'image/png',
  '.css': 'text/css',
  '.txt': 'text/plain; charset=utf-8',
};

export interface StaticServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves folders on 127.0.0.1 (port `listenPort`, default any free one) under URL prefixes (`{ '/': dist, '/wasm/': wasmDir }`); the
 * longest matching prefix wins. Nothing outside the folders is reachable.
 */
export async function serveStatic(routes: Readonly<Record<string, string>>, listenPort = 0): Promise<StaticServer> {
  const prefixes = Object.keys(routes).sort((a, b) => b.length - a.length);
  const server = http.createServer((request, response) => {
    void (async () => {
      const file = fileFor(request.url ?? '/');
      if (file === 'bad request') {
        response.writeHead(400).end();
        return;
      }
      if (file == null) {
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
  /** The file a request path names, undefined when it names none, or 'bad request' when it cannot be read as a path. */
  const fileFor = (requestPath: string): string | undefined => {
    let pathname: string;
    try {
      // The path is appended to the origin (not resolved against it): '//x' is a path here, not a host.
      pathname = decodeURIComponent(new URL(`http://127.0.0.1${requestPath.startsWith('/') ? '' : '/'}${requestPath}`).pathname);
    } catch {
      return 'bad request';
    }
    const prefix = prefixes.find((p) => pathname.startsWith(p));
    if (prefix == null) return undefined;
    const root = path.resolve(routes[prefix]);
    let file = path.resolve(root, '.' + pathname.slice(prefix.length - 1));
    if (pathname.endsWith('/')) file = path.join(file, 'index.html');
    return file === root || file.startsWith(root + path.sep) ? file : undefined;
  };
  await new Promise<void>((resolve) => server.listen(listenPort, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}
