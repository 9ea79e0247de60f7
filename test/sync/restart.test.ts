/**
 * Restart after a crash, with the real command line against a slow upstream: a `tuf-mirror sync`
 * killed with SIGKILL at a random instant leaves its sync lock behind, and the next sync, started
 * at once, takes it over (the holder is a dead process of this machine) instead of answering
 * SYNC_IN_PROGRESS for a minute. `serve` and `sync` stopped by SIGTERM mid-sync release the lock.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { parseConfig } from '../../config/config';
import { silentLogger } from '../../lib/log';
import { packageRoot } from '../../lib/paths';
import { startService } from '../../server/service';
import { holderIsGone, lockOwner } from '../../store/lock-owner';
import { Store } from '../../store/store';
import { tempDir } from '../helpers/mirror';
import { TestRepository } from '../../testing/tuf-repo';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const CLI = path.join(packageRoot(), 'dist', 'cli', 'main.js');
const KILLS = 10;
const ADMIN_TOKEN = 'restart-test-admin-token';
/** Every upstream answer waits this long: a sync of a few new targets takes about half a second. */
const DELAY_MS = 50;

const repo = new TestRepository();
repo.addTarget('trusted_root.json', 'generation 0\n');
repo.publish();

let upstream: UpstreamServer;
const dir = tempDir('tuf-mirror-restart-');
const configFile = path.join(dir, 'tuf-mirror.yaml');

before(async () => {
  upstream = await startUpstreamServer(() => repo.files());
  upstream.override(/.*/, { delayMs: DELAY_MS });
  fs.writeFileSync(path.join(dir, 'anchor.json'), repo.rootBytes(1));
  fs.writeFileSync(
    configFile,
    YAML.stringify({
      dataDir: './data',
      adminToken: ADMIN_TOKEN,
      server: { host: '127.0.0.1', port: 0 },
      sync: { onStart: false, requestTimeoutSeconds: 10 },
      repositories: [{ name: 'r', upstream: upstream.url, trustAnchor: './anchor.json' }],
    }),
  );
});
after(() => upstream.close());

/** New targets upstream, so the next sync has several slow files to fetch. */
let changes = 0;
function changeUpstream(): void {
  changes++;
  for (let i = 0; i < 5; i++) repo.addTarget(`file-${i}.json`, `change ${changes}\n`);
  repo.publish();
}

const run = (...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args, '--config', configFile], { encoding: 'utf8', cwd: dir }, (err, stdout, stderr) => {
      resolve({ status: err ? Number(err.code) : 0, stdout, stderr });
    });
  });

function inStore<T>(read: (store: Store) => T): T {
  const store = Store.open(path.join(dir, 'data'));
  try {
    return read(store);
  } finally {
    store.close();
  }
}
const lockOwners = (): string[] => inStore((s) => (s.databaseForTests().prepare('SELECT owner FROM sync_locks').all() as { owner: string }[]).map((r) => r.owner));

async function until(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Its exit code (null when a signal ended it), once it has exited. */
const exited = (child: ChildProcess): Promise<number | null> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('exit', (code) => resolve(code)));

