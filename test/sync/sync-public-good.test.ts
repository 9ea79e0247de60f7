/**
 * The real public-good Sigstore repository, synced over real HTTP and read back by real TUF
 * clients (tuf-js and @sigstore/tuf) through the mirror.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, mock, test } from 'node:test';
import { initTUF, getTrustedRoot } from '@sigstore/tuf';
import { Updater } from 'tuf-js';
import { FIXTURE, FIXTURE_NOW, get, readTree, startMirror, tempDir, testConfig } from '../helpers/mirror';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';
import type { Service } from '../../server/service';

const fixture = readTree(FIXTURE);
const trustedRootBytes = fixture.get('targets/6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66.trusted_root.json')!;

let upstream: UpstreamServer;
before(async () => {
  mock.timers.enable({ apis: ['Date'], now: FIXTURE_NOW });
  upstream = await startUpstreamServer(FIXTURE);
});
after(async () => {
  await upstream.close();
  mock.timers.reset();
});

for (const anchorVersion of [1, 14]) {
  describe(`public-good repository from root v${anchorVersion}`, () => {
    let mirror: Service;
    const anchorPath = path.join(FIXTURE, `${anchorVersion}.root.json`);

    before(async () => {
      mirror = await startMirror(testConfig([{ upstream: upstream.url, anchor: anchorPath }]));
    });
    after(() => mirror.close());

    test('a sync verifies and commits the whole repository', async () => {
      const [result] = await mirror.syncAll();
      assert.equal(result.outcome, 'updated', JSON.stringify(result));
      assert.deepEqual(
        result.generation.summary.roles.map((r) => `${r.role}@${r.version}`),
        ['root@15', 'timestamp@762', 'snapshot@165', 'targets@14', 'registry.npmjs.org@8'],
      );
      assert.equal(result.generation.summary.rootVersions[0], anchorVersion);
      assert.equal(result.generation.summary.targets.length, 12);
    });

    test('every file of the upstream layout is served byte for byte', async () => {
      for (const [rel, bytes] of fixture) {
        const rootVersion = /^(\d+)\.root\.json$/.exec(rel);
        const expectHeld = !rootVersion || Number(rootVersion[1]) >= anchorVersion;
        for (const prefix of ['', '/sigstore']) {
          const res = await get(`${mirror.url}${prefix}/${rel}`);
          if (!expectHeld) {
            assert.equal(res.status, 404, rel);
            continue;
          }
          assert.equal(res.status, 200, `${prefix}/${rel}`);
          assert.ok(res.body.equals(bytes), `${prefix}/${rel} differs from upstream`);
        }
      }
      // The unversioned names clients without consistent snapshots ask for.
      assert.ok((await get(`${mirror.url}/root.json`)).body.equals(fixture.get('15.root.json')!));
      assert.ok((await get(`${mirror.url}/snapshot.json`)).body.equals(fixture.get('165.snapshot.json')!));
      assert.ok((await get(`${mirror.url}/targets.json`)).body.equals(fixture.get('14.targets.json')!));
      assert.ok((await get(`${mirror.url}/targets/trusted_root.json`)).body.equals(trustedRootBytes));
    });

    test("tuf-js's Updater reads the mirror and gets the identical trusted_root.json", async () => {
      const dir = tempDir();
      fs.copyFileSync(anchorPath, path.join(dir, 'root.json'));
      fs.mkdirSync(path.join(dir, 'targets'));
      const updater = new Updater({ metadataDir: dir, metadataBaseUrl: mirror.url, targetBaseUrl: `${mirror.url}/targets`, targetDir: path.join(dir, 'targets') });
      await updater.refresh();
      const info = await updater.getTargetInfo('trusted_root.json');
      assert.ok(info);
      const file = await updater.downloadTarget(info);
      assert.ok(fs.readFileSync(file).equals(trustedRootBytes));
      // The delegated role is reachable through the mirror too.
      const npm = await updater.getTargetInfo('registry.npmjs.org/keys.json');
      assert.ok(npm);
      const npmFile = await updater.downloadTarget(npm, path.join(dir, 'keys.json'));
      assert.ok(fs.readFileSync(npmFile).equals(fixture.get('targets/registry.npmjs.org/160677eb6e1c7083c89b166b20f8fe4e837fb71181506aff1991b80b89184f7d.keys.json')!));
    });

    test('@sigstore/tuf with mirrorURL = the mirror gets the identical trusted root', async () => {
      const cachePath = tempDir();
      const tuf = await initTUF({ mirrorURL: mirror.url, rootPath: anchorPath, cachePath, forceInit: true });
      assert.equal(await tuf.getTarget('trusted_root.json'), trustedRootBytes.toString('utf8'));
      const root = await getTrustedRoot({ mirrorURL: mirror.url, rootPath: anchorPath, cachePath: tempDir(), forceInit: true });
      const expected = JSON.parse(trustedRootBytes.toString('utf8')) as { tlogs: unknown[]; certificateAuthorities: unknown[] };
      assert.equal(root.tlogs.length, expected.tlogs.length);
      assert.equal(root.certificateAuthorities.length, expected.certificateAuthorities.length);
    });

    test('a sync that finds nothing new costs two requests and writes no generation', async () => {
      const before = upstream.requests.length;
      const [result] = await mirror.syncAll();
      assert.equal(result.outcome, 'unchanged');
      assert.deepEqual(upstream.requests.slice(before), ['16.root.json', 'timestamp.json']);
      assert.equal(result.requests, 2);
      assert.equal(mirror.store.currentGeneration('sigstore')!.id, 1);
    });
  });
}
