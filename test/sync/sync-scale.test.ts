/**
 * Sync cost that grows with what changed (issue 18), asserted by what a run requests, reads and
 * writes, never by its time: a no-op reads its timestamp and nothing else; a timestamp-only
 * generation writes the same handful of rows at any repository size; one changed target (flat) or
 * bin (hash-bin) writes that bucket's rows and downloads that file, and the result is exactly what
 * a fresh mirror resolves; downloads run in parallel and a wrong byte fails only its target; blobs
 * written before a commit survive a prune in another process and are collected once their run is
 * over; a store written before blocks (schema 4) migrates and keeps serving.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, mock, test } from 'node:test';
import { Updater } from 'tuf-js';
import YAML from 'yaml';
import type { RepositoryConfig } from '../../config/config';
import { silentLogger } from '../../lib/log';
import { packageRoot } from '../../lib/paths';
import { FileIndex } from '../../server/file-index';
import { SCHEMA_VERSION } from '../../store/migrations';
import { Store } from '../../store/store';
import { syncRepository, type SyncOptions, type SyncResult } from '../../sync/sync';
import { get, readTree, startMirror, tempDir, testConfig } from '../helpers/mirror';
import { flipByte, TestRepository } from '../../testing/tuf-repo';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const CLI = path.join(packageRoot(), 'dist', 'cli', 'main.js');
const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const upstreams: UpstreamServer[] = [];
after(async () => {
  for (const u of upstreams) await u.close();
});

type Env = { repo: TestRepository; upstream: UpstreamServer; store: Store; repository: RepositoryConfig; dataDir: string };

async function environment(repo: TestRepository, name = 'scale'): Promise<Env> {
  const upstream = await startUpstreamServer(() => repo.files());
  upstreams.push(upstream);
  const config = testConfig([{ name, upstream: upstream.url, anchor: repo.rootBytes(1) }]);
  return { repo, upstream, store: Store.open(config.dataDir), repository: config.repositories[0], dataDir: config.dataDir };
}

async function sync(env: Pick<Env, 'store' | 'repository'>, extra: Partial<SyncOptions> = {}): Promise<SyncResult & { outcome: 'updated' | 'unchanged' }> {
  const result = await syncRepository({ store: env.store, repository: env.repository, logger: silentLogger, ...extra });
  assert.notEqual(result.outcome, 'failed', JSON.stringify(result));
  assert.ok(result.outcome !== 'failed');
  return result;
}

const TABLES = ['generations', 'blocks', 'block_files', 'block_targets', 'file_sets', 'file_set_blocks', 'blobs'] as const;
function rowCounts(store: Store): Record<(typeof TABLES)[number], number> {
  return Object.fromEntries(TABLES.map((t) => [t, (store.databaseForTests().prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n])) as Record<(typeof TABLES)[number], number>;
}
function delta(before: Record<string, number>, now: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.keys(now).map((k) => [k, now[k] - before[k]]));
}

/** Store's own helpers, which only the methods above call. */
const PRIVATE = new Set(['sql', 'repositoryId', 'requireRepositoryId', 'toGeneration', 'record', 'fileSetBlocks', 'insertBlock', 'insertFileSet', 'leased', 'insertEvents']);

/** Every Store method called while `run` runs, with its arguments. */
async function storeCalls(store: Store, run: () => Promise<void> | void): Promise<{ method: string; args: unknown[] }[]> {
  const calls: { method: string; args: unknown[] }[] = [];
  // Own properties shadowing the prototype's methods, deleted after: a spy on every call, private helpers too.
  const instance = store as unknown as Record<string, (...args: unknown[]) => unknown>;
  const methods = Object.getOwnPropertyNames(Store.prototype).filter((m) => m !== 'constructor' && typeof instance[m] === 'function');
  for (const m of methods) {
    const original = instance[m];
    instance[m] = function (this: unknown, ...args: unknown[]) {
      calls.push({ method: m, args });
      return original.apply(this, args);
    };
  }
  try {
    await run();
  } finally {
    for (const m of methods) Reflect.deleteProperty(instance, m);
  }
  return calls;
}

