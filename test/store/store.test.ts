/** The store on its own: retention of versioned files, pruning, content addressing, migrations. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { migrate, SCHEMA_VERSION } from '../../store/migrations';
import { Store } from '../../store/store';
import { get, mirrorOfRepository, tempDir } from '../helpers/mirror';
import { TestRepository } from '../../testing/tuf-repo';

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
  const db = env.mirror.store.databaseForTests();
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
  const db = env.mirror.store.databaseForTests();
  const { files, blobs } = db.prepare('SELECT (SELECT count(*) FROM generation_files) AS files, (SELECT count(DISTINCT sha256) FROM generation_files) AS blobs').get() as {
    files: number;
    blobs: number;
  };
  assert.ok(files > blobs, `${files} file entries share ${blobs} blobs`);
});

test('migrations: reopening is a no-op; a store from a newer tuf-mirror is refused', () => {
  const dir = tempDir();
  Store.open(dir).close();
  const store = Store.open(dir);
  assert.equal(store.databaseForTests().pragma('user_version', { simple: true }), SCHEMA_VERSION);
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

test('the data dir is owner-only (0700), the database and its -wal/-shm files 0600', () => {
  const parent = tempDir();
  const dir = path.join(parent, 'data');
  const store = Store.open(dir);
  store.ensureRepository('sigstore', 'https://tuf.example');
  const mode = (f: string): string => (fs.statSync(f).mode & 0o777).toString(8);
  assert.equal(mode(dir), '700');
  for (const f of ['tuf-mirror.db', 'tuf-mirror.db-wal', 'tuf-mirror.db-shm']) assert.equal(mode(path.join(dir, f)), '600', f);
  store.close();
  // A data dir and database an older version left open to others are tightened on open.
  fs.chmodSync(dir, 0o755);
  fs.chmodSync(path.join(dir, 'tuf-mirror.db'), 0o644);
  Store.open(dir).close();
  assert.equal(mode(dir), '700');
  assert.equal(mode(path.join(dir, 'tuf-mirror.db')), '600');
});

test('upstream credentials are never stored; a database that holds some from an older version loses them on open', () => {
  const dir = tempDir();
  const store = Store.open(dir);
  store.ensureRepository('sigstore', 'https://ci:hunter2@tuf.example/sigstore');
  assert.deepEqual(store.databaseForTests().prepare('SELECT upstream FROM repositories').all(), [{ upstream: 'https://tuf.example/sigstore' }]);
  // As schema version 2 wrote it: the configured URL, credentials and all, in repositories and sync runs.
  store.databaseForTests().prepare('UPDATE repositories SET upstream = ?').run('https://ci:hunter2@tuf.example/sigstore');
  const id = (store.databaseForTests().prepare('SELECT id FROM repositories').get() as { id: number }).id;
  store
    .databaseForTests()
    .prepare("INSERT INTO sync_runs (repository_id, source, started_at, outcome) VALUES (?, ?, '2026-01-01T00:00:00Z', 'failed')")
    .run(id, 'https://ci:hunter2@tuf.example/sigstore');
  store.close();
  // A genuine version 2 database: the schema as migrations 1 and 2 left it, with the rows above.
  const v2 = path.join(dir, 'v2.db');
  const raw = new Database(v2);
  migrate(raw, 2);
  const live = new Database(path.join(dir, 'tuf-mirror.db'), { readonly: true });
  for (const r of live.prepare('SELECT * FROM repositories').all() as { id: number; name: string; upstream: string; created_at: string }[]) {
    raw.prepare('INSERT INTO repositories (id, name, upstream, created_at) VALUES (?, ?, ?, ?)').run(r.id, r.name, r.upstream, r.created_at);
  }
  for (const r of live.prepare('SELECT * FROM sync_runs').all() as { repository_id: number; source: string; started_at: string; outcome: string }[]) {
    raw.prepare('INSERT INTO sync_runs (repository_id, source, started_at, outcome) VALUES (?, ?, ?, ?)').run(r.repository_id, r.source, r.started_at, r.outcome);
  }
  live.close();
  raw.close();
  for (const f of fs.readdirSync(dir).filter((f) => f.startsWith('tuf-mirror.db'))) fs.rmSync(path.join(dir, f));
  fs.renameSync(v2, path.join(dir, 'tuf-mirror.db'));
  const reopened = Store.open(dir);
  assert.deepEqual(reopened.databaseForTests().prepare('SELECT upstream FROM repositories').all(), [{ upstream: 'https://tuf.example/sigstore' }]);
  assert.deepEqual(reopened.databaseForTests().prepare('SELECT source FROM sync_runs').all(), [{ source: 'https://tuf.example/sigstore' }]);
  reopened.close();
  for (const f of fs.readdirSync(dir).filter((f) => f.startsWith('tuf-mirror.db'))) {
    assert.ok(!fs.readFileSync(path.join(dir, f)).includes('hunter2'), `${f} holds no trace of the password`);
  }
});
