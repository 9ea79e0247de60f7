/**
 * Upstream changes flowing through a bridge (an upstream built with @tufjs/models, fresh keys,
 * real HTTP): a root rotation and a trusted-root change are promoted automatically when the
 * compatibility gate passes; a trusted_root.json that does not load is held, the alert raised,
 * and the promoted content keeps being served and re-signed until the operator decides.
 */
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, mock, test } from 'node:test';
import { checkBridge, PROVENANCE_KEY, promoteBridge, provenanceOf } from '../../bridge/bridge';
import { unsafeName } from '../../bridge/source';
import { BridgeError } from '../../bridge/errors';
import { resignOrigin } from '../../origin/origin';
import type { WatchItem } from '../../watch/evaluate';
import { FIXTURE, get, tempDir } from '../helpers/mirror';
import { carry, initSite, SITE, SOURCE, startConnected, startGap, tufJsTarget, type Connected, type Gap } from '../helpers/bridge';
import { startReceiver } from '../helpers/receiver';
import { TestRepository } from '../../testing/tuf-repo';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const START = Date.parse('2026-09-01T00:00:00Z');
const DAY = 86400_000;
const PUBLIC = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'targets', '6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66.trusted_root.json'), 'utf8'));
const REKOR_PUB = fs.readFileSync(path.join(FIXTURE, 'targets', 'dce5ef715502ec9f3cdfd11f8cc384b31a6141023d3e7595e9908a81cb6241bd.rekor.pub'));
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value, null, 2) + '\n');

/** The public-good trusted root with Rekor v1 retired (an end) and a new ECDSA Rekor log added. */
function rotatedTrustedRoot(): Buffer {
  const der = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' });
  const next = structuredClone(PUBLIC);
  next.tlogs[0].publicKey.validFor.end = '2026-09-10T00:00:00Z';
  next.tlogs.push({
    baseUrl: 'https://rekor3.example',
    hashAlgorithm: 'SHA2_256',
    publicKey: { rawBytes: der.toString('base64'), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start: '2026-09-05T00:00:00Z' } },
    logId: { keyId: crypto.createHash('sha256').update(der).digest('base64') },
  });
  return json(next);
}

let repo: TestRepository;
let upstream: UpstreamServer;
let connected: Connected;
let gap: Gap;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
/** How to close what before() started, in order: before() can stop half-way, and after() closes only what it got to. */
const closers: (() => Promise<unknown>)[] = [];
const status = async (url: string, name: string) => JSON.parse((await get(`${url}/api/v1/repositories/${name}`)).body.toString());
const itemOf = (s: { items: WatchItem[] }, item: string): WatchItem => s.items.find((i) => i.item === item)!;

before(async () => {
  mock.timers.enable({ apis: ['Date'], now: START });
  repo = new TestRepository({ keyType: 'ecdsa' });
  repo.addTarget('trusted_root.json', json(PUBLIC));
  repo.addTarget('rekor.pub', REKOR_PUB, { custom: { sigstore: { usage: 'Rekor', status: 'Active', uri: 'https://rekor.sigstore.dev' } } });
  repo.publish();
  upstream = await startUpstreamServer(() => repo.files());
  closers.push(() => upstream.close());
  receiver = await startReceiver();
  closers.push(() => receiver.close());
  const anchor = path.join(tempDir(), 'root.json');
  fs.writeFileSync(anchor, repo.rootBytes(1));
  connected = await startConnected(upstream.url, anchor, { timestampExpiry: '30d', promote: 'auto' }, { alerts: { webhooks: [{ url: receiver.url }] } });
  closers.push(() => connected.service.close());
  assert.equal((await connected.service.syncAll())[0].outcome, 'updated');
  await initSite(connected);
  gap = await startGap(connected.site.trustAnchor);
  closers.push(() => gap.service.close());
  assert.equal((await carry(connected, gap)).outcome, 'updated');
});
after(async () => {
  for (const close of closers.reverse()) await close();
  mock.timers.reset();
});