/** What a mirror holds: every file (path → sha256) and every resolution of its current generation. */
function holdings(store: Store, name: string): { files: [string, string][]; targets: unknown[] } {
  const id = store.currentGeneration(name)!.id;
  return { files: [...store.generationFiles(id)].sort(), targets: store.resolvedTargets(id) };
}

function flatRepository(targets: number): TestRepository {
  const repo = new TestRepository();
  for (let i = 0; i < targets; i++) repo.addTarget(`file-${i}.txt`, `file ${i}\n`);
  repo.addTarget('trusted_root.json', '{}\n');
  repo.publish();
  return repo;
}

describe('a no-op sync', () => {
  test('makes its two requests, commits nothing, and reads nothing but the roots and the held timestamp', async () => {
    const env = await environment(flatRepository(50));
    const first = await sync(env);
    const requests = env.upstream.requests.length;
    const rows = rowCounts(env.store);
    let result: SyncResult | undefined;
    const calls = await storeCalls(env.store, async () => {
      result = await sync(env);
    });
    assert.equal(result?.outcome, 'unchanged');
    assert.equal(result.generation.id, first.generation.id);
    assert.deepEqual(env.upstream.requests.slice(requests), ['2.root.json', 'timestamp.json']);
    assert.deepEqual(delta(rows, rowCounts(env.store)), { generations: 0, blocks: 0, block_files: 0, block_targets: 0, file_sets: 0, file_set_blocks: 0, blobs: 0 });
    const allowed = new Set([
      'ensureRepository',
      'acquireSyncLock',
      'heartbeatSyncLock',
      'releaseSyncLock',
      'startSyncRun',
      'finishSyncRun',
      'currentGeneration',
      'roots',
      'blob',
      'generationFile',
      'generationBody',
    ]);
    const other = calls.filter((c) => !allowed.has(c.method) && !PRIVATE.has(c.method)).map((c) => c.method);
    assert.deepEqual(other, [], 'nothing else is read or written');
    assert.deepEqual(
      calls.filter((c) => c.method === 'generationFile').map((c) => c.args[1]),
      ['timestamp.json'],
    );
    assert.equal(calls.filter((c) => c.method === 'blob').length, env.store.roots('scale').length + 1, 'blobs read: the roots and the timestamp');
  });

  test('does not stand when a role it holds has expired since: the run then fails as it always did', async () => {
    const repo = flatRepository(3);
    repo.setExpiry('snapshot', new Date(Date.now() + 60_000));
    repo.publish();
    const env = await environment(repo);
    await sync(env);
    const later = new Date(Date.now() + 120_000);
    mock.timers.enable({ apis: ['Date'], now: later });
    try {
      const result = await syncRepository({ store: env.store, repository: env.repository, logger: silentLogger });
      assert.equal(result.outcome, 'failed');
      assert.equal(result.error.code, 'EXPIRED_METADATA');
      assert.equal(result.error.role, 'snapshot');
    } finally {
      mock.timers.reset();
    }
  });
});

describe('a timestamp-only generation', () => {
  for (const variant of ['flat', 'hash-bin'] as const) {
    test(`${variant}: writes the same rows at 20 and at 400 targets, and a server switches to it reading one file`, async () => {
      const written: Record<string, number>[] = [];
      for (const size of [20, 400]) {
        const repo = variant === 'flat' ? flatRepository(size) : hashBinRepository(size, 'succinct');
        const env = await environment(repo);
        await sync(env);
        const index = new FileIndex(env.store, [{ ...env.repository, default: true }], 5);
        index.reload();
        const body = index.lookup('scale', 'targets/trusted_root.json');
        repo.bumpTimestamp();
        const rows = rowCounts(env.store);
        const requests = env.upstream.requests.length;
        const result = await sync(env);
        assert.equal(result.outcome, 'updated');
        assert.deepEqual(env.upstream.requests.slice(requests), ['2.root.json', 'timestamp.json']);
        written.push(delta(rows, rowCounts(env.store)));
        // The server: the new timestamp read, nothing else.
        const calls = await storeCalls(env.store, () => assert.deepEqual(index.reload(), ['scale']));
        assert.deepEqual(calls.filter((c) => c.method === 'blockFiles').length, 1, 'one block read: the head');
        assert.deepEqual(calls.filter((c) => c.method === 'blob').length, 1, 'one body read: timestamp.json');
        assert.ok(index.lookup('scale', 'timestamp.json')?.body.equals(repo.files().get('timestamp.json')!));
        assert.equal(index.lookup('scale', 'targets/trusted_root.json')?.body, body?.body, 'the same body, not read again');
        assert.equal(index.lookup('scale', 'targets/trusted_root.json')?.generationId, result.generation.id);
        assert.deepEqual(holdings(env.store, 'scale').files, [...env.store.generationFiles(result.generation.id)].sort());
        env.store.close();
      }
      assert.deepEqual(written[0], written[1], 'rows written do not grow with the repository');
      assert.deepEqual(written[0], { generations: 1, blocks: 1, block_files: 1, block_targets: 0, file_sets: 0, file_set_blocks: 0, blobs: 1 });
    });
  }
});

