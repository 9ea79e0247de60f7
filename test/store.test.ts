/** The store on its own: retention of versioned files, pruning, content addressing, migrations. */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import * as path from 'node:path';
import { SCHEMA_VERSION } from '../store/migrations';
import { Store } from '../store/store';
import { get, mirrorOfRepository, tempDir } from './helpers/mirror';
import { TestRepository } from './helpers/tuf-repo';

const repo = new TestRepository();
repo.addTarget('trusted_root.json', 'state 0\n');
repo.publish();

const env = mirrorOfRepository(repo, { retention: { servedGenerations: 3, keptGenerations: 4 } });

test('versioned files stay servable for the configured generations, then go; unversioned ones follow the current', async () => {
  assert.equal((await env.mirror.syncAll())[0].outcome, 'updated');
  const firstSnapshot = `${repo.metadata('snapshot').signed.version}.snapshot.json`;
  const firstTarget = repo.targetFiles('trusted_root.json')[0];
  const served = async (p: string) => (await get(`${env.mirror.url}/${p}`)).status;

  for (let i = 1; i <= 3; i++) {
    repo.addTarget('trusted_root.json', `state ${i}\n`);
    repo.publish();
    assert.equal((await env.mirror.syncAll())[0].outcome, 'updated');
    // Generations 1..i+1 exist; the newest 3 keep their versioned files servable.
    const expected = i + 1 <= 3 ? 200 : 404;
    assert.equal(await served(firstSnapshot), expected, `old snapshot after ${i} switches`);
    assert.equal(await served(firstTarget), expected, `old target after ${i} switches`);
  }
  assert.ok((await get(`${env.mirror.url}/timestamp.json`)).body.equals(repo.files().get('timestamp.json')!));
  assert.equal((await get(`${env.mirror.url}/targets/trusted_root.json`)).body.toString(), 'state 3\n');
});

test('old generations are pruned with the blobs only they used; roots are kept', async () => {
  for (let i = 4; i <= 6; i++) {
    repo.addTarget('trusted_root.json', `state ${i}\n`);
    repo.publish();
    await env.mirror.syncAll();
  }
  const db = env.mirror.store.db;
  const generations = db.prepare('SELECT count(*) AS n FROM generations').get() as { n: number };
  assert.equal(generations.n, 4);
  const orphans = db
    .prepare('SELECT count(*) AS n FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM generation_files f WHERE f.sha256 = b.sha256) AND NOT EXISTS (SELECT 1 FROM roots r WHERE r.sha256 = b.sha256)')
    .get() as { n: number };
  assert.equal(orphans.n, 0);
  assert.equal(env.mirror.store.roots('sigstore').length, 1);
  assert.deepEqual(env.mirror.store.checkIntegrity(), []);
  // Runs outlive the generations they produced.
  assert.equal(env.mirror.store.syncRuns('sigstore').length, 7);
});

test('identical files are stored once', () => {
  const db = env.mirror.store.db;
  const { files, blobs } = db
    .prepare('SELECT (SELECT count(*) FROM generation_files) AS files, (SELECT count(DISTINCT sha256) FROM generation_files) AS blobs')
    .get() as { files: number; blobs: number };
  assert.ok(files > blobs, `${files} file entries share ${blobs} blobs`);
});

test('migrations: reopening is a no-op; a store from a newer tuf-mirror is refused', () => {
  const dir = tempDir();
  Store.open(dir).close();
  const store = Store.open(dir);
  assert.equal(store.db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  store.close();
  const raw = new Database(path.join(dir, 'tuf-mirror.db'));
  raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  raw.close();
  assert.throws(() => Store.open(dir), /newer than this tuf-mirror knows/);
});

test('the sync lock: held by a live owner, taken over once stale', () => {
  const store = Store.open(tempDir());
  try {
    store.ensureRepository('r', 'http://x');
    assert.equal(store.acquireSyncLock('r', 'a', 60_000), true);
    assert.equal(store.acquireSyncLock('r', 'b', 60_000), false);
    assert.equal(store.acquireSyncLock('r', 'b', 0), true, 'stale after staleMs without heartbeat');
    store.releaseSyncLock('r', 'b');
    assert.equal(store.acquireSyncLock('r', 'a', 60_000), true);
  } finally {
    store.close();
  }
});
