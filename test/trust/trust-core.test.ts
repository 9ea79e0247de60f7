/**
 * The trust core against signed hostile repositories (issue 12): each built with @tufjs/models,
 * served by a real HTTP upstream under a base path, synced by a mirror, and read back by tuf-js
 * and @sigstore/tuf both through the mirror and from the upstream directly. For each: the
 * trusted_root.json clients resolve, the one the mirror serves, hands out in every trust-root
 * format and verifies with must be the same file; nothing outside the upstream's base path is
 * requested; no file is served under a hash it does not have.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { getTrustedRoot, initTUF } from '@sigstore/tuf';
import { Updater } from 'tuf-js';
import { unsafePathReason } from '../../lib/layout';
import { packageRoot } from '../../lib/paths';
import { publishRepository } from '../../publish/publish';
import type { Config } from '../../config/config';
import type { Service } from '../../server/service';
import type { GenerationRecord } from '../../store/store';
import { exportGeneration } from '../../sync/export';
import { SyncError } from '../../sync/errors';
import { HttpSource } from '../../sync/source';
import { FORMAT_NAMES, renderTrustRoot } from '../../trust/formats';
import { loadTrustMaterial } from '../../trust/material';
import { archiveMembers } from '../../trust/mirror-fs';
import { trustRootsFromStore } from '../../verifier/sources';
import { membersOf } from '../helpers/archive';
import { FIXTURE, get, readTree, startMirror, tempDir, testConfig } from '../helpers/mirror';
import { TestRepository, tufDate } from '../../testing/tuf-repo';
import { identityFor } from '../helpers/identity';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const CONFORMANCE = path.join(packageRoot(), 'test', 'fixtures', 'sigstore-conformance', 'bundle-verify');
/** The public-good trusted root: what every hostile repository below honestly publishes. */
const TRUSTED_ROOT = fs.readFileSync(path.join(FIXTURE, 'targets', '6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66.trusted_root.json'));
/** Another Sigstore instance's trusted root: what the attacks try to make the mirror use. */
const FOREIGN_ROOT = fs.readFileSync(path.join(CONFORMANCE, 'intoto-with-custom-trust-root', 'trusted_root.json'));
const FOREIGN_MARKER = 'localhost:8000'; // its logs' and CA's URLs; nowhere in the public-good root
const IDENTITY = 'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';
const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const PAST = new Date('2020-01-01T00:00:00Z');

assert.ok(!TRUSTED_ROOT.includes(FOREIGN_MARKER) && FOREIGN_ROOT.includes(FOREIGN_MARKER));

type Env = { repo: TestRepository; upstream: UpstreamServer; mirror: Service; config: Config; anchor: string };
const started: Env[] = [];
after(async () => {
  for (const e of started) {
    await e.mirror.close();
    await e.upstream.close();
  }
});

/** An upstream serving `repo` under /repo/ (recording every request), and a mirror anchored on its root v1. */
async function environment(repo: TestRepository, extra: Record<string, unknown> = {}): Promise<Env> {
  const upstream = await startUpstreamServer(() => repo.files(), { basePath: 'repo' });
  const dataDir = tempDir();
  const anchor = path.join(dataDir, 'anchor.root.json');
  fs.writeFileSync(anchor, repo.rootBytes(1));
  const config = testConfig([{ upstream: upstream.url, anchor }], { verifier: { token: VERIFY_TOKEN }, ...extra }, dataDir);
  const mirror = await startMirror(config);
  const env = { repo, upstream, mirror, config, anchor };
  started.push(env);
  return env;
}

async function sync(env: Env): Promise<GenerationRecord> {
  const [result] = await env.mirror.syncAll();
  assert.notEqual(result.outcome, 'failed', JSON.stringify(result));
  assert.ok(result.outcome !== 'failed');
  return result.generation;
}

