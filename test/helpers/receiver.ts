import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Received = { path: string; headers: http.IncomingHttpHeaders; body: unknown };

/**
 * A real HTTP receiver on 127.0.0.1 for webhooks. `hold()` makes it accept requests and not
 * answer until `release()`, to show that a stuck receiver blocks nobody.
 */
export async function startReceiver() {
  const received: Received[] = [];
  const held: http.ServerResponse[] = [];
  let holding = false;
  let status = 200;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString() || 'null') });
      if (holding) held.push(res);
      else res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    hold: () => (holding = true),
    release: () => {
      holding = false;
      held.splice(0).forEach((res) => res.writeHead(status).end());
    },
    setStatus: (s: number) => (status = s),
    async close() {
      held.splice(0).forEach((res) => res.destroy());
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
