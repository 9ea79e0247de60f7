/**
 * `publish` on the real public-good repository (test/fixtures, clock pinned to when it is valid):
 * the published tree holds every file the upstream published, byte for byte, plus the
 * unversioned names, and tuf-js reads trusted_root.json from it through a plain static server.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, mock, test } from 'node:test';
import { Updater } from 'tuf-js';
import { publishRepository } from '../../publish/publish';
import type { Service } from '../../server/service';
import { FIXTURE, FIXTURE_NOW, readTree, startMirror, tempDir, testConfig } from '../helpers/mirror';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const TRUSTED_ROOT = 'targets/6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66.trusted_root.json';
let upstream: UpstreamServer;
let mirror: Service;
let staticServer: UpstreamServer;
const dir = path.join(tempDir(), 'www');

before(async () => {
  mock.timers.enable({ apis: ['Date'], now: FIXTURE_NOW });
  upstream = await startUpstreamServer(FIXTURE);
  mirror = await startMirror(testConfig([{ upstream: upstream.url, anchor: path.join(FIXTURE, '1.root.json') }]));
  assert.equal((await mirror.syncAll())[0].outcome, 'updated');
  staticServer = await startUpstreamServer(dir);
});
after(async () => {
  await staticServer.close();
  await mirror.close();
  await upstream.close();
  mock.timers.reset();
});

test('the published tree is the upstream layout byte for byte, plus the unversioned names', () => {
  const result = publishRepository(mirror.store, 'sigstore', dir);
  assert.equal(result.files, 47);
  const published = readTree(dir);
  const upstreamFiles = readTree(FIXTURE);
  for (const [p, bytes] of upstreamFiles) assert.ok(published.get(p)?.equals(bytes), `${p} as the upstream published it`);
  const extra = [...published.keys()].filter((p) => !upstreamFiles.has(p)).sort();
  assert.deepEqual(
    extra.filter((p) => !p.startsWith('targets/')),
    ['registry.npmjs.org.json', 'root.json', 'snapshot.json', 'targets.json'],
  );
  assert.ok(published.get('targets/trusted_root.json')!.equals(upstreamFiles.get(TRUSTED_ROOT)!));
  assert.ok(published.get('root.json')!.equals(upstreamFiles.get('15.root.json')!));
});

test('tuf-js, from root v1, reads trusted_root.json from a static server of the tree', async () => {
  const work = tempDir();
  fs.writeFileSync(path.join(work, 'root.json'), fs.readFileSync(path.join(FIXTURE, '1.root.json')));
  const updater = new Updater({ metadataDir: work, metadataBaseUrl: staticServer.url, targetBaseUrl: `${staticServer.url}/targets`, targetDir: work });
  await updater.refresh();
  const info = await updater.getTargetInfo('trusted_root.json');
  assert.ok(info);
  const file = path.join(work, 'trusted_root.json');
  await updater.downloadTarget(info, file);
  assert.ok(fs.readFileSync(file).equals(fs.readFileSync(path.join(FIXTURE, TRUSTED_ROOT))));
});
