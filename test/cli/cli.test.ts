/** The commands as a user runs them: separate processes, real HTTP, exit codes and output. */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { packageRoot } from '../../lib/paths';
import { get, tempDir } from '../helpers/mirror';
import { TestRepository } from '../../testing/tuf-repo';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const CLI = path.join(packageRoot(), 'dist', 'cli', 'main.js');
const repo = new TestRepository();
repo.addTarget('trusted_root.json', '{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}\n');
repo.publish();

let upstream: UpstreamServer;
const dir = tempDir();
const configFile = path.join(dir, 'tuf-mirror.yaml');

before(async () => {
  upstream = await startUpstreamServer(() => repo.files());
  fs.writeFileSync(path.join(dir, 'anchor.json'), repo.rootBytes(1));
  fs.writeFileSync(
    configFile,
    YAML.stringify({
      dataDir: './data',
      server: { host: '127.0.0.1', port: 0 },
      sync: { requestTimeoutSeconds: 2 },
      repositories: [{ name: 'sigstore', upstream: upstream.url, trustAnchor: './anchor.json' }],
    }),
  );
});
after(() => upstream.close());

/** Run a command to completion. Asynchronously: the upstream server lives in this process. */
const run = (...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: dir }, (err, stdout, stderr) => {
      resolve({ status: err ? Number(err.code) : 0, stdout, stderr });
    });
  });

/** Start `serve` and wait for its "listening" log line; returns the URL and the log so far. */
async function serve(args: string[], cwd = dir): Promise<{ child: ChildProcess; url: string; log: () => string }> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  for (let i = 0; i < 200; i++) {
    const line = out.split('\n').find((l) => l.includes('"tuf-mirror listening"'));
    if (line) return { child, url: JSON.parse(line).url as string, log: () => out };
    await new Promise((r) => setTimeout(r, 25));
  }
  child.kill();
  throw new Error(`serve did not start:\n${out}`);
}

async function stop(child: ChildProcess): Promise<number | null> {
  child.kill('SIGTERM');
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('tuf-mirror sync / status / serve', () => {
  test('sync prints the new generation and exits 0; again, unchanged', async () => {
    const first = await run('sync', '--config', configFile);
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /^sigstore: new generation 1 \(root v1, timestamp v2, snapshot v2, targets v2; \d+ requests, \d+ bytes\)$/m);
    const second = await run('sync', '--config', configFile);
    assert.match(second.stdout, /sigstore: unchanged, generation 1 .*2 requests/);
    const json = JSON.parse((await run('sync', '--config', configFile, '--json')).stdout);
    assert.equal(json.results[0].outcome, 'unchanged');
  });

  test('status shows versions and expiry, as text and JSON', async () => {
    const text = await run('status', '--config', configFile);
    assert.equal(text.status, 0);
    assert.match(text.stdout, /sigstore \(default\)/);
    assert.match(text.stdout, /timestamp\s+2\s+\d{4}-\d\d-\d\dT/);
    assert.match(text.stdout, /last sync: unchanged/);
    const json = JSON.parse((await run('status', '--config', configFile, '--json')).stdout);
    assert.equal(json.repositories[0].generation.id, 1);
  });

  test('serve answers with the held files, and picks up a sync run by another process', async () => {
    const { child, url } = await serve(['--config', configFile, '--port', '0']);
    try {
      const ts = await get(`${url}/timestamp.json`);
      assert.ok(ts.body.equals(repo.files().get('timestamp.json')!));
      repo.bumpTimestamp();
      assert.equal((await run('sync', '--config', configFile)).status, 0);
      let seen = false;
      for (let i = 0; i < 100 && !seen; i++) {
        seen = (await get(`${url}/timestamp.json`)).body.equals(repo.files().get('timestamp.json')!);
        if (!seen) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(seen, 'the running server serves the generation the CLI committed');
    } finally {
      assert.equal(await stop(child), 0);
    }
  });

  test('an unreachable upstream: sync exits 1 naming it, and serve still serves what is held', async () => {
    const dead = await startUpstreamServer(new Map());
    await dead.close();
    const offline = path.join(dir, 'offline.yaml');
    const raw = YAML.parse(fs.readFileSync(configFile, 'utf8'));
    raw.repositories[0].upstream = dead.url;
    fs.writeFileSync(offline, YAML.stringify(raw));

    const r = await run('sync', '--config', offline);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /sigstore: sync FAILED: UPSTREAM_UNREACHABLE \[root\]: .*ECONNREFUSED/);
    assert.match(r.stdout, /still serving generation 2/);

    const { child, url, log } = await serve(['--config', offline, '--port', '0']);
    try {
      assert.equal((await get(`${url}/timestamp.json`)).status, 200);
      for (let i = 0; i < 100 && !log().includes('upstream unreachable'); i++) await new Promise((res) => setTimeout(res, 50));
      assert.match(log(), /upstream unreachable: serving the held generation/);
      const status = JSON.parse((await get(`${url}/api/v1/repositories/sigstore`)).body.toString());
      assert.equal(status.upstreamReachable, false);
    } finally {
      assert.equal(await stop(child), 0);
    }
  });

  test('the embedded default starts with no config and no network, and says so', async () => {
    const empty = tempDir();
    const { child, url } = await serve(['--port', '0', '--host', '127.0.0.1'], empty);
    try {
      assert.equal((await get(`${url}/healthz`)).status, 200);
      assert.equal((await get(`${url}/readyz`)).status, 503);
      assert.equal((await get(`${url}/timestamp.json`)).status, 503);
      const status = JSON.parse((await get(`${url}/api/v1/repositories`)).body.toString());
      assert.equal(status.repositories[0].upstream, 'https://tuf-repo-cdn.sigstore.dev');
      assert.ok(fs.existsSync(path.join(empty, 'data', 'tuf-mirror.db')), 'data in ./data');
    } finally {
      assert.equal(await stop(child), 0);
    }
  });

  test('status exits 1 when anything is critical: a timestamp with a day left', async () => {
    const short = new TestRepository();
    short.setExpiry('timestamp', new Date(Date.now() + 86400_000));
    short.addTarget('trusted_root.json', '{}\n');
    short.publish();
    const server = await startUpstreamServer(() => short.files());
    try {
      const sub = tempDir();
      fs.writeFileSync(path.join(sub, 'anchor.json'), short.rootBytes(1));
      const file = path.join(sub, 'c.yaml');
      fs.writeFileSync(file, YAML.stringify({ dataDir: './data', repositories: [{ name: 'short', upstream: server.url, trustAnchor: './anchor.json' }] }));
      assert.equal((await run('sync', '--config', file)).status, 0);
      const r = await run('status', '--config', file);
      assert.equal(r.status, 1);
      assert.match(r.stdout, /timestamp\s+\d+\s+\S+\s+23h 59m\s+CRITICAL/);
      assert.match(r.stdout, /overall: CRITICAL/);
    } finally {
      await server.close();
    }
  });

  test('unknown repository names and bad flags are usage errors', async () => {
    const r = await run('sync', 'nope', '--config', configFile);
    assert.equal(r.status, 3);
    assert.match(r.stderr, /no repository named nope/);
    const bad = await run('serve', '--port', 'x', '--config', configFile);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /must be a port number/);
  });
});
