/**
 * Mirror chaining over real HTTP: upstream → mirror A → mirror B → TUF clients. Each hop runs the
 * whole TUF client workflow from its own trust anchor; a tuf-mirror serves exactly the upstream
 * layout, so it is an upstream like any other.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, mock, test } from 'node:test';
import { getTrustedRoot } from '@sigstore/tuf';
import { Updater } from 'tuf-js';
import type { Config } from '../../config/config';
import type { Service } from '../../server/service';
import { exportGeneration } from '../../sync/export';
import { importBytes } from '../helpers/archive';
import { FIXTURE, FIXTURE_NOW, get, readTree, startMirror, tempDir, testConfig } from '../helpers/mirror';
import { flipByte, TestRepository } from '../../testing/tuf-repo';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const fixture = readTree(FIXTURE);
const TRUSTED_ROOT = 'targets/6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66.trusted_root.json';
const NPM_KEYS = 'targets/registry.npmjs.org/160677eb6e1c7083c89b166b20f8fe4e837fb71181506aff1991b80b89184f7d.keys.json';
const servers: { close(): Promise<void> }[] = [];

async function mirror(name: string, upstream: string, anchor: string | Buffer): Promise<{ mirror: Service; config: Config }> {
  const config = testConfig([{ name, upstream, anchor }]);
  const m = await startMirror(config);
  servers.push(m);
  return { mirror: m, config };
}

/** tuf-js from `anchor` against `url`: the bytes of a target. */
async function clientTarget(url: string, anchor: Buffer, target: string): Promise<Buffer> {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'root.json'), anchor);
  const updater = new Updater({ metadataDir: dir, metadataBaseUrl: url, targetBaseUrl: `${url}/targets`, targetDir: dir });
  await updater.refresh();
  const info = await updater.getTargetInfo(target);
  assert.ok(info, `${target} not found through ${url}`);
  return fs.readFileSync(await updater.downloadTarget(info, path.join(dir, 'target')));
}

after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

describe('the real public-good repository through three hops: upstream → mirror A → mirror B → client', () => {
  let upstream: UpstreamServer;
  let a: Service;
  let b: Service;

  before(async () => {
    mock.timers.enable({ apis: ['Date'], now: FIXTURE_NOW });
    upstream = await startUpstreamServer(FIXTURE);
    servers.push(upstream);
    // A: the DMZ mirror, from root v1. B: reads A's /sigstore/ path, from its own anchor, root v14.
    ({ mirror: a } = await mirror('sigstore', upstream.url, path.join(FIXTURE, '1.root.json')));
    ({ mirror: b } = await mirror('public-good', `${a.url}/sigstore`, path.join(FIXTURE, '14.root.json')));
  });
  after(() => mock.timers.reset());

  test('each hop verifies and commits the whole repository from its own anchor', async () => {
    const [ra] = await a.syncAll();
    assert.equal(ra.outcome, 'updated', JSON.stringify(ra));
    const [rb] = await b.syncAll();
    assert.equal(rb.outcome, 'updated', JSON.stringify(rb));
    assert.deepEqual(rb.generation.summary.roles, ra.generation.summary.roles);
    assert.deepEqual(
      ra.generation.summary.rootVersions,
      Array.from({ length: 15 }, (_, i) => i + 1),
    );
    assert.deepEqual(rb.generation.summary.rootVersions, [14, 15], 'B holds roots from its own anchor on');
    assert.equal(b.store.lastSyncRun('public-good')!.source, `${a.url}/sigstore`);
  });

  test('B serves every file byte for byte as the upstream published it', async () => {
    for (const [rel, bytes] of fixture) {
      const root = /^(\d+)\.root\.json$/.exec(rel);
      const res = await get(`${b.url}/${rel}`);
      if (root && Number(root[1]) < 14) {
        assert.equal(res.status, 404, rel);
        continue;
      }
      assert.equal(res.status, 200, rel);
      assert.ok(res.body.equals(bytes), `${rel} differs after two hops`);
    }
  });

  test('tuf-js and @sigstore/tuf against B get the identical trusted_root.json', async () => {
    const anchor = fixture.get('15.root.json')!;
    assert.ok((await clientTarget(b.url, anchor, 'trusted_root.json')).equals(fixture.get(TRUSTED_ROOT)!));
    assert.ok((await clientTarget(b.url, anchor, 'registry.npmjs.org/keys.json')).equals(fixture.get(NPM_KEYS)!));
    const trusted = await getTrustedRoot({ mirrorURL: b.url, rootPath: path.join(FIXTURE, '14.root.json'), cachePath: tempDir(), forceInit: true });
    const expected = JSON.parse(fixture.get(TRUSTED_ROOT)!.toString('utf8')) as { tlogs: unknown[] };
    assert.equal(trusted.tlogs.length, expected.tlogs.length);
  });

  test('a sync of B with nothing new costs two requests to A', async () => {
    const [rb] = await b.syncAll();
    assert.equal(rb.outcome, 'unchanged');
    assert.equal(rb.requests, 2);
  });

  test('across the air gap and back onto HTTP: A exports, C imports, D chains from C', async () => {
    const exported = exportGeneration(a.store, { name: 'sigstore', upstream: upstream.url, trustAnchor: '', default: true }).bytes;
    const { mirror: c, config: cConfig } = await mirror('sigstore', 'http://127.0.0.1:9/unreachable', path.join(FIXTURE, '15.root.json'));
    assert.equal((await importBytes(c, cConfig, exported)).outcome, 'updated');
    const { mirror: d } = await mirror('sigstore', c.url, path.join(FIXTURE, '15.root.json'));
    const [rd] = await d.syncAll();
    assert.equal(rd.outcome, 'updated', JSON.stringify(rd));
    assert.ok((await get(`${d.url}/targets/trusted_root.json`)).body.equals(fixture.get(TRUSTED_ROOT)!));
  });
});