function hashBinRepository(targets: number, kind: 'succinct' | 'prefixes'): TestRepository {
  const repo = new TestRepository();
  let bins: string[];
  let binOf: (name: string) => string;
  if (kind === 'succinct') {
    bins = repo.addSuccinctDelegation({ bitLength: 4, namePrefix: 'bin' });
    binOf = (name) => repo.binFor(name);
  } else {
    // Classic hash bins: 16 roles, each delegated the names whose sha256 starts with its hex digit.
    bins = Array.from('0123456789abcdef', (h) => `bin-${h}`);
    for (const [i, bin] of bins.entries()) repo.addDelegation(bin, { pathHashPrefixes: [i.toString(16)] });
    binOf = (name) => `bin-${sha256(name)[0]}`;
  }
  for (let i = 0; i < targets; i++) repo.addTarget(`file-${i}.txt`, `file ${i}\n`, { role: binOf(`file-${i}.txt`) });
  repo.addTarget('trusted_root.json', '{}\n');
  assert.ok(bins.length === 16);
  repo.publish();
  return repo;
}

describe('one changed target', () => {
  for (const layout of ['flat', 'succinct', 'prefixes'] as const) {
    test(`${layout}: only that target and its role are downloaded, only that bucket written, and the result is what a fresh mirror holds`, async () => {
      const repo = layout === 'flat' ? flatRepository(600) : hashBinRepository(600, layout);
      const env = await environment(repo);
      await sync(env);
      const name = 'file-7.txt';
      const role = layout === 'flat' ? 'targets' : layout === 'succinct' ? repo.binFor(name) : `bin-${sha256(name)[0]}`;
      repo.addTarget(name, 'file 7, changed\n', { role });
      repo.publish();
      const rows = rowCounts(env.store);
      const requests = env.upstream.requests.length;
      const calls = await storeCalls(env.store, async () => assert.equal((await sync(env)).outcome, 'updated'));
      if (layout !== 'flat') {
        // The unchanged bins are not even read: roots, timestamp, snapshot and top-level targets are.
        assert.ok(calls.filter((c) => c.method === 'blob').length <= 4, `blobs read: ${calls.filter((c) => c.method === 'blob').length}`);
      }
      const snapshot = repo.metadata('snapshot').signed.version;
      const roleVersion = repo.metadata(role).signed.version;
      assert.deepEqual(env.upstream.requests.slice(requests), [
        '2.root.json',
        'timestamp.json',
        `${snapshot}.snapshot.json`,
        `${roleVersion}.${role}.json`,
        `targets/${sha256('file 7, changed\n')}.${name}`,
      ]);
      const written = delta(rows, rowCounts(env.store));
      // Head, snapshot, the role's metadata and one bucket of its targets: a bucket is at most ~128 targets.
      assert.equal(written.blocks, 4, JSON.stringify(written));
      assert.ok(written.block_targets > 0 && written.block_targets <= 128, JSON.stringify(written));
      assert.equal(written.blobs, 4, 'timestamp, snapshot, role, target');

      const fresh = await environment(repo);
      await sync(fresh);
      assert.deepEqual(holdings(env.store, 'scale'), holdings(fresh.store, 'scale'));
      assert.deepEqual(env.store.checkIntegrity(), []);
      env.store.close();
      fresh.store.close();
    });
  }

  test('hash-bin: a target moved between bins, a role with a new unsafe name, and a removed target resolve as a fresh mirror resolves them', async () => {
    const repo = hashBinRepository(200, 'succinct');
    const env = await environment(repo);
    await sync(env);
    const a = 'file-3.txt';
    repo.removeTarget(a);
    repo.addTarget('../escape.txt', 'nope\n', { role: repo.binFor('x') });
    // Listed by a bin its hash does not fall in: unreachable, as for any client.
    const wrongBin = repo.binFor('file-5.txt') === 'bin-0' ? 'bin-1' : 'bin-0';
    repo.addTarget('file-5.txt', 'file 5 in the wrong bin\n', { role: wrongBin });
    repo.publish();
    const result = await sync(env);
    assert.deepEqual(
      result.generation.summary.refusedTargets?.map((r) => [r.name, r.code]),
      [['../escape.txt', 'TARGET_NAME_UNSAFE']],
    );
    assert.ok(!result.generation.summary.targets.includes(a));
    const fresh = await environment(repo);
    const freshResult = await sync(fresh);
    assert.deepEqual(holdings(env.store, 'scale'), holdings(fresh.store, 'scale'));
    assert.deepEqual(result.generation.summary.refusedTargets, freshResult.generation.summary.refusedTargets);
    env.store.close();
    fresh.store.close();
  });
});