describe('a rotation and a trusted-root change that pass the gate', () => {
  test('upstream root v2 (new keys) and a retired + added Rekor log: promoted on the next sync, then carried', async () => {
    mock.timers.setTime(START + 5 * DAY);
    repo.rotateRoot({ replaceKeys: ['root', 'targets', 'snapshot', 'timestamp'] });
    const next = rotatedTrustedRoot();
    repo.addTarget('trusted_root.json', next);
    repo.publish();
    const [r] = await connected.service.syncAll();
    assert.equal(r.outcome, 'updated');
    assert.equal(connected.service.store.currentGeneration(SOURCE)!.rootVersion, 2);

    // syncAll ran the bridge after its source moved: promoted, nothing held.
    const decision = connected.service.store.latestBridgeDecision(SITE)!;
    assert.equal(decision.outcome, 'promoted', decision.message);
    assert.deepEqual(decision.changes, ['~trusted_root.json']);
    assert.ok(decision.findings.every((f) => !f.blocking));
    const site = connected.service.store.currentGeneration(SITE)!;
    assert.equal(site.targetsVersion, 2);
    assert.equal(site.rootVersion, 1, "the site's own root does not move with the upstream's");

    assert.equal((await carry(connected, gap)).outcome, 'updated');
    assert.ok((await tufJsTarget(gap.service.url, gap.anchor)).equals(next));
    const targets = JSON.parse((await get(`${gap.service.url}/targets.json`)).body.toString()).signed.targets;
    const p = provenanceOf(targets['trusted_root.json'].custom[PROVENANCE_KEY])!;
    assert.equal(p.root, 2);
    assert.equal(p.trustedRootSha256, crypto.createHash('sha256').update(next).digest('hex'));
    assert.deepEqual(targets['rekor.pub'].custom.sigstore, { usage: 'Rekor', status: 'Active', uri: 'https://rekor.sigstore.dev' });
  });
});

