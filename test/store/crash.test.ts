/**
 * kill -9 a syncing process at random instants, again and again: the store must open every
 * time, pass its integrity check, and serve one complete, self-consistent generation.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import YAML from 'yaml';
import { Store } from '../../store/store';
import { FileIndex } from '../../server/file-index';
import { tempDir } from '../helpers/mirror';
import { TestRepository } from '../../testing/tuf-repo';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const KILLS = 25;
const repo = new TestRepository();
repo.addTarget('trusted_root.json', 'generation 0\n');
repo.publish();

let upstream: UpstreamServer;
let changes = 0;
const dataDir = tempDir();
const configFile = path.join(dataDir, 'config.yaml');

before(async () => {
  upstream = await startUpstreamServer(() => repo.files());
  fs.writeFileSync(path.join(dataDir, 'anchor.json'), repo.rootBytes(1));
  fs.writeFileSync(configFile, YAML.stringify({ dataDir, repositories: [{ name: 'r', upstream: upstream.url, trustAnchor: './anchor.json' }] }));
  // The upstream changes at every sync (each time timestamp.json is asked for), so nearly every
  // sync commits a generation with new targets. Paced by the syncs, not by a timer: on a loaded
  // machine a timer piled up thousands of root versions that every later sync had to walk.
  upstream.setHandler((req, _res, next) => {
    if (req.url?.endsWith('/timestamp.json')) {
      changes++;
      repo.addTarget(`file-${changes % 7}.json`, `change ${changes}\n`.repeat(200));
      if (changes % 5 === 0) repo.rotateRoot({ replaceKeys: ['timestamp'] });
      repo.publish();
    }
    return next();
  });
});
after(async () => {
  await upstream.close();
});

function startLoop(): { child: ChildProcess; outcomes: string[] } {
  const outcomes: string[] = [];
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'helpers', 'sync-loop.js'), configFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout.on('data', (d: Buffer) => outcomes.push(...d.toString().trim().split('\n')));
  return { child, outcomes };
}

/** What a TUF client needs from the served generation, followed link by link. */
function assertServable(store: Store): number {
  const index = new FileIndex(store, [{ name: 'r', upstream: upstream.url, trustAnchor: '', default: true }], 5);
  index.reload();
  const generation = index.generationOf('r');
  assert.ok(generation, 'a generation is served');
  const json = (p: string) => {
    const file = index.lookup('r', p);
    assert.ok(file, `${p} is served`);
    return JSON.parse(file.body.toString('utf8'));
  };
  const timestamp = json('timestamp.json');
  const snapshot = json(`${String(timestamp.signed.meta['snapshot.json'].version)}.snapshot.json`);
  const targets = json(`${String(snapshot.signed.meta['targets.json'].version)}.targets.json`);
  for (const [name, info] of Object.entries<{ hashes: { sha256: string } }>(targets.signed.targets)) {
    assert.ok(index.lookup('r', `targets/${info.hashes.sha256}.${name}`), `target ${name}`);
  }
  const root = json('root.json');
  for (let v = 1; v <= root.signed.version; v++) assert.ok(index.lookup('r', `${v}.root.json`), `${v}.root.json`);
  return generation;
}

test(`${KILLS} kill -9 at random instants leave a consistent, servable store`, async () => {
  let committed = 0;
  let lastGeneration = 0;
  for (let i = 0; i < KILLS; i++) {
    const { child, outcomes } = startLoop();
    // Wait until this child has committed at least once, then kill it at a random instant.
    for (let waited = 0; !outcomes.some((o) => o.startsWith('updated')) && waited < 10_000; waited += 10) await sleep(10);
    await sleep(Math.random() * 60);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    committed += outcomes.filter((o) => o.startsWith('updated')).length;

    const store = Store.open(dataDir);
    try {
      assert.deepEqual(store.checkIntegrity(), [], `integrity after kill ${i + 1}`);
      const generation = assertServable(store);
      assert.ok(generation >= lastGeneration, 'the current generation never goes back');
      lastGeneration = generation;
    } finally {
      store.close();
    }
  }
  assert.ok(committed >= KILLS, `generations committed between kills: ${committed}`);

  // A fresh process takes the dead one's lock once it is stale and ends its orphaned run.
  const { child, outcomes } = startLoop();
  for (let waited = 0; !outcomes.some((o) => o.startsWith('updated') || o.startsWith('unchanged')) && waited < 10_000; waited += 10) await sleep(10);
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  const store = Store.open(dataDir);
  try {
    const runs = store.syncRuns('r', 1000);
    assert.ok(
      runs.some((r) => r.error?.code === 'INTERRUPTED'),
      'killed runs are recorded as interrupted',
    );
    assert.ok(runs.filter((r) => r.outcome === 'running').length <= 1);
  } finally {
    store.close();
  }
});