describe('a chain keeps verifying at every hop as the upstream changes', () => {
  const repo = new TestRepository();
  repo.addTarget('trusted_root.json', '{"v":1}\n');
  repo.publish();
  let upstream: UpstreamServer;
  let a: Service;
  let b: Service;
  let proxy: UpstreamServer;

  before(async () => {
    upstream = await startUpstreamServer(() => repo.files());
    servers.push(upstream);
    ({ mirror: a } = await mirror('sigstore', upstream.url, repo.rootBytes(1)));
    // B reads A through a proxy the test can make lie, as a compromised DMZ host would.
    proxy = await startUpstreamServer(new Map());
    servers.push(proxy);
    proxy.setHandler(async (req, res) => {
      const answer = await fetch(`${a.url}${req.url ?? ''}`);
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/octet-stream' });
      res.end(Buffer.from(await answer.arrayBuffer()));
    });
    ({ mirror: b } = await mirror('sigstore', proxy.url, repo.rootBytes(1)));
    assert.equal((await a.syncAll())[0].outcome, 'updated');
    assert.equal((await b.syncAll())[0].outcome, 'updated');
  });

  test('a root rotation with new keys and a new target reach B and a client starting from root v1', async () => {
    repo.rotateRoot({ replaceKeys: ['root', 'timestamp', 'snapshot', 'targets'] });
    repo.addTarget('trusted_root.json', '{"v":2}\n');
    repo.publish();
    assert.equal((await a.syncAll())[0].outcome, 'updated');
    const [rb] = await b.syncAll();
    assert.equal(rb.outcome, 'updated', JSON.stringify(rb));
    assert.deepEqual(rb.generation.summary.rootVersions, [1, 2]);
    assert.equal((await clientTarget(b.url, repo.rootBytes(1), 'trusted_root.json')).toString(), '{"v":2}\n');
  });

  test('a hop that alters what it passes on is caught by the next one, which keeps serving its last good generation', async () => {
    repo.addTarget('trusted_root.json', '{"v":3}\n');
    repo.publish();
    assert.equal((await a.syncAll())[0].outcome, 'updated');
    const [name] = repo.targetFiles('trusted_root.json');
    proxy.setHandler(async (req, res) => {
      const answer = await fetch(`${a.url}${req.url ?? ''}`);
      let body: Buffer = Buffer.from(await answer.arrayBuffer());
      if (decodeURIComponent(req.url!.slice(1)) === name) body = flipByte(body);
      res.writeHead(answer.status);
      res.end(body);
    });
    const generation = b.store.currentGeneration('sigstore')!.id;
    const [rb] = await b.syncAll();
    assert.equal(rb.outcome, 'failed');
    assert.equal(rb.error.code, 'LENGTH_OR_HASH_MISMATCH');
    assert.equal(rb.error.role, 'targets/trusted_root.json');
    assert.equal(b.store.currentGeneration('sigstore')!.id, generation);
    assert.equal((await get(`${b.url}/targets/trusted_root.json`)).body.toString(), '{"v":2}\n');
  });

  test('a downstream anchored at another repository’s root refuses the chain', async () => {
    const foreign = new TestRepository();
    const { mirror: c } = await mirror('sigstore', `${a.url}/sigstore`, foreign.rootBytes(1));
    const [rc] = await c.syncAll();
    assert.equal(rc.outcome, 'failed');
    assert.equal(rc.error.code, 'UNSIGNED_METADATA');
    assert.equal((await get(`${c.url}/timestamp.json`)).status, 503);
  });
});