describe('parallel downloads', () => {
  /** An upstream that counts the target downloads in flight (each held a little, so they overlap). */
  function countInFlight(upstream: UpstreamServer): { max: () => number } {
    let now = 0;
    let max = 0;
    upstream.setHandler(async (req, res, next) => {
      if (!req.url?.startsWith('/targets/')) return next();
      max = Math.max(max, ++now);
      await new Promise((r) => setTimeout(r, 5));
      try {
        await next();
      } finally {
        now--;
      }
    });
    return { max: () => max };
  }

  test('a wrong byte in one of many delegated targets fails that target alone; the rest commits; at most downloadConcurrency at once', async () => {
    const repo = new TestRepository();
    repo.addTarget('trusted_root.json', '{}\n');
    repo.addDelegation('bulk', { paths: ['bulk/*'] });
    for (let i = 0; i < 60; i++) repo.addTarget(`bulk/${i}.txt`, `bulk ${i}\n`, { role: 'bulk' });
    repo.publish();
    const env = await environment(repo);
    const inFlight = countInFlight(env.upstream);
    const bad = repo.targetFiles('bulk/17.txt')[0];
    env.upstream.override(bad, { body: flipByte(repo.files().get(bad)!) });
    const result = await sync(env, { downloadConcurrency: 4 });
    assert.deepEqual(
      result.generation.summary.refusedTargets?.map((r) => [r.name, r.role, r.code]),
      [['bulk/17.txt', 'bulk', 'LENGTH_OR_HASH_MISMATCH']],
    );
    assert.equal(result.generation.summary.targets.length, 60, '59 bulk targets and trusted_root.json');
    assert.ok(inFlight.max() >= 2 && inFlight.max() <= 4, `downloads in flight at most: ${inFlight.max()}`);
    for (let i = 0; i < 60; i++) {
      const resolved = env.store.resolvedTarget(result.generation.id, `bulk/${i}.txt`);
      if (i === 17) assert.equal(resolved, undefined);
      else assert.equal(resolved?.bytes.toString(), `bulk ${i}\n`);
    }
    // Fixed upstream: the next run fetches that one file, and nothing it holds.
    env.upstream.clearOverrides();
    const requests = env.upstream.requests.length;
    assert.equal((await sync(env)).outcome, 'updated');
    assert.deepEqual(
      env.upstream.requests.slice(requests).filter((r) => r.startsWith('targets/')),
      [bad],
    );
    env.store.close();
  });

  test('a wrong byte in a top-level target fails the run: nothing is committed, and a later run commits', async () => {
    const env = await environment(flatRepository(40));
    const bad = env.repo.targetFiles('file-23.txt')[0];
    env.upstream.override(bad, { body: flipByte(env.repo.files().get(bad)!) });
    const result = await syncRepository({ store: env.store, repository: env.repository, logger: silentLogger });
    assert.equal(result.outcome, 'failed');
    assert.equal(result.error.code, 'LENGTH_OR_HASH_MISMATCH');
    assert.equal(result.error.role, 'targets/file-23.txt');
    assert.equal(env.store.currentGeneration('scale'), undefined);
    const firstRun = new Set(env.upstream.requests.filter((r) => r.startsWith('targets/') && r !== bad));
    assert.ok(firstRun.size > 0);
    env.upstream.clearOverrides();
    const requests = env.upstream.requests.length;
    const ok = await sync(env);
    assert.equal(ok.generation.summary.targets.length, 41);
    // What the failed run downloaded and checked was kept (leased to it), and is not downloaded again.
    const secondRun = env.upstream.requests.slice(requests).filter((r) => r.startsWith('targets/'));
    assert.ok(secondRun.includes(bad));
    assert.deepEqual(
      secondRun.filter((r) => firstRun.has(r)),
      [],
    );
    assert.deepEqual(env.store.checkIntegrity(), []);
    env.store.close();
  });
});

