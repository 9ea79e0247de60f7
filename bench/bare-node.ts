/**
 * The bare Node.js reference of bench/serve.ts: `node:http` answering every file of a folder from
 * memory and nothing else (no routing, no metrics, no ETag): the floor of what one Node process
 * can do, so that tuf-mirror / bare Node says what tuf-mirror's own work costs. Also the loopback
 * upstream the benchmark syncs the fixture from.
 *
 *   node dist/bench/bare-node.js <folder> <port>
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { contentType } from '../lib/layout';

function filesOf(root: string): Map<string, { body: Buffer; type: string }> {
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const entry of fs.readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    const urlPath = '/' + path.relative(root, file).split(path.sep).join('/');
    files.set(urlPath, { body: fs.readFileSync(file), type: contentType(urlPath) });
  }
  return files;
}

const [root, port] = process.argv.slice(2);
if (!root || !port) {
  process.stderr.write('usage: node dist/bench/bare-node.js <folder> <port>\n');
  process.exit(2);
}
const files = filesOf(path.resolve(root));
const NOT_FOUND = Buffer.from('not found\n');

http
  .createServer((req, res) => {
    const file = files.get(req.url ?? '/');
    if (file) res.writeHead(200, { 'Content-Type': file.type, 'Content-Length': file.body.length }).end(file.body);
    else res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': NOT_FOUND.length }).end(NOT_FOUND);
  })
  .listen(Number(port), '127.0.0.1', () => process.stdout.write(`bare node serving ${files.size} files of ${root} on 127.0.0.1:${port}\n`));

// A clean exit on a signal, so that `node --cpu-prof` writes its profile.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(0));
