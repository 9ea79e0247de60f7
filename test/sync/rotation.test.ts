/**
 * Root rotations in a repository built here: keys replaced, thresholds changed. The mirror
 * follows every step, keeps every N.root.json, and a client holding only an old root follows
 * the chain through the env.mirror.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Updater } from 'tuf-js';
import { get, mirrorOfRepository, startMirror, tempDir, testConfig } from '../helpers/mirror';
import { TestRepository } from '../../testing/tuf-repo';

// ECDSA P-256, as Sigstore signs.
const repo = new TestRepository({ keyType: 'ecdsa', roles: { root: { keys: 3, threshold: 2 } } });
repo.addTarget('trusted_root.json', 'v1\n');
repo.publish();

const env = mirrorOfRepository(repo);

async function clientFromRoot(version: number): Promise<{ root: number; trustedRoot: string }> {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'root.json'), repo.rootBytes(version));
  const updater = new Updater({ metadataDir: dir, metadataBaseUrl: env.mirror.url, targetBaseUrl: `${env.mirror.url}/targets`, targetDir: dir });
  await updater.refresh();
  const info = await updater.getTargetInfo('trusted_root.json');
  assert.ok(info);
  const file = await updater.downloadTarget(info, path.join(dir, 'trusted_root.json'));
  const root = JSON.parse(fs.readFileSync(path.join(dir, 'root.json'), 'utf8')).signed.version as number;
  return { root, trustedRoot: fs.readFileSync(file, 'utf8') };
}

test('the mirror follows root rotations that replace keys and change thresholds', async () => {
  assert.equal((await env.mirror.syncAll())[0].outcome, 'updated');

  // v2: new root and timestamp keys, root threshold 2 → 3.
  repo.rotateRoot({ replaceKeys: ['root', 'timestamp'], newThreshold: { root: 3 }, keyCount: { root: 4 } });
  repo.addTarget('trusted_root.json', 'v2\n');
  repo.publish();
  // v3: new targets keys with threshold 2, ed25519 this time (the key type changes, as it did upstream at root 9).
  repo.rotateRoot({ replaceKeys: ['targets', 'snapshot'], newThreshold: { targets: 2 }, keyCount: { targets: 2 }, keyType: 'ed25519' });
  repo.addTarget('trusted_root.json', 'v3\n');
  repo.publish();

  const [result] = await env.mirror.syncAll();
  assert.equal(result.outcome, 'updated', JSON.stringify(result));
  assert.deepEqual(result.generation.summary.rootVersions, [1, 2, 3]);
  assert.deepEqual(
    env.mirror.store.roots('sigstore').map((r) => r.version),
    [1, 2, 3],
  );
  for (const v of [1, 2, 3]) {
    const res = await get(`${env.mirror.url}/${v}.root.json`);
    assert.ok(res.body.equals(repo.rootBytes(v)), `${v}.root.json byte for byte`);
  }
  assert.ok((await get(`${env.mirror.url}/root.json`)).body.equals(repo.rootBytes(3)));
});

test('clients starting from any root in the chain follow it through the mirror', async () => {
  for (const from of [1, 2, 3]) {
    const { root, trustedRoot } = await clientFromRoot(from);
    assert.equal(root, 3, `client from root v${from}`);
    assert.equal(trustedRoot, 'v3\n');
  }
});

test('the next sync starts from the newest held root, not from the anchor', async () => {
  const oldRootKeys = repo
    .keys('root')
    .map((k) => k.keyID)
    .sort();
  repo.rotateRoot({ replaceKeys: ['root'] });
  repo.publish();
  const newRootKeys = repo
    .keys('root')
    .map((k) => k.keyID)
    .sort();
  const before = env.upstream.requests.length;
  const [result] = await env.mirror.syncAll();
  assert.equal(result.outcome, 'updated');
  // Roots 2 and 3 are not fetched again: the walk starts at 4.
  const fetchedRoots = env.upstream.requests.slice(before).filter((p) => p.endsWith('.root.json'));
  assert.deepEqual(fetchedRoots, ['4.root.json', '5.root.json']);
  assert.equal((await clientFromRoot(1)).root, 4);

  // Exactly one rotation event for v3 → v4, naming the root key ids added and removed.
  const { events } = JSON.parse((await get(`${env.mirror.url}/api/v1/repositories/sigstore/events?kind=root-rotation`)).body.toString());
  const v4 = events.filter((e: { data: { toVersion: number } }) => e.data.toVersion === 4);
  assert.equal(v4.length, 1);
  assert.equal(v4[0].severity, 'warning');
  assert.deepEqual(v4[0].data.changes, [{ role: 'root', keysAdded: newRootKeys, keysRemoved: oldRootKeys, thresholdFrom: 3, thresholdTo: 3 }]);
  // The earlier rotations (v1 → v2 → v3, seen after the first generation) are events too, not history.
  assert.deepEqual(events.map((e: { data: { fromVersion: number; toVersion: number; initial: boolean } }) => `${e.data.fromVersion}>${e.data.toVersion}${e.data.initial ? ' initial' : ''}`).sort(), [
    '1>2',
    '2>3',
    '3>4',
  ]);
  const roots = JSON.parse((await get(`${env.mirror.url}/api/v1/repositories/sigstore/roots`)).body.toString()).roots;
  assert.deepEqual(
    roots.map((r: { version: number }) => r.version),
    [1, 2, 3, 4],
  );
  assert.equal(roots[1].roles.root.threshold, 3);
  assert.deepEqual(roots[3].roles.root.keyids.sort(), newRootKeys);
});

test('a trust anchor from another repository is refused, and nothing changes', async () => {
  const other = new TestRepository();
  const config = testConfig([{ upstream: env.upstream.url, anchor: other.rootBytes(1) }], {}, env.mirror.store.dataDir);
  const foreign = await startMirror({ ...config, server: { host: '127.0.0.1', port: 0 } });
  try {
    const [result] = await foreign.syncAll();
    assert.equal(result.outcome, 'failed');
    assert.equal(result.error.code, 'TRUST_ANCHOR_INVALID');
    assert.deepEqual(
      foreign.store.roots('sigstore').map((r) => r.version),
      [1, 2, 3, 4],
    );
  } finally {
    await foreign.close();
  }
});