describe('blobs written before the commit, and prune in another process', () => {
  test("a running sync's blobs survive another repository's prune; a killed one's are collected once its run has ended", async () => {
    const shared = 'the same bytes in two repositories\n';
    const big = (tag: string) => Buffer.alloc(5 * 1024 * 1024, tag);
    const x = new TestRepository();
    x.addTarget('trusted_root.json', '{}\n');
    x.addTarget('shared.txt', shared);
    x.addTarget('big.bin', big('a'));
    x.addTarget('stall.txt', 'held back by the upstream\n');
    x.publish();
    const y = new TestRepository();
    y.addTarget('trusted_root.json', '{}\n');
    y.addTarget('shared.txt', shared);
    y.publish();
    const xUp = await startUpstreamServer(() => x.files());
    const yUp = await startUpstreamServer(() => y.files());
    upstreams.push(xUp, yUp);
    const dataDir = tempDir();
    const config = testConfig(
      [
        { name: 'x', upstream: xUp.url, anchor: x.rootBytes(1), default: true },
        { name: 'y', upstream: yUp.url, anchor: y.rootBytes(1) },
      ],
      {},
      dataDir,
    );
    const configFile = path.join(dataDir, 'config.yaml');
    fs.writeFileSync(configFile, YAML.stringify({ dataDir, sync: { onStart: false }, repositories: config.repositories.map(({ name, upstream, trustAnchor }) => ({ name, upstream, trustAnchor })) }));
    const [xRepository, yRepository] = config.repositories;
    const store = Store.open(dataDir);
    const ySync = () => sync({ store, repository: yRepository }, { keptGenerations: 1 });
    await ySync();

    const hasBlob = (bytes: Buffer | string): boolean => store.blob(sha256(bytes)) !== undefined;
    const leasedToARunningSync = (...contents: (Buffer | string)[]): boolean => {
      const running = `SELECT id FROM sync_runs WHERE outcome = 'running'`;
      const leased = new Set([
        ...(store.databaseForTests().prepare(`SELECT sha256 FROM sync_run_blobs WHERE run_id IN (${running})`).pluck().all() as string[]),
        ...(store
          .databaseForTests()
          .prepare(`SELECT b.sha256 FROM sync_run_writes w JOIN blobs b ON b.rowid BETWEEN w.first_rowid AND w.last_rowid WHERE w.run_id IN (${running})`)
          .pluck()
          .all() as string[]),
      ]);
      return contents.every((c) => leased.has(sha256(c)));
    };
    const waitFor = async (what: string, check: () => boolean): Promise<void> => {
      for (let i = 0; i < 2000 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(check(), what);
    };
    /** The upstream of x holds stall.txt back until the returned function is called. */
    const stallX = (): (() => void) => {
      let release = (): void => undefined;
      const released = new Promise<void>((r) => (release = r));
      xUp.setHandler(async (req, res, next) => {
        if (req.url?.includes('stall.txt')) await released;
        return next();
      });
      return release;
    };
    const stallRequests = () => xUp.requests.filter((r) => r.includes('stall.txt')).length;
    /** `tuf-mirror sync x` in a process of its own. */
    const syncXElsewhere = () => {
      const child = spawn(process.execPath, [CLI, 'sync', 'x', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      return { child, exited, output: () => out };
    };

    // 1. The other process leases shared.txt (which y holds) and writes big.bin, then waits for stall.txt.
    let release = stallX();
    const a = syncXElsewhere();
    await waitFor('x leased its blobs while stalled', () => leasedToARunningSync(shared, big('a')) && stallRequests() === 1);
    // y stops listing shared.txt; its prune drops y's old generation, the last to refer to it.
    y.removeTarget('shared.txt');
    y.publish();
    assert.equal((await ySync()).outcome, 'updated');
    assert.equal(store.databaseForTests().prepare('SELECT count(*) FROM generations g JOIN repositories r ON r.id = g.repository_id WHERE r.name = ?').pluck().get('y'), 1);
    assert.ok(hasBlob(shared), "the running sync's lease keeps a blob no generation refers to");
    release();
    assert.equal(await a.exited, 0, a.output());
    const xGeneration = store.currentGeneration('x')!;
    assert.equal(store.resolvedTarget(xGeneration.id, 'shared.txt')?.bytes.toString(), shared);
    assert.ok(store.resolvedTarget(xGeneration.id, 'big.bin')?.bytes.equals(big('a')));
    assert.deepEqual(store.checkIntegrity(), []);

    // 2. Killed while stalled, holding a lease on a blob only y referred to: the lease outlives
    // the process (its run is still recorded as running), so y's prune keeps the blob; once a
    // later sync of x has ended that run and committed without it, nothing refers to it: it goes.
    y.addTarget('big.bin', big('b'));
    y.publish();
    await ySync();
    x.removeTarget('big.bin');
    x.addTarget('big2.bin', big('b'));
    x.addTarget('stall.txt', 'held back again\n');
    x.publish();
    release = stallX();
    const b = syncXElsewhere();
    await waitFor('x leased big2.bin while stalled', () => leasedToARunningSync(big('b')) && stallRequests() === 2);
    b.child.kill('SIGKILL');
    await b.exited;
    y.removeTarget('big.bin');
    y.publish();
    await ySync();
    assert.ok(hasBlob(big('b')), "a killed sync's lease still counts while its run is recorded as running");
    release();
    x.removeTarget('big2.bin');
    x.publish();
    let taken: SyncResult | undefined;
    for (let i = 0; i < 400; i++) {
      taken = await syncRepository({ store, repository: xRepository, logger: silentLogger, lockStaleMs: 200 });
      if (taken.outcome !== 'failed' || taken.error.code !== 'SYNC_IN_PROGRESS') break;
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(taken?.outcome, 'updated', JSON.stringify(taken));
    assert.ok(
      store.syncRuns('x').some((r) => r.error?.code === 'INTERRUPTED'),
      'the killed run is recorded as interrupted',
    );
    assert.ok(!hasBlob(big('b')), 'and its orphan blob collected');
    assert.ok(hasBlob(shared), 'what x still lists stays');
    assert.deepEqual(store.checkIntegrity(), []);
    store.close();
  });
});

describe('a store written before blocks (schema 4)', () => {
  const FIXTURE = path.join(packageRoot(), 'test', 'fixtures', 'store-v4');
  const manifest = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'manifest.json'), 'utf8')) as {
    generations: { id: number; files: Record<string, string>; targets: unknown[]; summary?: Record<string, unknown> & { targets: string[] } }[];
  };

  test('migrates: every generation keeps its files and resolutions, is served, syncs on, and prunes', async () => {
    const dir = tempDir();
    fs.cpSync(FIXTURE, dir, { recursive: true });
    const raw = new (await import('better-sqlite3')).default(path.join(dir, 'store', 'tuf-mirror.db'), { readonly: true });
    assert.equal(raw.pragma('user_version', { simple: true }), 4);
    raw.close();

    const upstream = await startUpstreamServer(path.join(dir, 'upstream-synced'));
    upstreams.push(upstream);
    const config = testConfig([{ name: 'legacy', upstream: upstream.url, anchor: path.join(dir, 'anchor.root.json') }], { retention: { keptGenerations: 1 } }, path.join(dir, 'store'));
    const store = Store.open(config.dataDir);
    assert.equal(store.databaseForTests().pragma('user_version', { simple: true }), SCHEMA_VERSION);
    for (const g of manifest.generations) {
      assert.deepEqual(Object.fromEntries([...store.generationFiles(g.id)].sort()), g.files, `generation ${g.id}: files`);
      assert.deepEqual(store.resolvedTargets(g.id), g.targets, `generation ${g.id}: resolutions`);
    }
    const current = store.currentGeneration('legacy')!;
    const { targets: names, ...summary } = manifest.generations.at(-1)!.summary!;
    assert.deepEqual(current.summary.targets, names);
    assert.deepEqual({ ...current.summary }, summary);
    const stored = JSON.parse(store.databaseForTests().prepare('SELECT summary FROM generations WHERE id = ?').pluck().get(current.id) as string) as Record<string, unknown>;
    assert.ok(!('targets' in stored), 'target names left the stored summary');

    // Served: every file of the current generation, and the versioned files of the one before.
    const index = new FileIndex(store, config.repositories, 5);
    index.reload();
    const blobOf = (sha: string) => store.blob(sha)!;
    for (const [p, sha] of Object.entries(manifest.generations.at(-1)!.files)) assert.ok(index.lookup('legacy', p)?.body.equals(blobOf(sha)), p);
    for (const [p, sha] of Object.entries(manifest.generations[0].files)) {
      if (/^[0-9]+\./.test(p) || /^targets\/(.+\/)?[0-9a-f]{64}/.test(p)) assert.ok(index.lookup('legacy', p)?.body.equals(blobOf(sha)), p);
    }

    // The upstream as the store saw it: a no-op, two requests.
    const repository = config.repositories[0];
    const noop = await sync({ store, repository });
    assert.equal(noop.outcome, 'unchanged');
    assert.deepEqual(upstream.requests, ['2.root.json', 'timestamp.json']);
    // A new timestamp: nothing else downloaded (every held file is reused).
    upstream.setSource(path.join(dir, 'upstream-timestamp'));
    const ts = await sync({ store, repository });
    assert.equal(ts.outcome, 'updated');
    assert.deepEqual(upstream.requests.slice(2), ['2.root.json', 'timestamp.json']);
    const expected = readTree(path.join(dir, 'upstream-timestamp'));
    assert.ok(blobOf(store.generationFile(ts.generation.id, 'timestamp.json')!).equals(expected.get('timestamp.json')!));
    // One target changed: served, and read by tuf-js through a mirror on the migrated store.
    upstream.setSource(path.join(dir, 'upstream-changed'));
    const changed = await sync({ store, repository }, { keptGenerations: 1 });
    assert.equal(changed.outcome, 'updated');
    assert.deepEqual(store.databaseForTests().prepare('SELECT id FROM generations').pluck().all(), [changed.generation.id], 'the legacy generations are pruned');
    assert.equal(store.databaseForTests().prepare(`SELECT count(*) FROM blocks WHERE kind = 'legacy'`).pluck().get(), 0);
    assert.deepEqual(store.checkIntegrity(), []);
    const orphans = store
      .databaseForTests()
      .prepare('SELECT count(*) FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM generation_files f WHERE f.sha256 = b.sha256) AND NOT EXISTS (SELECT 1 FROM roots r WHERE r.sha256 = b.sha256)')
      .pluck()
      .get();
    assert.equal(orphans, 0);
    store.close();

    const mirror = await startMirror(config);
    try {
      const clientDir = tempDir();
      fs.copyFileSync(path.join(dir, 'anchor.root.json'), path.join(clientDir, 'root.json'));
      const updater = new Updater({ metadataDir: clientDir, metadataBaseUrl: mirror.url, targetBaseUrl: `${mirror.url}/targets`, targetDir: clientDir });
      const info = await updater.getTargetInfo('a.txt');
      assert.ok(info);
      assert.equal(fs.readFileSync(await updater.downloadTarget(info, path.join(clientDir, 'a.txt'))).toString(), 'a, third version\n');
      assert.equal((await get(`${mirror.url}/targets/npm/keys.json`)).body.toString(), '{"keys":[]}\n');
    } finally {
      await mirror.close();
    }
  });
});
