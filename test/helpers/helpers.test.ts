import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { Metadata, MetadataKind } from '@tufjs/models';
import { Updater } from 'tuf-js';
import { TestRepository, type TestRepositoryOptions, flipByte, generateKey, tufDate } from '../../testing/tuf-repo';
import { type UpstreamServer, startUpstreamServer } from '../../testing/upstream-server';

const NPM_KEYS = Buffer.from('{"keys":[{"keyId":"SHA256:npm"}]}\n');
const TRUSTED_ROOT = Buffer.from('{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}\n');
const PAST = new Date('2020-01-01T00:00:00Z');

/** A Sigstore-like repository: a top-level target and a target in the npm delegation. */
function sigstoreLike(options: TestRepositoryOptions = {}): TestRepository {
  const repo = new TestRepository(options);
  repo.addTarget('trusted_root.json', TRUSTED_ROOT, { custom: { sigstore: { usage: 'Unknown', status: 'Active' } } });
  repo.addDelegation('registry.npmjs.org', { paths: ['registry.npmjs.org/*'], terminating: true, keyType: 'ecdsa' });
  repo.addTarget('registry.npmjs.org/keys.json', NPM_KEYS, { role: 'registry.npmjs.org' });
  repo.publish();
  return repo;
}

async function serve(t: TestContext, source: Parameters<typeof startUpstreamServer>[0]): Promise<UpstreamServer> {
  const server = await startUpstreamServer(source);
  t.after(() => server.close());
  return server;
}

/** A tuf-js client whose only trust is `trustedRoot`, in a fresh temp dir; no retries, to fail fast. */
function client(t: TestContext, server: UpstreamServer, trustedRoot: Buffer) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-helpers-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const metadataDir = path.join(dir, 'metadata');
  const targetDir = path.join(dir, 'targets');
  fs.mkdirSync(metadataDir);
  fs.mkdirSync(targetDir);
  fs.writeFileSync(path.join(metadataDir, 'root.json'), trustedRoot);
  // A new Updater per refresh, as a fresh process would do, reusing the persisted metadata.
  const updater = () => new Updater({ metadataDir, metadataBaseUrl: server.url, targetDir, targetBaseUrl: `${server.url}/targets`, config: { fetchRetry: 0 } });
  return { metadataDir, targetDir, updater };
}

async function download(updater: Updater, targetPath: string): Promise<Buffer> {
  const info = await updater.getTargetInfo(targetPath);
  assert.ok(info, `no target info for ${targetPath}`);
  return fs.readFileSync(await updater.downloadTarget(info));
}

const sha256 = (bytes: Buffer) => crypto.createHash('sha256').update(bytes).digest('hex');

test('TestRepository publishes the consistent-snapshot layout, every file verifiable', () => {
  const repo = sigstoreLike({ sha512: true });
  const files = repo.files();
  const keysSha256 = sha256(NPM_KEYS);
  const keysSha512 = crypto.createHash('sha512').update(NPM_KEYS).digest('hex');
  for (const name of [
    '1.root.json',
    'timestamp.json',
    '2.snapshot.json',
    '2.targets.json',
    '1.registry.npmjs.org.json',
    `targets/registry.npmjs.org/${keysSha256}.keys.json`,
    `targets/registry.npmjs.org/${keysSha512}.keys.json`,
    `targets/${sha256(TRUSTED_ROOT)}.trusted_root.json`,
  ]) {
    assert.ok(files.has(name), `missing ${name} in ${[...files.keys()].join(', ')}`);
  }
  // The initial, empty targets v1 and snapshot v1 stay, as in a real repository.
  assert.ok(files.has('1.targets.json') && files.has('1.snapshot.json'));
  assert.deepEqual(files.get(`targets/registry.npmjs.org/${keysSha512}.keys.json`), NPM_KEYS);

  // The published bytes are exactly what was signed, by the keys root and targets delegate to.
  const parse = (name: string) => JSON.parse(files.get(name)!.toString());
  const root = Metadata.fromJSON(MetadataKind.Root, parse('1.root.json'));
  const targets = Metadata.fromJSON(MetadataKind.Targets, parse('2.targets.json'));
  root.verifyDelegate('root', root);
  root.verifyDelegate('timestamp', Metadata.fromJSON(MetadataKind.Timestamp, parse('timestamp.json')));
  root.verifyDelegate('snapshot', Metadata.fromJSON(MetadataKind.Snapshot, parse('2.snapshot.json')));
  root.verifyDelegate('targets', targets);
  targets.verifyDelegate('registry.npmjs.org', Metadata.fromJSON(MetadataKind.Targets, parse('1.registry.npmjs.org.json')));
  assert.deepEqual(repo.metadataBytes('timestamp'), files.get('timestamp.json'));
  assert.deepEqual(repo.serialize(repo.metadata('targets')), files.get('2.targets.json'));
  assert.deepEqual(targets.signed.targets['trusted_root.json'].custom, { sigstore: { usage: 'Unknown', status: 'Active' } });

  // Only what changed gets a new version; bumpTimestamp touches the timestamp alone.
  repo.addTarget('registry.npmjs.org/keys.json', Buffer.from('{}'), { role: 'registry.npmjs.org' });
  repo.publish();
  assert.ok(repo.files().has('2.registry.npmjs.org.json') && repo.files().has('3.snapshot.json') && !repo.files().has('3.targets.json'));
  repo.bumpTimestamp();
  assert.equal(repo.metadata('timestamp').signed.version, 4);
  assert.equal(repo.metadata('timestamp').signed.snapshotMeta.version, 3);

  // A removed target leaves the metadata; its files stay, like old versions.
  repo.removeTarget('trusted_root.json');
  repo.publish();
  assert.deepEqual(Object.keys(repo.metadata('targets').signed.targets), []);
  assert.ok(repo.files().has(`targets/${sha256(TRUSTED_ROOT)}.trusted_root.json`));
});

