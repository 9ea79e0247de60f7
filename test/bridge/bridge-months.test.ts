/**
 * Six simulated months across a gap with no upstream change: the upstream (built with
 * @tufjs/models, carrying the public-good trusted_root.json) re-signs its 7-day timestamp daily,
 * the connected side syncs and re-signs the site daily, an archive is carried every 30 days, and
 * every day clients in the gap refresh from the site root. The site timestamp never lapses.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, mock, test } from 'node:test';
import { Updater } from 'tuf-js';
import { resignOrigin } from '../../origin/origin';
import { FIXTURE, get, tempDir } from '../helpers/mirror';
import { carry, initSite, SOURCE, startConnected, startGap, tufJsTarget, type Connected, type Gap } from '../helpers/bridge';
import { TestRepository } from '../../testing/tuf-repo';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const DAY = 86400_000;
const START = Date.parse('2026-09-01T03:00:00Z');
const TRUSTED_ROOT = fs.readFileSync(path.join(FIXTURE, 'targets', '6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66.trusted_root.json'));

let repo: TestRepository;
let upstream: UpstreamServer;
let connected: Connected;
let gap: Gap;
/** How to close what before() started, in order: before() can stop half-way, and after() closes only what it got to. */
const closers: (() => Promise<unknown>)[] = [];

before(async () => {
  mock.timers.enable({ apis: ['Date'], now: START });
  repo = new TestRepository({ keyType: 'ecdsa' });
  repo.addTarget('trusted_root.json', TRUSTED_ROOT);
  repo.setExpiry('timestamp', new Date(START + 7 * DAY));
  repo.publish();
  upstream = await startUpstreamServer(() => repo.files());
  closers.push(() => upstream.close());
  const anchor = path.join(tempDir(), 'root.json');
  fs.writeFileSync(anchor, repo.rootBytes(1));
  // Snapshot and targets re-signed every 20 days (within max(30d, 4 x 45d) of a 200-day expiry).
  connected = await startConnected(upstream.url, anchor, { timestampExpiry: '45d', snapshotExpiry: '200d', targetsExpiry: '200d', promote: 'auto' });
  closers.push(() => connected.service.close());
  assert.equal((await connected.service.syncAll())[0].outcome, 'updated');
  await initSite(connected);
  gap = await startGap(connected.site.trustAnchor);
  closers.push(() => gap.service.close());
});
after(async () => {
  for (const close of closers.reverse()) await close();
  mock.timers.reset();
});

test('183 days, an archive every 30: every daily refresh in the gap succeeds and gets the same trusted_root.json', async () => {
  // A long-lived client (policy-controller, a cosign cache) keeps its metadata between refreshes.
  const keptDir = tempDir('tuf-mirror-kept-client-');
  fs.copyFileSync(gap.anchor, path.join(keptDir, 'root.json'));
  const siteVersions = new Set<string>();
  let carried = 0;
  for (let day = 0; day <= 183; day++) {
    const now = START + day * DAY;
    mock.timers.setTime(now);
    // Upstream: Sigstore's routine, a new 7-day timestamp every day, nothing else.
    repo.setExpiry('timestamp', new Date(now + 7 * DAY));
    repo.publish();
    const [synced] = await connected.service.syncAll();
    assert.notEqual(synced.outcome, 'failed', `day ${day}: source sync`);
    // The site's cron tick: re-sign with the online keys.
    const g = await resignOrigin(connected.ctx, { force: true });
    assert.ok(g, `day ${day}: re-signed`);
    siteVersions.add(`snapshot v${g.snapshotVersion} targets v${g.targetsVersion}`);
    connected.service.index.reload();
    if (day % 30 === 0) {
      const imported = await carry(connected, gap);
      assert.notEqual(imported.outcome, 'failed', `day ${day}: import: ${imported.outcome === 'failed' ? imported.error.message : ''}`);
      carried++;
    }

    const updater = new Updater({ metadataDir: keptDir, metadataBaseUrl: gap.service.url, targetBaseUrl: `${gap.service.url}/targets`, targetDir: keptDir, config: { fetchRetry: 0 } });
    await updater.refresh();
    const info = await updater.getTargetInfo('trusted_root.json');
    assert.ok(info, `day ${day}`);
    assert.ok(fs.readFileSync(await updater.downloadTarget(info, path.join(keptDir, `tr-${day}.json`))).equals(TRUSTED_ROOT), `day ${day}: kept client`);
    if (day % 7 === 0) assert.ok((await tufJsTarget(gap.service.url, gap.anchor)).equals(TRUSTED_ROOT), `day ${day}: fresh client`);
  }
  assert.equal(carried, 7);
  // The bridge never promoted anything new: the upstream never changed.
  assert.equal(connected.service.store.latestBridgeDecision('sigstore-site')?.outcome, 'promoted');
  assert.ok(siteVersions.size >= 9, `snapshot and targets re-signed every 20 days: ${[...siteVersions].join(', ')}`);
  const site = connected.service.store.currentGeneration('sigstore-site')!;
  assert.equal(site.rootVersion, 1);
  assert.equal(connected.service.store.currentGeneration(SOURCE)!.summary.targets.join(), 'trusted_root.json');
});

test('in the gap, the watch says when to carry the next archive, and warns before the site timestamp runs out', async () => {
  const status = async () => JSON.parse((await get(`${gap.service.url}/api/v1/repositories/sigstore-site`)).body.toString());
  const item = (s: { items: { item: string; state: string; message: string }[] }, name: string) => s.items.find((i) => i.item === name)!;
  const ok = await status();
  assert.equal(item(ok, 'sync').state, 'ok', 'fed by archives: no upstream to be stale against');
  assert.match(item(ok, 'sync').message, /^last imported /);
  assert.match(item(ok, 'role:timestamp').message, /carry the next archive by 20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ \(tuf-mirror export on the connected side, tuf-mirror import here\)/);
  assert.equal(ok.state, 'ok');
  // The last archive was exported on day 180 with 45 days; on day 221 four are left.
  mock.timers.setTime(START + 221 * DAY);
  const late = await status();
  assert.equal(item(late, 'role:timestamp').state, 'warning');
  assert.match(item(late, 'role:timestamp').message, /timestamp v\d+ expires in 4d 0h .*: carry the next archive by/);
});
