import { promises as fs } from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { serveStatic, StaticServer } from '../examples/web/static-server';

// The web demo's server (npm run demo:web) and the browser suite's: a request path it cannot read
// is answered, not thrown (a GET of '//' or of a malformed %-escape used to stop the server).

function get(server: StaticServer, requestPath: string): Promise<{ status: number; body: string; type?: string }> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    http
      .get({ hostname, port, path: requestPath }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body, type: response.headers['content-type'] }));
      })
      .on('error', reject)
      .setTimeout(10_000, function (this: http.ClientRequest) {
        this.destroy(new Error(`no answer to GET ${requestPath}`));
      });
  });
}

describe('serveStatic', () => {
  let dir: string;
  let server: StaticServer;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'natinv-static-'));
    await fs.writeFile(path.join(dir, 'index.html'), 'page');
    await fs.mkdir(path.join(dir, 'assets'));
    await fs.writeFile(path.join(dir, 'assets', 'a b.txt'), 'asset');
    server = await serveStatic({ '/': dir });
  });

  afterAll(async () => {
    await server.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('serves files, index.html for folders, and percent-escaped names', async () => {
    expect(await get(server, '/')).toEqual({ status: 200, body: 'page', type: 'text/html; charset=utf-8' });
    // The page links the teacher's licence (assets/LICENSE.txt): shown as text, not downloaded.
    expect(await get(server, '/assets/a%20b.txt')).toEqual({ status: 200, body: 'asset', type: 'text/plain; charset=utf-8' });
    expect((await get(server, '/missing.js')).status).toBe(404);
  });

  test('keeps serving after paths it cannot read, and nothing outside its folders', async () => {
    expect((await get(server, '/%E0%A4%A')).status).toBe(400);
    expect(await get(server, '//')).toMatchObject({ status: 200, body: 'page' });
    expect((await get(server, '//evil.example/index.html')).status).toBe(404);
    expect((await get(server, '/..%2f..%2fetc%2fpasswd')).status).toBe(404);
    expect((await get(server, '/%2e%2e/%2e%2e/etc/passwd')).status).toBe(404);
    expect(await get(server, '/')).toMatchObject({ status: 200, body: 'page' });
  });
});