test('tuf-js Updater syncs a served repository from root v1 through root rotations', async (t) => {
  // Both key types: ed25519 by default, ECDSA P-256 for root, targets and the delegation.
  const repo = sigstoreLike({ sha512: true, roles: { root: { keys: 2, keyType: 'ecdsa' }, targets: { keyType: 'ecdsa-sha2-nistp256' } } });
  const oldRootKeys = repo.keys('root');
  assert.equal(repo.rotateRoot({ replaceKeys: ['root', 'timestamp'], newThreshold: { root: 2 } }), 2);
  assert.equal(repo.rotateRoot({ newThreshold: { root: 3, snapshot: 2 } }), 3);
  assert.equal(repo.threshold('root'), 3);
  assert.equal(repo.keys('snapshot').length, 2);

  // Root 2 is signed by the threshold of both root 1 and root 2 keys.
  const root1 = Metadata.fromJSON(MetadataKind.Root, JSON.parse(repo.rootBytes(1).toString()));
  const root2 = Metadata.fromJSON(MetadataKind.Root, JSON.parse(repo.rootBytes(2).toString()));
  root1.verifyDelegate('root', root2);
  root2.verifyDelegate('root', root2);
  assert.ok(oldRootKeys.every((k) => Object.hasOwn(root2.signatures, k.keyID)) && !oldRootKeys.some((k) => Object.hasOwn(root2.signed.keys, k.keyID)));

  const server = await serve(t, () => repo.files());
  const { metadataDir, updater } = client(t, server, repo.rootBytes(1));
  const u = updater();
  await u.refresh();
  assert.deepEqual(fs.readFileSync(path.join(metadataDir, 'root.json')), repo.rootBytes(3));
  assert.deepEqual(await download(u, 'trusted_root.json'), TRUSTED_ROOT);
  assert.deepEqual(await download(u, 'registry.npmjs.org/keys.json'), NPM_KEYS);
  // tuf-js asks for the name prefixed with the first listed hash: sha256.
  assert.ok(server.requests.includes(`targets/registry.npmjs.org/${sha256(NPM_KEYS)}.keys.json`), server.requests.join(' '));
  assert.deepEqual(server.requests.slice(0, 3), ['2.root.json', '3.root.json', '4.root.json']);
});

test('a root rotation without the old root keys, or a foreign-key timestamp, makes Updater.refresh reject', async (t) => {
  const repo = sigstoreLike();
  const server = await serve(t, () => repo.files());
  const { updater } = client(t, server, repo.rootBytes(1));

  const newKey = generateKey();
  const unapproved = repo.metadata('root');
  Object.assign(unapproved.signed, { version: 2 }).addKey(newKey.key, 'root');
  server.override('2.root.json', { body: repo.signWith(unapproved, [newKey]), times: 1 });
  await assert.rejects(updater().refresh(), /root was signed by 0\/1 keys/);

  const foreign = repo.forge('timestamp', (s) => s.version++, [generateKey()]);
  server.override('timestamp.json', { body: foreign, times: 1 });
  await assert.rejects(updater().refresh(), /timestamp was signed by 0\/1 keys/);

  // The forgeries changed nothing: the honest repository still syncs.
  await updater().refresh();
});

