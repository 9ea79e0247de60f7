/**
 * Many TUF clients refreshing while the mirror switches generations underneath them:
 * zero errors, and every response is exactly one generation's bytes.
 *
 * No root rotation here: a client that reads N+1.root.json (404) just before a rotation lands
 * and timestamp.json just after it rejects that timestamp, against any repository, upstream
 * included; it succeeds on its next refresh. rotation.test.ts covers rotations.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { Updater } from 'tuf-js';
import { mirrorOfRepository, tempDir } from '../helpers/mirror';
import { TestRepository } from '../../testing/tuf-repo';

const CLIENTS = 16;
const DURATION_MS = 4000;

const repo = new TestRepository();
repo.addTarget('trusted_root.json', 'state 0\n');
repo.publish();

const env = mirrorOfRepository(repo);

test(`${CLIENTS} clients refreshing through ${DURATION_MS} ms of generation switches`, async () => {
  assert.equal((await env.mirror.syncAll())[0].outcome, 'updated');
  const deadline = Date.now() + DURATION_MS;
  const errors: string[] = [];
  let refreshes = 0;
  let rawChecks = 0;
  const generationsSeen = new Set<string>();
  // DURATION_MS at least, then on until there is enough to judge (on a loaded machine 4 s held
  // only 7 switches); at most a minute, after which the assertions below say what fell short.
  const cap = Date.now() + 60_000;
  let switches = 0;
  const going = (): boolean => Date.now() < cap && (Date.now() < deadline || switches < 10 || refreshes < CLIENTS || generationsSeen.size < 5);

  const syncer = (async () => {
    let n = 0;
    while (going()) {
      n++;
      repo.addTarget('trusted_root.json', `state ${n}\n`.repeat(50));
      repo.publish();
      const [result] = await env.mirror.syncAll();
      if (result.outcome !== 'updated') errors.push(`sync ${n}: ${result.outcome}`);
      switches = n;
      // A switch every ~150 ms: versioned files of the last 5 generations stay served (the
      // default retention), a window no refresh comes near, even on a loaded 2-core machine.
      await sleep(150);
    }
    return n;
  })();

  // Real TUF clients: each refresh walks timestamp → snapshot → targets → target, verifying all.
  const client = async (id: number): Promise<void> => {
    while (going()) {
      const dir = tempDir();
      fs.writeFileSync(path.join(dir, 'root.json'), repo.rootBytes(1));
      try {
        const updater = new Updater({ metadataDir: dir, metadataBaseUrl: env.mirror.url, targetBaseUrl: `${env.mirror.url}/targets`, targetDir: dir });
        await updater.refresh();
        const info = await updater.getTargetInfo('trusted_root.json');
        if (!info) throw new Error('trusted_root.json not found');
        await updater.downloadTarget(info, path.join(dir, 'trusted_root.json'));
        refreshes++;
      } catch (err) {
        errors.push(`client ${id}: ${(err as Error).message}`);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  };

  // Raw readers: a body always matches the sha256 in its own ETag, so no response mixes generations.
  const raw = async (): Promise<void> => {
    while (going()) {
      for (const p of ['timestamp.json', 'root.json', 'snapshot.json', 'targets.json', 'targets/trusted_root.json']) {
        const res = await fetch(`${env.mirror.url}/${p}`);
        const body = Buffer.from(await res.arrayBuffer());
        if (res.status !== 200) errors.push(`${p}: HTTP ${res.status}`);
        else if (res.headers.get('etag') !== `"${createHash('sha256').update(body).digest('hex')}"`) errors.push(`${p}: body does not match its ETag`);
        generationsSeen.add(res.headers.get('x-tuf-mirror-generation')!);
        rawChecks++;
      }
    }
  };

  const [syncs] = await Promise.all([syncer, ...Array.from({ length: CLIENTS }, (_, i) => client(i)), raw(), raw()]);
  assert.deepEqual(errors, []);
  assert.ok(syncs >= 10, `generation switches: ${syncs}`);
  assert.ok(refreshes >= CLIENTS, `client refreshes: ${refreshes}`);
  assert.ok(generationsSeen.size >= 5, `generations seen by readers: ${generationsSeen.size}`);
  assert.ok(rawChecks > 0);
});
