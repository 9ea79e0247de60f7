/**
 * Export and import of the real public-good repository: a mirror synced over HTTP exports its
 * generation; fresh mirrors anchored at root v1 and at root v15 import it, verify it exactly as a
 * sync would, and serve it byte for byte to tuf-js.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, mock, test } from 'node:test';
import { Parser, type ReadEntry } from 'tar';
import { Updater } from 'tuf-js';
import type { Config } from '../../config/config';
import type { Service } from '../../server/service';
import { sha256Hex } from '../../store/store';
import { exportGeneration, ExportError } from '../../sync/export';
import { packTarGz } from '../../sync/archive-tar';
import { repositoryStatus } from '../../watch/status';
import { filesOf, importBytes, manifestOf, membersOf } from '../helpers/archive';
import { FIXTURE, FIXTURE_NOW, get, readTree, startMirror, tempDir, testConfig } from '../helpers/mirror';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const fixture = readTree(FIXTURE);
const TRUSTED_ROOT = 'targets/6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66.trusted_root.json';
const anchor = (v: number): string => path.join(FIXTURE, `${v}.root.json`);

let upstream: UpstreamServer;
let source: Service;
let sourceConfig: Config;
let archive: Buffer;
const mirrors: Service[] = [];

async function mirror(anchorVersion: number, upstreamUrl = 'http://127.0.0.1:9/unused'): Promise<{ mirror: Service; config: Config }> {
  const config = testConfig([{ upstream: upstreamUrl, anchor: anchor(anchorVersion) }]);
  const m = await startMirror(config);
  mirrors.push(m);
  return { mirror: m, config };
}

before(async () => {
  mock.timers.enable({ apis: ['Date'], now: FIXTURE_NOW });
  upstream = await startUpstreamServer(FIXTURE);
  ({ mirror: source, config: sourceConfig } = await mirror(1, upstream.url));
  const [synced] = await source.syncAll();
  assert.equal(synced.outcome, 'updated');
  archive = exportGeneration(source.store, sourceConfig.repositories[0]).bytes;
});
after(async () => {
  await Promise.all(mirrors.map((m) => m.close()));
  await upstream.close();
  mock.timers.reset();
});

describe('export', () => {
  test('holds the generation in the upstream layout, exactly the files a TUF client downloads', async () => {
    const files = await filesOf(archive);
    assert.deepEqual([...files.keys()].sort(), [...fixture.keys()].sort());
    for (const [p, bytes] of files) assert.ok(bytes.equals(fixture.get(p)!), p);
  });

  test('starts with a manifest: repository, generation, versions, expiry, sha256 of every file', async () => {
    const members = [...(await membersOf(archive)).keys()];
    assert.equal(members[0], 'manifest.json');
    assert.deepEqual(members.slice(1), [...members.slice(1)].sort(), 'members sorted');
    const manifest = await manifestOf(archive);
    const generation = source.store.currentGeneration('sigstore')!;
    assert.equal(manifest.format, 'tuf-mirror-archive');
    assert.equal(manifest.formatVersion, 1);
    assert.equal(manifest.repository, 'sigstore');
    assert.equal(manifest.upstream, upstream.url);
    assert.equal(manifest.generation, generation.id);
    assert.equal(manifest.createdAt, generation.createdAt, 'created-at is the generation’s, not the export’s');
    assert.equal(manifest.consistentSnapshot, true);
    assert.deepEqual(
      manifest.roots,
      Array.from({ length: 15 }, (_, i) => i + 1),
    );
    assert.equal(manifest.sinceRoot, null);
    assert.deepEqual(
      manifest.roles.map((r) => `${r.role}@${r.version}@${r.expires}`),
      ['root@15@2026-11-20T13:58:18Z', 'timestamp@762@2026-08-28T19:25:56Z', 'snapshot@165@2036-05-15T08:09:16Z', 'targets@14@2036-05-09T09:00:52Z', 'registry.npmjs.org@8@2026-10-13T19:45:24Z'],
    );
    assert.deepEqual(Object.keys(manifest.files).sort(), [...fixture.keys()].sort());
    for (const [p, bytes] of fixture) assert.deepEqual(manifest.files[p], { length: bytes.length, sha256: sha256Hex(bytes) }, p);
  });

  test('the same generation exports to the same bytes: fixed headers, sorted members', async () => {
    assert.ok(exportGeneration(source.store, sourceConfig.repositories[0]).bytes.equals(archive), 'twice from one mirror');
    // Another mirror that verified the same repository from the same anchor holds the same generation.
    const { mirror: twin, config } = await mirror(1, upstream.url);
    assert.equal((await twin.syncAll())[0].outcome, 'updated');
    assert.ok(exportGeneration(twin.store, config.repositories[0]).bytes.equals(archive), 'from an independent mirror');

    // gzip: no mtime, no name, OS "unknown"; tar: mtime 0, root-owned, 0644, regular files only.
    assert.deepEqual([...archive.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255]);
    const headers: { path: string; mtime: number; uid: number; gid: number; mode: number; type: string; uname: string }[] = [];
    const parser = new Parser();
    parser.on('entry', (e: ReadEntry) => {
      headers.push({ path: e.path, mtime: e.mtime!.getTime(), uid: e.uid!, gid: e.gid!, mode: e.mode!, type: e.type, uname: e.uname ?? '' });
      e.resume();
    });
    await new Promise<void>((resolve, reject) =>
      Readable.from([archive])
        .pipe(parser as unknown as NodeJS.WritableStream)
        .on('finish', resolve)
        .on('error', reject),
    );
    assert.equal(headers.length, fixture.size + 1);
    for (const h of headers) assert.deepEqual({ ...h, path: '' }, { path: '', mtime: 0, uid: 0, gid: 0, mode: 0o644, type: 'File', uname: '' }, h.path);
  });

  test('--since-root N leaves out the roots the receiving side holds', async () => {
    const since = exportGeneration(source.store, sourceConfig.repositories[0], { sinceRoot: 14 });
    const files = await filesOf(since.bytes);
    assert.deepEqual(
      [...files.keys()].filter((p) => p.endsWith('.root.json')),
      ['15.root.json'],
    );
    assert.equal(files.size, fixture.size - 14);
    assert.deepEqual(since.manifest.roots, [15]);
    assert.equal(since.manifest.sinceRoot, 14);
    assert.throws(
      () => exportGeneration(source.store, sourceConfig.repositories[0], { sinceRoot: 16 }),
      (e: unknown) => e instanceof ExportError && e.code === 'SINCE_ROOT',
    );
  });

  test('the container round-trips long paths (pax headers) and empty members', async () => {
    const long = `repository/targets/${'d/'.repeat(150)}x.json`;
    const packed = packTarGz([
      { path: 'manifest.json', bytes: Buffer.from('{}') },
      { path: long, bytes: Buffer.alloc(1000, 7) },
      { path: 'repository/empty', bytes: Buffer.alloc(0) },
    ]);
    assert.ok(packTarGz([{ path: long, bytes: Buffer.alloc(1000, 7) }]).equals(packTarGz([{ path: long, bytes: Buffer.alloc(1000, 7) }])));
    const members = await membersOf(packed);
    assert.deepEqual([...members.keys()], ['manifest.json', long, 'repository/empty']);
    assert.ok(members.get(long)!.equals(Buffer.alloc(1000, 7)));
    assert.equal(members.get('repository/empty')!.length, 0);
  });

  test('a repository that holds nothing has nothing to export', async () => {
    const { mirror: empty, config } = await mirror(1);
    assert.throws(
      () => exportGeneration(empty.store, config.repositories[0]),
      (e: unknown) => e instanceof ExportError && e.code === 'NOTHING_HELD',
    );
  });
});

for (const anchorVersion of [1, 15]) {
  describe(`import into a fresh mirror anchored at root v${anchorVersion}`, () => {
    let receiver: Service;
    let config: Config;
    before(async () => {
      ({ mirror: receiver, config } = await mirror(anchorVersion));
    });

    test('verifies the archive and commits it as a new generation', async () => {
      const result = await importBytes(receiver, config, archive);
      assert.equal(result.outcome, 'updated', JSON.stringify(result));
      assert.deepEqual(
        result.generation.summary.roles.map((r) => `${r.role}@${r.version}`),
        ['root@15', 'timestamp@762', 'snapshot@165', 'targets@14', 'registry.npmjs.org@8'],
      );
      assert.equal(result.generation.summary.rootVersions[0], anchorVersion, 'roots from its own anchor on');
      assert.equal(result.generation.summary.expiredMetadataAccepted, undefined);
      const run = receiver.store.lastSyncRun('sigstore')!;
      assert.equal(run.outcome, 'updated');
      assert.match(run.source, /^archive archive\.tar\.gz \(sha256:[0-9a-f]{64}\)$/);
      assert.equal(run.source, `archive archive.tar.gz (sha256:${sha256Hex(archive)})`);
    });

    test('serves every file byte for byte, as the exporting mirror does', async () => {
      for (const [rel, bytes] of fixture) {
        const rootVersion = /^(\d+)\.root\.json$/.exec(rel);
        const res = await get(`${receiver.url}/${rel}`);
        if (rootVersion && Number(rootVersion[1]) < anchorVersion) {
          assert.equal(res.status, 404, rel);
          continue;
        }
        assert.equal(res.status, 200, rel);
        assert.ok(res.body.equals(bytes), `${rel} differs`);
      }
      const sourceFiles = source.store.generationFiles(source.store.currentGeneration('sigstore')!.id);
      const received = receiver.store.generationFiles(receiver.store.currentGeneration('sigstore')!.id);
      for (const [p, sha] of sourceFiles) {
        const skipped = /^(\d+)\.root\.json$/.exec(p);
        if (skipped && Number(skipped[1]) < anchorVersion) continue;
        assert.equal(received.get(p), sha, p);
      }
      assert.ok((await get(`${receiver.url}/targets/trusted_root.json`)).body.equals(fixture.get(TRUSTED_ROOT)!));
    });

    test("tuf-js's Updater reads the receiving mirror and gets the identical trusted_root.json", async () => {
      const dir = tempDir();
      fs.copyFileSync(anchor(anchorVersion), path.join(dir, 'root.json'));
      const updater = new Updater({ metadataDir: dir, metadataBaseUrl: receiver.url, targetBaseUrl: `${receiver.url}/targets`, targetDir: dir });
      await updater.refresh();
      const info = await updater.getTargetInfo('trusted_root.json');
      assert.ok(info);
      assert.ok(fs.readFileSync(await updater.downloadTarget(info, path.join(dir, 'trusted_root.json'))).equals(fixture.get(TRUSTED_ROOT)!));
      const npm = await updater.getTargetInfo('registry.npmjs.org/keys.json');
      assert.ok(npm, 'the delegated role is reachable too');
    });

    test('importing the same archive again is a no-op', async () => {
      const generation = receiver.store.currentGeneration('sigstore')!.id;
      const result = await importBytes(receiver, config, archive);
      assert.equal(result.outcome, 'unchanged');
      assert.equal(result.generation.id, generation);
      assert.equal(receiver.store.currentGeneration('sigstore')!.id, generation);
      // TUF reads the next root and the timestamp; the timestamp equals the held one, so nothing more.
      assert.equal(result.requests, 2);
    });
  });
}

describe('--since-root archives', () => {
  test('a mirror holding root v15 imports an archive without roots v1..v14', async () => {
    const { mirror: receiver, config } = await mirror(15);
    const since = exportGeneration(source.store, sourceConfig.repositories[0], { sinceRoot: 14 }).bytes;
    const result = await importBytes(receiver, config, since);
    assert.equal(result.outcome, 'updated', JSON.stringify(result));
    assert.ok((await get(`${receiver.url}/timestamp.json`)).body.equals(fixture.get('timestamp.json')!));
  });

  test('a mirror still at root v1 is told which roots the archive lacks', async () => {
    const { mirror: receiver, config } = await mirror(1);
    const since = exportGeneration(source.store, sourceConfig.repositories[0], { sinceRoot: 14 }).bytes;
    const result = await importBytes(receiver, config, since);
    assert.equal(result.outcome, 'failed');
    assert.equal(result.error.code, 'ARCHIVE_INCOMPLETE');
    assert.equal(result.error.role, 'root');
    assert.match(result.error.message, /holds roots v15\.\.v15 but not v2.*--since-root 1 or lower/);
    assert.equal(receiver.store.currentGeneration('sigstore'), undefined);
    assert.deepEqual(receiver.store.roots('sigstore'), []);
  });
});

describe('expired metadata', () => {
  // 2026-09-01: the fixture's timestamp (valid until 2026-08-28T19:25:56Z) has expired.
  const LATER = Date.parse('2026-09-01T00:00:00Z');
  after(() => mock.timers.setTime(FIXTURE_NOW));

  test('is rejected by default, naming the role and its date; nothing is committed', async () => {
    const { mirror: receiver, config } = await mirror(1);
    mock.timers.setTime(LATER);
    const result = await importBytes(receiver, config, archive);
    assert.equal(result.outcome, 'failed');
    assert.equal(result.error.code, 'EXPIRED_METADATA');
    assert.equal(result.error.role, 'timestamp');
    assert.match(result.error.message, /timestamp v762 expired 2026-08-28T19:25:56Z/);
    assert.equal(receiver.store.currentGeneration('sigstore'), undefined);
    assert.deepEqual(receiver.store.roots('sigstore'), []);
    assert.equal((await get(`${receiver.url}/timestamp.json`)).status, 503);
  });

  test('--allow-expired imports it, verified in every other way, and marks the generation', async () => {
    const { mirror: receiver, config } = await mirror(1);
    mock.timers.setTime(LATER);
    const result = await importBytes(receiver, config, archive, { allowExpired: true });
    assert.equal(result.outcome, 'updated', JSON.stringify(result));
    assert.deepEqual(result.generation.summary.expiredMetadataAccepted, [{ role: 'timestamp', version: 762, expires: '2026-08-28T19:25:56Z' }]);
    // The mark is stored with the generation, and status and the watch side report it.
    assert.deepEqual(receiver.store.currentGeneration('sigstore')!.summary.expiredMetadataAccepted, result.generation.summary.expiredMetadataAccepted);
    const status = repositoryStatus(receiver.store, config.repositories[0], receiver.watcher.items(config.repositories[0]));
    assert.deepEqual(status.generation?.expiredMetadataAccepted, [{ role: 'timestamp', version: 762, expires: '2026-08-28T19:25:56Z' }]);
    assert.equal(status.roles.find((r) => r.role === 'timestamp')?.expired, true);
    const item = receiver.watcher.items(config.repositories[0]).find((i) => i.item === 'role:timestamp')!;
    assert.equal(item.state, 'expired');
    assert.match(item.message, /imported with --allow-expired/);
    assert.ok((await get(`${receiver.url}/timestamp.json`)).body.equals(fixture.get('timestamp.json')!));
  });
});