test('too few signatures, an expired timestamp and rollbacks make Updater.refresh reject', async (t) => {
  const repo = sigstoreLike({ roles: { timestamp: { keys: 3, threshold: 2 } } });
  repo.bumpTimestamp();
  const server = await serve(t, () => repo.files());
  const { updater } = client(t, server, repo.rootBytes(1));
  await updater().refresh();
  const before = repo.files();
  const { version } = repo.metadata('timestamp').signed;

  const cases: [string, Buffer, RegExp][] = [
    ['too few signatures', repo.forge('timestamp', (s) => s.version++, repo.keys('timestamp').slice(0, 1)), /signed by 1\/2 keys/],
    [
      'expired',
      repo.forge('timestamp', (s) => {
        s.version++;
        s.expires = tufDate(PAST);
      }),
      /timestamp.json is expired/,
    ],
    ['older timestamp', repo.metadataBytes('timestamp', version - 1), /New timestamp version \d+ is less than current version/],
    [
      'older snapshot',
      repo.forge('timestamp', (s) => {
        s.version++;
        s.meta['snapshot.json'].version--;
      }),
      /New snapshot version \d+ is less than current version/,
    ],
  ];
  for (const [name, body, error] of cases) {
    const remove = server.override('timestamp.json', { body });
    await assert.rejects(updater().refresh(), error, name);
    remove();
  }
  assert.deepEqual(repo.files(), before);
  await updater().refresh();
});