/** A target through tuf-js's Updater from `base` (fresh each time), or the error it ended with. */
async function viaTufJs(base: string, anchor: string, name: string): Promise<Buffer | Error> {
  const dir = tempDir();
  fs.copyFileSync(anchor, path.join(dir, 'root.json'));
  fs.mkdirSync(path.join(dir, 'targets'));
  try {
    const updater = new Updater({ metadataDir: dir, metadataBaseUrl: base, targetBaseUrl: `${base}/targets`, targetDir: path.join(dir, 'targets') });
    const info = await updater.getTargetInfo(name);
    if (!info) return new Error(`${name}: not found`);
    return fs.readFileSync(await updater.downloadTarget(info, path.join(dir, 'target')));
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/** trusted_root.json as @sigstore/tuf fetches it with mirrorURL = `base`. */
async function viaSigstoreTuf(base: string, anchor: string): Promise<Buffer | Error> {
  try {
    const tuf = await initTUF({ mirrorURL: base, rootPath: anchor, cachePath: tempDir(), forceInit: true });
    return Buffer.from(await tuf.getTarget('trusted_root.json'));
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

function assertBytes(actual: Buffer | Error | undefined, expected: Buffer, what: string): void {
  assert.ok(Buffer.isBuffer(actual), `${what}: ${actual instanceof Error ? actual.message : 'nothing'}`);
  assert.ok(actual.equals(expected), `${what}: other bytes (sha256 ${sha256(actual).slice(0, 12)}…, expected ${sha256(expected).slice(0, 12)}…)`);
}

/** Verification on the public listener needs the caller's token (README "Who may call what"). */
const VERIFY_TOKEN = 'trust-core-verify-token-0123456789';

async function postJson(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${VERIFY_TOKEN}` }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/**
 * What every test below asserts of the mirror, whatever the attack: the same trusted_root.json
 * for clients of the mirror and of the upstream, for the mirror's own consumers, in every output.
 */
async function assertMirrorsUpstream(env: Env, expected = TRUSTED_ROOT): Promise<void> {
  const { mirror, upstream, anchor, config } = env;
  assertBytes(await viaTufJs(upstream.url, anchor, 'trusted_root.json'), expected, 'tuf-js from the upstream');
  assertBytes(await viaTufJs(mirror.url, anchor, 'trusted_root.json'), expected, 'tuf-js through the mirror');
  assertBytes(await viaSigstoreTuf(upstream.url, anchor), expected, '@sigstore/tuf from the upstream');
  assertBytes(await viaSigstoreTuf(mirror.url, anchor), expected, '@sigstore/tuf through the mirror');
  const root = await getTrustedRoot({ mirrorURL: mirror.url, rootPath: anchor, cachePath: tempDir(), forceInit: true });
  assert.equal(root.tlogs.length, (JSON.parse(expected.toString()) as { tlogs: unknown[] }).tlogs.length);

  const served = await get(`${mirror.url}/targets/trusted_root.json`);
  assertBytes(served.body, expected, 'GET /targets/trusted_root.json');
  const generation = mirror.store.currentGeneration('sigstore');
  assert.ok(generation);
  assertBytes(mirror.store.resolvedTarget(generation.id, 'trusted_root.json')?.bytes, expected, 'store.resolvedTarget');

  // Every trust-root output: from that file, and nothing of another trusted root anywhere.
  const material = loadTrustMaterial(mirror.store, 'sigstore');
  for (const format of FORMAT_NAMES) {
    const out = renderTrustRoot(material, format, { mirrorUrl: mirror.url, identity: identityFor(format) });
    assert.ok(!out.body.includes(FOREIGN_MARKER), `${format} carries the foreign trusted root`);
    if (format === 'trusted-root') assertBytes(out.body, expected, 'trustroot --format trusted-root');
    if (format === 'client-trust-config') assert.deepEqual((JSON.parse(out.body.toString()) as { trustedRoot: unknown }).trustedRoot, JSON.parse(expected.toString()));
  }
  for (const m of archiveMembers(material)) {
    assert.ok(!m.bytes.includes(FOREIGN_MARKER), `mirrorFS member ${m.path} carries the foreign trusted root`);
    if (/\/[0-9a-f]{64,128}\.trusted_root\.json$/.test(m.path)) assertBytes(m.bytes, expected, `mirrorFS ${m.path}`);
  }

  // The verifier: the same file, by hash, and a public-good bundle verifies while one of the
  // foreign instance does not.
  assert.equal(trustRootsFromStore(mirror.store, config)('sigstore').source.sha256, sha256(expected));
  const happy = fs.readFileSync(path.join(CONFORMANCE, 'happy-path-v0.3', 'bundle.sigstore.json'), 'utf8');
  const ok = await postJson(`${mirror.url}/api/v1/verify/bundle`, {
    bundle: JSON.parse(happy),
    artifactDigest: `sha256:${sha256(fs.readFileSync(path.join(CONFORMANCE, 'a.txt')))}`,
    identity: { subject: IDENTITY, issuer: ISSUER },
  });
  assert.equal((ok.json.trustRoot as { sha256: string }).sha256, sha256(expected));
  assert.equal(ok.json.verified, expected.equals(TRUSTED_ROOT), JSON.stringify(ok.json));
  const foreign = fs.readFileSync(path.join(CONFORMANCE, 'intoto-with-custom-trust-root', 'bundle.sigstore.json'), 'utf8');
  const no = await postJson(`${mirror.url}/api/v1/verify/bundle`, {
    bundle: JSON.parse(foreign),
    artifactDigest: `sha256:${sha256(fs.readFileSync(path.join(CONFORMANCE, 'intoto-with-custom-trust-root', 'artifact')))}`,
    identity: { subject: IDENTITY, issuer: ISSUER },
  });
  assert.equal(no.json.verified, false, 'a bundle of the foreign instance must not verify');

  assertOnlyInsideBase(env);
  assertHashNamesTrue(env);
  await assertServesWhatItStores(env);
}

/** Every file of the generation is answered at the path a client requests for it, byte for byte. */
async function assertServesWhatItStores(env: Env): Promise<void> {
  const generation = env.mirror.store.currentGeneration('sigstore');
  assert.ok(generation);
  for (const [p, sha] of env.mirror.store.generationFiles(generation.id)) {
    const res = await get(`${env.mirror.url}/${p.split('/').map(encodeURIComponent).join('/')}`);
    assert.equal(res.status, 200, p);
    assert.equal(sha256(res.body), sha, p);
  }
}

/** Nothing outside the upstream's base path was ever requested, and no `..` either. */
function assertOnlyInsideBase(env: Env): void {
  const outside = env.upstream.requests.filter((r) => !r.startsWith('repo/') || r.split('/').includes('..'));
  assert.deepEqual(outside, [], 'requests outside the upstream base path');
}

/** Every served file named `<hex>.<name>` has that sha256 or sha512. */
function assertHashNamesTrue(env: Env): void {
  const set = env.mirror.store.servedSet('sigstore', 5);
  assert.ok(set);
  for (const [p, sha] of set.files) {
    const m = /^targets\/(?:.*\/)?([0-9a-f]{64}|[0-9a-f]{128})\.[^/]+$/.exec(p);
    if (!m) continue;
    const bytes = env.mirror.store.blob(sha);
    assert.ok(bytes);
    const algorithm = m[1].length === 64 ? 'sha256' : 'sha512';
    assert.equal(createHash(algorithm).update(bytes).digest('hex'), m[1], `${p} is served under a ${algorithm} it does not have`);
  }
}

describe('1. a delegated role named like a target path', () => {
  const repo = new TestRepository();
  repo.addTarget('trusted_root.json', TRUSTED_ROOT);
  // Listed in the snapshot, delegated for nothing/*; its unversioned file would be targets/trusted_root.json.
  repo.addDelegation('targets/trusted_root', { paths: ['nothing/*'] });
  repo.addTarget('nothing/x.txt', 'x\n', { role: 'targets/trusted_root' });
  // Names that clients could not fetch safely, or would fetch at different paths.
  repo.addDelegation('../escape', { paths: ['escape/*'] });
  repo.addDelegation('3.snapshot', { paths: ['snap/*'] });
  repo.addDelegation('npm', { paths: ['npm/*'] });
  repo.addTarget('npm/keys.json', '{"keys":[]}\n', { role: 'npm' });
  repo.publish();
  let env: Env;

  test('the roles are refused by name before any request, the rest commits, and clients get the honest trusted root', async () => {
    env = await environment(repo);
    // The role's file carries a foreign trusted root beside `signed`, covered by no signature.
    const roleFile = `${repo.metadata('targets/trusted_root').signed.version}.targets/trusted_root.json`;
    const poisoned = { ...(JSON.parse(FOREIGN_ROOT.toString()) as object), ...(JSON.parse(repo.files().get(roleFile)!.toString()) as object) };
    env.upstream.override(`repo/${roleFile}`, { body: JSON.stringify(poisoned) });

    const generation = await sync(env);
    assert.deepEqual(
      generation.summary.failedRoles?.map((f) => [f.role, f.code, f.servedVersion]),
      [
        ['targets/trusted_root', 'ROLE_NAME_UNSAFE', null],
        ['../escape', 'ROLE_NAME_UNSAFE', null],
        ['3.snapshot', 'ROLE_NAME_UNSAFE', null],
      ],
    );
    assert.deepEqual(
      generation.summary.roles.map((r) => r.role),
      ['root', 'timestamp', 'snapshot', 'targets', 'npm'],
    );
    assert.deepEqual(generation.summary.targets, ['npm/keys.json', 'trusted_root.json']);
    assert.ok(!env.upstream.requests.includes(`repo/${roleFile}`), 'the role file was never asked for');
    assert.equal(env.mirror.store.lastSyncRun('sigstore')!.problems?.failedRoles.length, 3);
    await assertMirrorsUpstream(env);
  });

  test('the refused role is reported critical; a target only it lists resolves upstream, not through the mirror', async () => {
    const item = env.mirror.watcher.items(env.config.repositories[0]).find((i) => i.item === 'role:targets/trusted_root');
    assert.equal(item?.state, 'critical');
    assert.match(item.message, /ROLE_NAME_UNSAFE/);
    assertBytes(await viaTufJs(env.upstream.url, env.anchor, 'nothing/x.txt'), Buffer.from('x\n'), 'upstream');
    assert.ok((await viaTufJs(env.mirror.url, env.anchor, 'nothing/x.txt')) instanceof Error, 'through the mirror the refused role is not served');
    assert.equal((await get(`${env.mirror.url}/1.targets%2Ftrusted_root.json`)).status, 400);
  });
});

describe('2. nested delegations scoped by the whole chain', () => {
  // targets → A (a/*) and B (trusted_root.json); A → C (trusted_root.json, a/c-*). A client resolves
  // trusted_root.json to B's file: C is below A, which is not delegated that name.
  const repo = new TestRepository();
  repo.addDelegation('A', { paths: ['a/*'] });
  repo.addDelegation('B', { paths: ['trusted_root.json'] });
  repo.addDelegation('C', { paths: ['trusted_root.json', 'a/c-*'], delegator: 'A' });
  repo.addTarget('a/1.txt', 'a1\n', { role: 'A' });
  repo.addTarget('trusted_root.json', FOREIGN_ROOT, { role: 'C' });
  repo.addTarget('a/c-1.txt', 'c1\n', { role: 'C' });
  repo.addTarget('trusted_root.json', TRUSTED_ROOT, { role: 'B' });
  repo.publish();

  test("the mirror resolves every name as clients do, serving, handing out and verifying with B's trusted root", async () => {
    const env = await environment(repo);
    const generation = await sync(env);
    assert.equal(generation.summary.failedRoles, undefined);
    assert.deepEqual(
      generation.summary.roles.map((r) => r.role),
      ['root', 'timestamp', 'snapshot', 'targets', 'A', 'C', 'B'],
    );
    assert.deepEqual(
      env.mirror.store.resolvedTargets(generation.id).map((t) => [t.name, t.role]),
      [
        ['a/1.txt', 'A'],
        ['a/c-1.txt', 'C'],
        ['trusted_root.json', 'B'],
      ],
    );
    await assertMirrorsUpstream(env);
    for (const name of ['a/1.txt', 'a/c-1.txt']) {
      const upstream = await viaTufJs(env.upstream.url, env.anchor, name);
      assert.ok(Buffer.isBuffer(upstream));
      assertBytes(await viaTufJs(env.mirror.url, env.anchor, name), upstream, name);
    }
    // C's trusted_root.json is no file of the generation: no client can reach it.
    const files = env.mirror.store.generationFiles(generation.id);
    assert.ok(![...files.values()].includes(sha256(FOREIGN_ROOT)));
  });
});

describe('3. an expired delegated role', () => {
  const repo = new TestRepository();
  repo.addTarget('trusted_root.json', TRUSTED_ROOT);
  repo.addDelegation('npm', { paths: ['npm/*'] });
  repo.addTarget('npm/keys.json', '{"keys":[1]}\n', { role: 'npm' });
  repo.publish();
  let env: Env;

  test('leaves a new generation with fresh top-level roles, the last verified role still served, the role reported critical', async () => {
    env = await environment(repo);
    const first = await sync(env);
    const npmBefore = (await get(`${env.mirror.url}/npm.json`)).body;

    // npm re-signed on its own schedule, and this time expired; the top-level roles move on.
    repo.setExpiry('npm', PAST);
    repo.addTarget('npm/keys.json', '{"keys":[2]}\n', { role: 'npm' });
    repo.publish();
    const second = await sync(env);
    assert.ok(second.id > first.id);
    assert.equal(second.timestampVersion, repo.metadata('timestamp').signed.version);
    assert.equal(second.snapshotVersion, repo.metadata('snapshot').signed.version);
    const [failed] = second.summary.failedRoles ?? [];
    assert.deepEqual([failed.role, failed.code, failed.servedVersion], ['npm', 'EXPIRED_METADATA', 1]);
    assert.equal(failed.message, `npm v2 expired ${tufDate(PAST)}`);
    assert.ok((await get(`${env.mirror.url}/npm.json`)).body.equals(npmBefore));
    assert.equal((await get(`${env.mirror.url}/2.npm.json`)).status, 404);

    const item = env.mirror.watcher.items(env.config.repositories[0]).find((i) => i.item === 'role:npm');
    assert.equal(item?.state, 'critical');
    assert.match(item.message, /EXPIRED_METADATA: npm v2 expired 2020-01-01T00:00:00Z; serving v1/);
    await assertMirrorsUpstream(env);
    // A client that needs the role fails, upstream as through the mirror.
    assert.match(String(await viaTufJs(env.upstream.url, env.anchor, 'npm/keys.json')), /expired/);
    assert.ok((await viaTufJs(env.mirror.url, env.anchor, 'npm/keys.json')) instanceof Error);
  });

  test('the next timestamps keep coming (`tuf-mirror sync` says what is not mirrored); a valid npm again clears it', async () => {
    repo.bumpTimestamp();
    // The README's example, as a separate process on the same data dir.
    const configFile = path.join(env.config.dataDir, 'tuf-mirror.yaml');
    fs.writeFileSync(configFile, JSON.stringify({ dataDir: env.config.dataDir, repositories: [{ name: 'sigstore', upstream: env.upstream.url, trustAnchor: env.anchor }] }));
    const cli = await new Promise<{ status: number; stdout: string }>((resolve) =>
      execFile(process.execPath, [path.join(packageRoot(), 'dist', 'cli', 'main.js'), '--config', configFile, 'sync'], { encoding: 'utf8' }, (err, stdout) =>
        resolve({ status: err ? Number(err.code) : 0, stdout }),
      ),
    );
    assert.equal(cli.status, 0, cli.stdout);
    assert.match(cli.stdout, /^sigstore: new generation \d+ \(root v1, timestamp v\d+, snapshot v\d+, targets v\d+, npm v1; \d+ requests, \d+ bytes\)\n/);
    assert.match(cli.stdout, /\n {2}role npm NOT MIRRORED: EXPIRED_METADATA: npm v2 expired 2020-01-01T00:00:00Z \(still serving v1\)\n$/);
    const third = env.mirror.store.currentGeneration('sigstore');
    assert.ok(third);
    assert.equal(third.timestampVersion, repo.metadata('timestamp').signed.version);
    assert.equal(third.summary.failedRoles?.[0].code, 'EXPIRED_METADATA');
    repo.setExpiry('npm', new Date(Date.now() + 30 * 86400_000));
    repo.publish();
    const fourth = await sync(env);
    assert.equal(fourth.summary.failedRoles, undefined);
    assertBytes(await viaTufJs(env.mirror.url, env.anchor, 'npm/keys.json'), Buffer.from('{"keys":[2]}\n'), 'npm/keys.json');
    assert.equal(env.mirror.watcher.items(env.config.repositories[0]).find((i) => i.item === 'role:npm')?.state, 'ok');
  });
});

describe('4. a held blob and a wrong second hash', () => {
  const repo = new TestRepository({ sha512: true });
  repo.addTarget('trusted_root.json', TRUSTED_ROOT);
  repo.addTarget('fulcio.crt.pem', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  repo.publish();

  /** A new targets version listing fulcio.crt.pem with its true sha256 and length but a wrong sha512, honestly chained. */
  function wrongSha512(env: Env): void {
    const targetsVersion = repo.metadata('targets').signed.version + 1;
    const snapshotVersion = repo.metadata('snapshot').signed.version + 1;
    const targets = repo.forge('targets', (s) => {
      s.version = targetsVersion;
      s.targets['fulcio.crt.pem'].hashes.sha512 = 'ab'.repeat(64);
    });
    const snapshot = repo.forge('snapshot', (s) => {
      s.version = snapshotVersion;
      s.meta['targets.json'] = { version: targetsVersion };
    });
    const timestamp = repo.forge('timestamp', (s) => {
      s.version++;
      s.meta['snapshot.json'] = { version: snapshotVersion };
    });
    env.upstream.override(`repo/${targetsVersion}.targets.json`, { body: targets });
    env.upstream.override(`repo/${snapshotVersion}.snapshot.json`, { body: snapshot });
    env.upstream.override('repo/timestamp.json', { body: timestamp });
  }

  test('a mirror holding the file refuses the new listing as a fresh one does: no file under a hash it does not have', async () => {
    const env = await environment(repo);
    const first = await sync(env);
    wrongSha512(env);
    const [held] = await env.mirror.syncAll();
    assert.equal(held.outcome, 'failed');
    assert.equal(held.error.code, 'LENGTH_OR_HASH_MISMATCH', held.error.message);
    assert.equal(held.error.role, 'targets/fulcio.crt.pem');
    assert.equal(env.mirror.store.currentGeneration('sigstore')?.id, first.id);
    await assertMirrorsUpstream(env);

    const fresh = await environment(repo);
    wrongSha512(fresh);
    const [result] = await fresh.mirror.syncAll();
    assert.equal(result.outcome, 'failed');
    assert.equal(result.error.code, 'LENGTH_OR_HASH_MISMATCH');
  });
});

describe('5. unsafe target names', () => {
  const unsafe = ['../../../../escape/x.txt', 'a/../b.txt', 'a//b.txt', './c.txt', '/etc/passwd', 'a\\b.txt', 'x%2F..%2Fy.txt', 'ctl\u0001.txt', 'q?.txt', 'C:/d.txt'];
  const repo = new TestRepository();
  repo.addTarget('trusted_root.json', TRUSTED_ROOT);
  for (const name of unsafe) repo.addTarget(name, `${name}\n`);
  repo.addDelegation('npm', { paths: ['npm/*'] });
  repo.addTarget('npm/keys.json', '{"keys":[]}\n', { role: 'npm' });
  repo.addTarget('npm/../../up.txt', 'up\n', { role: 'npm' });
  repo.publish();

  test('are refused before any request, each alone; the rest commits, and no export, mirrorFS archive or published tree holds them', async () => {
    const env = await environment(repo);
    const generation = await sync(env);
    const refused = generation.summary.refusedTargets ?? [];
    assert.equal(refused.length, unsafe.length + 1, JSON.stringify(refused));
    assert.ok(refused.every((r) => r.code === 'TARGET_NAME_UNSAFE'));
    assert.deepEqual(generation.summary.targets, ['npm/keys.json', 'trusted_root.json']);
    assert.equal(env.mirror.watcher.items(env.config.repositories[0]).find((i) => i.item === 'target:../../../../escape/x.txt')?.state, 'critical');
    await assertMirrorsUpstream(env);

    const safe = (p: string): boolean => unsafePathReason(p) === undefined && !/[%?#]/.test(p);
    for (const p of env.mirror.store.generationFiles(generation.id).keys()) assert.ok(safe(p), `stored: ${p}`);
    const exported = await membersOf(exportGeneration(env.mirror.store, env.config.repositories[0]).bytes);
    for (const p of exported.keys()) assert.ok(safe(p), `export member: ${p}`);
    for (const m of archiveMembers(loadTrustMaterial(env.mirror.store, 'sigstore'))) assert.ok(safe(m.path), `mirrorFS member: ${m.path}`);
    // Defence in depth: the HTTP source itself never asks for such a path.
    const before = env.upstream.requests.length;
    const source = new HttpSource(env.upstream.url, { timeoutMs: 5000, userAgent: 'test' });
    await assert.rejects(source.get('targets/../../../../escape/x.txt', { maxBytes: 100 }), (e: unknown) => e instanceof SyncError && e.code === 'UNSAFE_PATH');
    assert.equal(env.upstream.requests.length, before);

    const dir = tempDir();
    publishRepository(env.mirror.store, 'sigstore', path.join(dir, 'tree'));
    assert.deepEqual(fs.readdirSync(dir), ['tree'], 'nothing written beside the tree');
    for (const p of readTree(path.join(dir, 'tree')).keys()) assert.ok(safe(p), `published: ${p}`);
  });
});

describe('caps, each with its code', () => {
  test(`delegated roles past sync.maxDelegatedRoles: TOO_MANY_DELEGATIONS, the first ones mirrored`, async () => {
    const repo = new TestRepository();
    repo.addTarget('trusted_root.json', TRUSTED_ROOT);
    for (const n of [1, 2, 3, 4, 5]) {
      repo.addDelegation(`r${n}`, { paths: [`r${n}/*`] });
      repo.addTarget(`r${n}/x`, `${n}\n`, { role: `r${n}` });
    }
    repo.publish();
    const env = await environment(repo, { sync: { onStart: false, maxDelegatedRoles: 3 } });
    const generation = await sync(env);
    assert.deepEqual(
      generation.summary.failedRoles?.map((f) => [f.role, f.code]),
      [['targets', 'TOO_MANY_DELEGATIONS']],
    );
    assert.deepEqual(generation.summary.targets, ['r1/x', 'r2/x', 'r3/x', 'trusted_root.json']);
    assert.ok(!env.upstream.requests.some((r) => /\.r[45]\.json$/.test(r)), 'no request past the cap');
    await assertMirrorsUpstream(env);
  });

  test('a succinct delegation of 2^22 bins: SUCCINCT_DELEGATION_TOO_LARGE, refused without expanding it', async () => {
    const repo = new TestRepository();
    repo.addTarget('trusted_root.json', TRUSTED_ROOT);
    repo.addDelegation('bins', { paths: ['bins/*'] });
    repo.addSuccinctDelegation({ delegator: 'bins', bitLength: 22, namePrefix: 'bin', createBins: false });
    repo.publish();
    const env = await environment(repo);
    const generation = await sync(env);
    const failed = generation.summary.failedRoles?.[0];
    assert.deepEqual([failed?.role, failed?.code, failed?.servedVersion], ['bins', 'SUCCINCT_DELEGATION_TOO_LARGE', 1]);
    assert.match(failed!.message, /2\^22 = 4194304 hash-bin roles/);
    assert.ok(!env.upstream.requests.some((r) => r.includes('bin-')));
    await assertMirrorsUpstream(env);
  });

  test('two targets claiming one path with different bytes: PATH_COLLISION, both refused, the rest commits', async () => {
    const repo = new TestRepository();
    repo.addTarget('trusted_root.json', TRUSTED_ROOT);
    const content = 'the real f\n';
    repo.addTarget('d/f', content);
    // Its plain path is exactly d/f's hash-prefixed one.
    repo.addTarget(`d/${sha256(content)}.f`, 'another f\n');
    repo.publish();
    const env = await environment(repo);
    const generation = await sync(env);
    assert.deepEqual(
      generation.summary.refusedTargets?.map((r) => [r.name, r.code]).sort(),
      [
        ['d/f', 'PATH_COLLISION'],
        [`d/${sha256(content)}.f`, 'PATH_COLLISION'],
      ].sort(),
    );
    assert.deepEqual(generation.summary.targets, ['trusted_root.json']);
    assert.equal((await get(`${env.mirror.url}/targets/d/${sha256(content)}.f`)).status, 404);
    await assertMirrorsUpstream(env);
  });
});

describe('a generation committed before target resolutions were recorded', () => {
  test('gets them from its own verified metadata at the next sync, even one that fails: the verifier keeps working', async () => {
    const repo = new TestRepository();
    repo.addTarget('trusted_root.json', TRUSTED_ROOT);
    repo.publish();
    const env = await environment(repo);
    const generation = await sync(env);
    // What an older tuf-mirror left: no resolution rows, no count in the summary.
    const db = env.mirror.store.databaseForTests();
    db.prepare('DELETE FROM block_targets WHERE block_id IN (SELECT block_id FROM generation_blocks WHERE generation_id = ?)').run(generation.id);
    const { resolvedTargets: _dropped, ...legacy } = generation.summary;
    db.prepare('UPDATE generations SET summary = ? WHERE id = ?').run(JSON.stringify(legacy), generation.id);
    assert.equal(env.mirror.store.resolvedTarget(generation.id, 'trusted_root.json'), undefined);

    env.upstream.override(/./, { status: 503 });
    const [failed] = await env.mirror.syncAll();
    assert.equal(failed.outcome, 'failed');
    assert.equal(env.mirror.store.currentGeneration('sigstore')?.id, generation.id);
    assertBytes(env.mirror.store.resolvedTarget(generation.id, 'trusted_root.json')?.bytes, TRUSTED_ROOT, 'backfilled');
    assert.equal(env.mirror.store.currentGeneration('sigstore')?.summary.resolvedTargets, 1);
    assert.equal(trustRootsFromStore(env.mirror.store, env.config)('sigstore').source.sha256, sha256(TRUSTED_ROOT));
  });
});