/** Start a command and return once it is talking to the upstream (so it holds the sync lock). */
async function startSyncing(args: string[]): Promise<{ child: ChildProcess; output: () => string }> {
  const seen = upstream.requests.length;
  const child = spawn(process.execPath, [CLI, ...args, '--config', configFile], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  await until(`${args[0]} to reach the upstream\n${out}`, () => upstream.requests.length > seen || child.exitCode !== null);
  assert.equal(child.exitCode, null, out);
  return { child, output: () => out };
}

describe('restart after a crash', () => {
  test(`${KILLS} times: kill -9 of a sync at a random instant, then at once another sync succeeds`, async () => {
    assert.equal((await run('sync')).status, 0, 'a first generation');
    for (let i = 0; i < KILLS; i++) {
      changeUpstream();
      const { child } = await startSyncing(['sync']);
      await sleep(Math.random() * 5 * DELAY_MS);
      child.kill('SIGKILL');
      // Not waiting for the exit: the killed process may still be a zombie when the next one looks.
      const left = lockOwners();
      assert.equal(left.length, 1, `kill ${i + 1}: the killed sync held the lock`);
      assert.match(left[0], new RegExp(`^[^:]*:${String(child.pid)}:`));

      const next = await run('sync', '--json');
      assert.equal(next.status, 0, `kill ${i + 1}: ${next.stdout}${next.stderr}`);
      assert.match(JSON.parse(next.stdout).results[0].outcome, /^(updated|unchanged)$/);
      await exited(child);
    }
    const runs = inStore((s) => s.syncRuns('r', 100));
    assert.equal(runs.filter((r) => r.error?.code === 'INTERRUPTED').length, KILLS, 'each killed run is recorded as interrupted');
    assert.equal(runs.filter((r) => r.outcome === 'running').length, 0);
    assert.deepEqual(lockOwners(), []);
  });

  test('SIGTERM of serve during its start-up sync: exit 0, the run cancelled, no lock left', async () => {
    changeUpstream();
    fs.writeFileSync(path.join(dir, 'on-start.yaml'), YAML.stringify({ ...YAML.parse(fs.readFileSync(configFile, 'utf8')), dataDir: path.join(dir, 'data'), sync: { onStart: true, retries: 0 } }));
    const seen = upstream.requests.length;
    const child = spawn(process.execPath, [CLI, 'serve', '--config', path.join(dir, 'on-start.yaml')], { cwd: dir, stdio: ['ignore', 'ignore', 'ignore'] });
    await until('serve to start syncing', () => upstream.requests.length > seen);
    await until('the lock to be held', () => lockOwners().length === 1);
    child.kill('SIGTERM');
    assert.equal(await exited(child), 0);
    assert.deepEqual(lockOwners(), []);
    const last = inStore((s) => s.syncRuns('r', 1)[0]);
    assert.equal(last.outcome, 'failed');
    assert.equal(last.error?.code, 'CANCELLED');
  });

  test('SIGTERM of serve during a sync the admin API started: exit 0, no lock left', async () => {
    changeUpstream();
    const seen = upstream.requests.length;
    const child = spawn(process.execPath, [CLI, 'serve', '--config', configFile], { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await until('serve to listen', () => out.includes('"tuf-mirror listening"'));
    const url = JSON.parse(out.split('\n').find((l) => l.includes('"tuf-mirror listening"'))!).url as string;
    const answer = fetch(`${url}/api/v1/repositories/r/sync`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }).catch(() => undefined);
    await until('the API sync to reach the upstream', () => upstream.requests.length > seen);
    child.kill('SIGTERM');
    assert.equal(await exited(child), 0);
    await answer;
    assert.deepEqual(lockOwners(), []);
    assert.equal(inStore((s) => s.syncRuns('r', 1)[0]).error?.code, 'CANCELLED');
  });

  test('SIGTERM of a sync: it stops, exit 1, the run cancelled, no lock left', async () => {
    changeUpstream();
    const { child, output } = await startSyncing(['sync']);
    child.kill('SIGTERM');
    assert.equal(await exited(child), 1, output());
    assert.match(output(), /sync FAILED: CANCELLED/);
    assert.deepEqual(lockOwners(), []);
  });
});

describe('lock owners', () => {
  test('a live holder of this machine is not gone; once it exits, it is', async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    await until('the child to run', () => child.pid !== undefined && fs.existsSync(`/proc/${child.pid}/stat`));
    const owner = lockOwner(child.pid);
    assert.match(owner, /^[^:]*:\d+:[0-9a-f]{8}@[0-9a-f-]+\/\d+\/\d+$/, 'Linux: boot id, pid namespace and start time');
    assert.equal(holderIsGone(owner), false);
    child.kill('SIGKILL');
    await exited(child);
    assert.equal(holderIsGone(owner), true);
  });

  test('a reused pid is not the holder: another start time means gone', () => {
    const mine = lockOwner();
    assert.equal(holderIsGone(mine), false);
    assert.equal(holderIsGone(mine.replace(/\/(\d+)$/, (_, t: string) => `/${Number(t) + 1}`)), true);
  });

  test('other machines, other pid namespaces and owners without a start time are left to the heartbeat rule', () => {
    const mine = lockOwner();
    const otherBoot = mine.replace(/@[0-9a-f-]+\//, '@00000000-0000-0000-0000-000000000000/');
    const otherNamespace = mine.replace(/\/(\d+)\/(\d+)$/, (_, ns: string, t: string) => `/${Number(ns) + 1}/${t}`);
    for (const owner of [otherBoot, otherNamespace, 'other-host:1234:abcd', `host:999999999:abcd`, 'a', '', 'h:0:n@x/1/1']) {
      assert.equal(holderIsGone(owner), false, owner);
    }
  });

  test('the store takes a dead holder over at once, a live one never before staleMs', async () => {
    const store = Store.open(tempDir());
    try {
      store.ensureRepository('x', 'http://upstream.invalid');
      const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      await until('the child to run', () => child.pid !== undefined && fs.existsSync(`/proc/${child.pid}/stat`));
      const holder = lockOwner(child.pid);
      assert.equal(store.acquireSyncLock('x', holder, 60_000), true);
      assert.equal(store.acquireSyncLock('x', lockOwner(), 60_000), false, 'alive and fresh');
      child.kill('SIGKILL');
      await exited(child);
      assert.equal(store.acquireSyncLock('x', lockOwner(), 60_000), true, 'dead: taken over without waiting');
    } finally {
      store.close();
    }
  });
});

describe('the service closes after the work under way', () => {
  test('close() during a sync started through syncNow (as the admin API and the schedule do): run cancelled, lock released', async () => {
    changeUpstream();
    const dataDir = path.join(dir, 'data');
    const config = parseConfig(YAML.parse(fs.readFileSync(configFile, 'utf8')), configFile, dir);
    const service = await startService(config, silentLogger, { schedule: false });
    const seen = upstream.requests.length;
    const result = service.syncNow(config.repositories[0]);
    await until('the sync to reach the upstream', () => upstream.requests.length > seen);
    await service.close();
    const store = Store.open(dataDir);
    try {
      assert.deepEqual(store.databaseForTests().prepare('SELECT owner FROM sync_locks').all(), []);
      assert.equal(store.syncRuns('r', 1)[0].error?.code, 'CANCELLED');
    } finally {
      store.close();
    }
    assert.equal((await result).outcome, 'failed');
  });
});