test('setExpiry applies at the next publish; consistent_snapshot false serves plain names from a directory', async (t) => {
  const repo = sigstoreLike({ consistentSnapshot: false, metaHashes: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-helpers-repo-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const names = [...repo.files().keys()].sort();
  assert.deepEqual(names, ['1.root.json', 'registry.npmjs.org.json', 'snapshot.json', 'targets.json', 'targets/registry.npmjs.org/keys.json', 'targets/trusted_root.json', 'timestamp.json']);
  assert.deepEqual(repo.targetFiles('registry.npmjs.org/keys.json'), ['targets/registry.npmjs.org/keys.json']);
  assert.equal(repo.metadata('timestamp').signed.snapshotMeta.length, repo.metadataBytes('snapshot').length);

  const server = await serve(t, dir);
  const { updater } = client(t, server, repo.rootBytes(1));
  repo.setExpiry('timestamp', PAST);
  repo.publish();
  await repo.writeTo(dir);
  await assert.rejects(updater().refresh(), /timestamp.json is expired/);

  repo.setExpiry('timestamp', new Date(Date.now() + 3600_000));
  repo.publish();
  await repo.writeTo(dir);
  assert.deepEqual(await download(updater(), 'registry.npmjs.org/keys.json'), NPM_KEYS);

  // With metaHashes, a tampered snapshot fails its hash check before its signature is looked at.
  repo.addTarget('new.txt', 'new');
  repo.publish();
  await repo.writeTo(dir);
  server.override('snapshot.json', { body: flipByte(repo.metadataBytes('snapshot')) });
  await assert.rejects(updater().refresh(), /Expected hash/);
});

test('a target whose bytes do not match its hash makes downloadTarget reject', async (t) => {
  const repo = sigstoreLike();
  const server = await serve(t, repo.files());
  const { updater } = client(t, server, repo.rootBytes(1));
  const [file] = repo.targetFiles('trusted_root.json');
  server.override(file, { body: flipByte(TRUSTED_ROOT) });
  await assert.rejects(download(updater(), 'trusted_root.json'), /Expected hash/);
});

/** One GET with a fresh connection (no keep-alive), reporting what arrived and when. */
function get(server: UpstreamServer, rel: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; ms: number }> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    http
      .get(`${server.url}/${rel}`, { agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), ms: Date.now() - start }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

test('upstream server: 200 with Content-Length, 404, status overrides by string or RegExp, times', async (t) => {
  const files = new Map([['a/b c.json', Buffer.from('{"x":1}')]]);
  const server = await serve(t, files);

  const ok = await get(server, 'a/b%20c.json');
  assert.equal(ok.status, 200);
  assert.equal(ok.headers['content-length'], '7');
  assert.deepEqual(ok.body, files.get('a/b c.json'));
  assert.equal((await get(server, 'missing.json')).status, 404);

  server.override(/\.json$/, { status: 503, times: 2 });
  const remove = server.override('a/b c.json', { status: 403 });
  assert.equal((await get(server, 'a/b%20c.json')).status, 403); // the latest override wins
  remove();
  assert.equal((await get(server, 'a/b%20c.json')).status, 503);
  assert.equal((await get(server, 'x.json')).status, 503);
  assert.equal((await get(server, 'a/b%20c.json')).status, 200); // `times` used up
  assert.deepEqual(server.requests, ['a/b c.json', 'missing.json', 'a/b c.json', 'a/b c.json', 'x.json', 'a/b c.json']);

  // A status override on the next root is what Updater.refresh sees.
  const repo = sigstoreLike();
  server.setSource(repo.files());
  server.override('2.root.json', { status: 500, times: 1 });
  await assert.rejects(client(t, server, repo.rootBytes(1)).updater().refresh(), /Failed to download/);
});

test('upstream server: delay, drip, replaced and oversized bodies', async (t) => {
  const file = Buffer.from('0123456789');
  const server = await serve(t, new Map([['f', file]]));

  server.override('f', { delayMs: 200, times: 1 });
  assert.ok((await get(server, 'f')).ms >= 190);

  server.override('f', { drip: { chunkSize: 2, intervalMs: 50 }, times: 1 });
  const dripped = await get(server, 'f');
  assert.deepEqual(dripped.body, file);
  assert.equal(dripped.headers['content-length'], '10');
  assert.ok(dripped.ms >= 4 * 50 - 10, `${dripped.ms} ms`);

  server.override('f', { body: '{not json', times: 1 });
  const replaced = await get(server, 'f');
  assert.equal(replaced.status, 200);
  assert.equal(replaced.body.toString(), '{not json');

  server.override('f', { oversizeTo: 10 * 1024 * 1024, times: 1 });
  const oversized = await get(server, 'f');
  assert.equal(oversized.headers['content-length'], undefined);
  assert.equal(oversized.body.length, 10 * 1024 * 1024);
  assert.deepEqual(oversized.body.subarray(0, 10), file);

  // tuf-js stops reading at its 16 KiB timestamp limit; the server must not hang on that.
  const repo = sigstoreLike();
  server.setSource(() => repo.files());
  server.override('timestamp.json', { oversizeTo: 10 * 1024 * 1024 });
  await assert.rejects(client(t, server, repo.rootBytes(1)).updater().refresh(), /Max length reached/);
  server.override('timestamp.json', { body: '{"signed": ' });
  await assert.rejects(client(t, server, repo.rootBytes(1)).updater().refresh(), SyntaxError);
});

test('upstream server: abrupt closes, setHandler, close() with keep-alive and in-flight responses', async (t) => {
  const server = await serve(t, new Map([['f', Buffer.alloc(1000, 'x')]]));

  server.override('f', { destroy: 'before-headers', times: 1 });
  await assert.rejects(get(server, 'f'), /socket hang up|ECONNRESET/);
  server.override('f', { destroy: 'mid-body', times: 1 });
  await assert.rejects(get(server, 'f'), /aborted|ECONNRESET/);

  server.setHandler((req, res, next) => (req.headers['x-test'] ? res.end('handled') : next()));
  assert.equal(await (await fetch(`${server.url}/f`, { headers: { 'x-test': '1' } })).text(), 'handled');
  assert.equal((await (await fetch(`${server.url}/f`)).arrayBuffer()).byteLength, 1000);
  server.setHandler(undefined);

  // close() must end an idle keep-alive connection (fetch keeps one), a drip waiting on its timer,
  // and an oversized response stalled by a client that does not read (waiting on backpressure).
  await (await fetch(`${server.url}/f`)).arrayBuffer();
  server.override('f', { drip: { chunkSize: 1, intervalMs: 1000 }, times: 1 });
  const dripping = get(server, 'f');
  server.override('f', { oversizeTo: 64 * 1024 * 1024, times: 1 });
  const stalled = await new Promise<http.IncomingMessage>((resolve) => http.get(`${server.url}/f`, { agent: false }, (res) => resolve(res.pause())));
  await new Promise((resolve) => setTimeout(resolve, 100));
  const start = Date.now();
  await server.close();
  assert.ok(Date.now() - start < 1000, `close took ${Date.now() - start} ms`);
  await assert.rejects(dripping);
  if (!stalled.destroyed) await once(stalled, 'close');
});