describe('a candidate whose trusted_root.json does not load', () => {
  let promoted: Buffer;
  before(async () => {
    promoted = await tufJsTarget(gap.service.url, gap.anchor);
    mock.timers.setTime(START + 10 * DAY);
    const broken = structuredClone(PUBLIC);
    broken.certificateAuthorities[1].certChain.certificates[0].rawBytes = Buffer.from('not a certificate').toString('base64');
    repo.addTarget('trusted_root.json', json(broken));
    repo.publish();
    receiver.received.length = 0;
    assert.equal((await connected.service.syncAll())[0].outcome, 'updated', 'the mirror serves what its upstream signed');
    await connected.service.notifier.drain();
  });

  test('is held: the bridge item is critical with the reason, a webhook says so, the source reports it too', async () => {
    const decision = connected.service.store.latestBridgeDecision(SITE)!;
    assert.equal(decision.outcome, 'held');
    assert.deepEqual(
      decision.findings.filter((f) => f.blocking).map((f) => f.code),
      ['TRUSTED_ROOT_UNLOADABLE'],
    );
    const bridgeItem = itemOf(await status(connected.service.url, SITE), 'bridge');
    assert.equal(bridgeItem.state, 'critical');
    assert.match(bridgeItem.message, /HELD by the compatibility gate \(BLOCKING TRUSTED_ROOT_UNLOADABLE trusted_root\.json: @sigstore\/verify cannot load it/);
    const sourceItem = itemOf(await status(connected.service.url, SOURCE), 'compatibility');
    assert.equal(sourceItem.state, 'critical');
    const alerts = receiver.received.map((r) => r.body as { repository: string; item: string; state: string; severity: string; data?: { findings: string[] } });
    const held = alerts.find((a) => a.repository === SITE && a.item === 'bridge');
    assert.ok(held, JSON.stringify(alerts));
    assert.deepEqual([held.state, held.severity], ['critical', 'critical']);
    assert.match(held.data!.findings[0], /^BLOCKING TRUSTED_ROOT_UNLOADABLE/);
    assert.ok(alerts.some((a) => a.repository === SOURCE && a.item === 'compatibility' && a.state === 'critical'));
    const metrics = (await get(`${connected.service.url}/metrics`)).body.toString();
    assert.match(metrics, /tuf_mirror_watch_state\{repository="sigstore-site",item="bridge"\} 2/);
  });

  test('the promoted content is still served and re-signed: weeks later, clients in the gap get it', async () => {
    for (let day = 11; day <= 60; day += 7) {
      mock.timers.setTime(START + day * DAY);
      assert.ok(await resignOrigin(connected.ctx, { force: true }));
      connected.service.index.reload();
      assert.ok((await tufJsTarget(connected.service.url + `/${SITE}`, gap.anchor)).equals(promoted), `day ${day}: the connected side serves the promoted content`);
      assert.notEqual((await carry(connected, gap)).outcome, 'failed');
      assert.ok((await tufJsTarget(gap.service.url, gap.anchor)).equals(promoted), `day ${day}: in the gap`);
    }
    // Nothing expired on the way: the site's timestamp is 30 days, re-signed weekly here.
    assert.equal(itemOf(await status(gap.service.url, SITE), 'role:timestamp').state, 'ok');
  });

  test('bridge promote refuses it (GATE_FAILED); --force is the operator overriding the gate', async () => {
    await assert.rejects(promoteBridge(connected.ctx), (e: unknown) => e instanceof BridgeError && e.code === 'GATE_FAILED');
    const forced = await promoteBridge(connected.ctx, { force: true });
    assert.equal(forced.outcome, 'promoted');
    assert.match(forced.message, /FORCED past the gate: BLOCKING TRUSTED_ROOT_UNLOADABLE/);
    connected.service.watcher.watch(connected.site);
    assert.equal(itemOf(await status(connected.service.url, SITE), 'bridge').state, 'ok');
    assert.equal(itemOf(await status(connected.service.url, SITE), 'compatibility').state, 'critical', 'and what is served now fails it, which the watch says');
  });
});

describe('a hostile source', () => {
  test('a target name clients could resolve outside the repository is never re-signed by the site', async () => {
    mock.timers.setTime(START + 61 * DAY);
    const served = connected.service.store.currentGeneration(SITE)!.id;
    repo.addTarget('win\\..\\evil.pem', REKOR_PUB);
    repo.publish();
    const [r] = await connected.service.syncAll();
    assert.equal(r.outcome, 'updated', 'the trust core refuses the name alone and commits the rest');
    assert.deepEqual(
      connected.service.store.currentGeneration(SOURCE)!.summary.refusedTargets?.map((t) => t.code),
      ['TARGET_NAME_UNSAFE'],
    );
    const decision = connected.service.store.latestBridgeDecision(SITE)!;
    assert.equal(decision.outcome, 'source-unavailable');
    assert.match(
      decision.message,
      /^SOURCE_NOT_VERIFIED: sigstore generation \d+ was committed with parts it could not verify \(target "win\\\\\.\.\\\\evil\.pem" of targets \(TARGET_NAME_UNSAFE\)\): not verified in full/,
    );
    assert.equal(connected.service.store.currentGeneration(SITE)!.id, served, 'nothing published');
    assert.equal(itemOf(await status(connected.service.url, SITE), 'bridge').state, 'warning');
  });

  test('a source with a delegated role again: its delegated target is not bridged', async () => {
    mock.timers.setTime(START + 62 * DAY);
    repo.removeTarget('win\\..\\evil.pem');
    repo.addDelegation('npm', { paths: ['npm/*'] });
    repo.addTarget('npm/keys.json', '{}', { role: 'npm' });
    repo.publish();
    assert.equal((await connected.service.syncAll())[0].outcome, 'updated');
    assert.equal(connected.service.store.latestBridgeDecision(SITE)!.outcome, 'current', 'a source that verified in full again; its delegated target is not bridged');
  });

  test('a target whose stored bytes no longer match what its role signed is never re-signed', async () => {
    mock.timers.setTime(START + 63 * DAY);
    const store = connected.service.store;
    const source = store.currentGeneration(SOURCE)!;
    const sha = store.resolvedTarget(source.id, 'trusted_root.json')!.info.hashes.sha256;
    const original = store.blob(sha)!;
    store.databaseForTests().prepare('UPDATE blobs SET data = ? WHERE sha256 = ?').run(Buffer.from('{"mediaType":"tampered"}'), sha);
    try {
      const decision = await checkBridge(connected.ctx);
      assert.equal(decision.outcome, 'source-unavailable');
      assert.match(decision.message, /^SOURCE_DAMAGED: sigstore generation \d+: store: target trusted_root\.json of generation \d+ does not match what targets signed/);
    } finally {
      store.databaseForTests().prepare('UPDATE blobs SET data = ? WHERE sha256 = ?').run(original, sha);
    }
  });

  test('names the site never signs, whatever a store holds (defence in depth behind the trust core)', () => {
    for (const bad of ['/etc/passwd', 'a/../b', './a', 'a//b', 'a/', 'win\\evil', 'nul\x00', '..']) assert.ok(unsafeName(bad), bad);
    for (const good of ['trusted_root.json', 'registry.npmjs.org/keys.json', 'a..b', '.hidden']) assert.ok(!unsafeName(good), good);
  });
});

describe("a delegated role that fails in the source (public-good's npm role expires on npm's schedule)", () => {
  let repo2: TestRepository;
  let upstream2: UpstreamServer;
  let connected2: Connected;
  const closers2: (() => Promise<unknown>)[] = [];
  before(async () => {
    mock.timers.setTime(START + 70 * DAY);
    repo2 = new TestRepository({ keyType: 'ecdsa' });
    repo2.addTarget('trusted_root.json', json(PUBLIC));
    repo2.addTarget('rekor.pub', REKOR_PUB, { custom: { sigstore: { usage: 'Rekor', status: 'Active', uri: 'https://rekor.sigstore.dev' } } });
    repo2.addDelegation('npm', { paths: ['npm/*'] });
    repo2.addTarget('npm/keys.json', '{}', { role: 'npm' });
    repo2.publish();
    upstream2 = await startUpstreamServer(() => repo2.files());
    closers2.push(() => upstream2.close());
    const anchor = path.join(tempDir(), 'root.json');
    fs.writeFileSync(anchor, repo2.rootBytes(1));
    connected2 = await startConnected(upstream2.url, anchor, { timestampExpiry: '30d', promote: 'auto' });
    closers2.push(() => connected2.service.close());
    assert.equal((await connected2.service.syncAll())[0].outcome, 'updated');
    await initSite(connected2);
  });
  after(async () => {
    for (const close of closers2.reverse()) await close();
  });

  test('does not stop the bridge: a top-level change is promoted, no bridged name resolving through the role, and the decision says so', async () => {
    const served = connected2.service.store.currentGeneration(SITE)!.id;
    repo2.setExpiry('npm', new Date(START + 69 * DAY));
    repo2.addTarget('ctfe_2026.pub', REKOR_PUB, { custom: { sigstore: { usage: 'CTFE', status: 'Active', uri: 'https://ctfe.sigstore.dev/2026' } } });
    repo2.publish();
    assert.equal((await connected2.service.syncAll())[0].outcome, 'updated');
    assert.deepEqual(
      connected2.service.store.currentGeneration(SOURCE)!.summary.failedRoles?.map((f) => `${f.role} ${f.code}`),
      ['npm EXPIRED_METADATA'],
    );
    const decision = connected2.service.store.latestBridgeDecision(SITE)!;
    assert.equal(decision.outcome, 'promoted', decision.message);
    assert.match(decision.message, /\(\+ctfe_2026\.pub\); not bridged, and no bridged target resolves through it: role npm \(EXPIRED_METADATA\)/);
    const site = connected2.service.store.currentGeneration(SITE)!;
    assert.notEqual(site.id, served);
    const names = connected2.service.store.resolvedTargets(site.id).map((t) => t.name);
    assert.deepEqual(names, ['ctfe_2026.pub', 'rekor.pub', 'trusted_root.json']);
  });
});
