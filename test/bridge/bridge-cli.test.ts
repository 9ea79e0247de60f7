/**
 * "Air-gapped for months" as the README tells an operator to do it: separate `tuf-mirror`
 * processes, config files, exit codes. The real public-good fixture on the connected side; each
 * process's clock pinned with bench/pin-date.js (BENCH_PIN_DATE) to the day the step happens.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { packageRoot } from '../../lib/paths';
import { FIXTURE, tempDir } from '../helpers/mirror';
import { TestRepository } from '../../testing/tuf-repo';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const CLI = path.join(packageRoot(), 'dist', 'cli', 'main.js');
const PIN = path.join(packageRoot(), 'dist', 'bench', 'pin-date.js');
const PUBLIC_TRUSTED_ROOT = fs.readFileSync(path.join(FIXTURE, 'targets', '6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66.trusted_root.json'));

type Run = { status: number; stdout: string; stderr: string };
const run = (cwd: string, at: string, args: string[]): Promise<Run> =>
  new Promise((resolve) => {
    execFile(process.execPath, ['-r', PIN, CLI, ...args, '--config', 'tuf-mirror.yaml'], { cwd, encoding: 'utf8', env: { ...process.env, BENCH_PIN_DATE: at } }, (err, stdout, stderr) => {
      resolve({ status: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
const writeConfig = (dir: string, config: unknown) => fs.writeFileSync(path.join(dir, 'tuf-mirror.yaml'), YAML.stringify(config));

describe('the public-good repository across a gap, by the command line', () => {
  let upstream: UpstreamServer;
  const connected = tempDir('tuf-mirror-connected-');
  const gap = tempDir('tuf-mirror-gap-');
  const DAY1 = '2026-08-22T00:00:00Z';
  before(async () => {
    upstream = await startUpstreamServer(FIXTURE);
    fs.copyFileSync(path.join(FIXTURE, '1.root.json'), path.join(connected, 'sigstore-root.json'));
    writeConfig(connected, {
      dataDir: './data',
      repositories: [
        { name: 'sigstore', upstream: upstream.url, trustAnchor: './sigstore-root.json', default: true },
        { name: 'sigstore-site', kind: 'bridge', bridge: { source: 'sigstore', timestampExpiry: '60d', promote: 'auto' } },
      ],
    });
  });
  after(() => upstream.close());

  test('connected side: sync, bridge init, check, status, export', async () => {
    assert.equal((await run(connected, DAY1, ['sync', 'sigstore'])).status, 0);
    const init = await run(connected, DAY1, ['bridge', 'init', 'sigstore-site']);
    assert.equal(init.status, 0, init.stderr);
    const anchor = path.join(connected, 'data', 'bridge', 'sigstore-site', '1.root.json');
    const lines = init.stdout.split('\n');
    assert.equal(
      lines[0],
      'sigstore-site: generation 2 (root v1, targets v1, snapshot v1, timestamp v1); targets: artifact.pub, ctfe.pub, ctfe_2022.pub, fulcio.crt.pem, fulcio_intermediate_v1.crt.pem, fulcio_v1.crt.pem, rekor.pub, signing_config.json, signing_config.v0.2.json, signing_config_rekor_v2.v0.2.json, trusted_root.json',
    );
    assert.equal(lines[1], `trust anchor (give it to clients): ${anchor}`);
    for (const role of ['root', 'targets', 'snapshot', 'timestamp']) assert.ok(lines.includes(`  ${path.join(connected, 'data', 'bridge', 'sigstore-site', 'keys', `${role}-1.pem`)}`), role);
    assert.match(init.stdout, /\nsigstore-site: promoted: initialized from sigstore generation 1 \(11 targets\)\n/);
    assert.match(init.stdout, /\n {2}notice KEY_TYPE_UNSUPPORTED \[policy-controller\]: tlog https:\/\/log2025-1\.rekor\.sigstore\.dev has a key of type ed25519/);
    assert.match(init.stdout, /\n {2}policy-controller \(remote, repository, sigstore-keys\) leaves out: tlog https:\/\/log2025-1\.rekor\.sigstore\.dev \(ed25519\)\n/);

    const check = await run(connected, '2026-08-22T06:00:00Z', ['bridge', 'check', 'sigstore-site']);
    assert.equal(check.status, 0);
    assert.match(check.stdout, /^sigstore-site: current: promoted content equals sigstore generation 1\n/);
    const promote = await run(connected, '2026-08-22T06:00:00Z', ['bridge', 'promote', 'sigstore-site']);
    assert.match(promote.stdout, /^sigstore-site: current: nothing to promote/);

    const resign = await run(connected, '2026-08-23T03:00:00Z', ['bridge', 'resign', 'sigstore-site']);
    assert.equal(resign.stdout, 'sigstore-site: generation 3 (timestamp v2, snapshot v1, targets v1)\n');
    const status = await run(connected, '2026-08-23T03:00:00Z', ['status', 'sigstore-site']);
    assert.equal(status.status, 0, status.stdout);
    assert.match(status.stdout, /^sigstore-site {2}← bridge of sigstore \(re-signed by this service\)\n/);
    assert.match(status.stdout, /\n {2}timestamp +2 +2026-10-22T03:00:00Z +59d 23h +OK\n/);
    assert.match(
      status.stdout,
      /\n {2}compatibility OK: served trust material passes the compatibility gate \(2 notices: policy-controller leaves out tlog https:\/\/log2025-1\.rekor\.sigstore\.dev \(ed25519\)\)\n/,
    );
    assert.match(status.stdout, /\n {2}bridge OK: promoted: initialized from sigstore generation 1/);

    const exported = await run(connected, '2026-08-23T03:00:00Z', ['export', 'sigstore-site', '--out', path.join(gap, 'sigstore-site.tar.gz')]);
    assert.equal(exported.status, 0, exported.stderr);
    assert.match(exported.stdout, /^sigstore-site: exported generation 3 \(root v1, timestamp v2, snapshot v1, targets v1; 26 files, root v1\)/);
    fs.copyFileSync(anchor, path.join(gap, 'site-root.json'));
  });

  test('in the gap: import, status with the carry-by date, trust roots from the site root', async () => {
    writeConfig(gap, {
      dataDir: './data',
      repositories: [
        {
          name: 'sigstore-site',
          upstream: 'http://127.0.0.1:9',
          trustAnchor: './site-root.json',
          thresholds: { timestamp: { warning: '14d', critical: '7d' } },
        },
      ],
    });
    const imported = await run(gap, '2026-08-25T09:00:00Z', ['import', 'sigstore-site.tar.gz']);
    assert.match(imported.stdout, /^sigstore-site: new generation 1 \(root v1, timestamp v2, snapshot v1, targets v1; 15 files read, \d+ bytes\)\n$/);

    const status = await run(gap, '2026-10-11T12:00:00Z', ['status']);
    assert.equal(status.status, 0, status.stdout);
    assert.match(status.stdout, /\n {2}timestamp .* WARNING\n/);
    const json = await run(gap, '2026-10-11T12:00:00Z', ['status', '--json']);
    const items = JSON.parse(json.stdout).repositories[0].items;
    const ts = items.find((i: { item: string }) => i.item === 'role:timestamp');
    // (The pinned clock moves on from 12:00 while the process runs: 10d 15h, or 14h and some minutes.)
    assert.match(
      ts.message,
      /^timestamp v2 expires in 10d 1[45]h \(2026-10-22T03:00:00Z\): carry the next archive by 2026-10-15T03:00:00Z \(tuf-mirror export on the connected side, tuf-mirror import here\)$/,
    );
    assert.equal(items.find((i: { item: string }) => i.item === 'sync').state, 'ok');

    const cosign = await run(gap, '2026-10-11T12:00:00Z', ['trustroot', 'sigstore-site', '--format', 'cosign', '--mirror-url', 'http://tuf-mirror.site.svc:8080']);
    const checksum = createHash('sha256')
      .update(fs.readFileSync(path.join(gap, 'site-root.json')))
      .digest('hex');
    assert.equal(cosign.stderr, `tuf-mirror: --root-checksum ${checksum} (sha256 of root v1, for cosign initialize --root sigstore-site-root-v1.json)\n`);
    const trusted = await run(gap, '2026-10-11T12:00:00Z', ['trustroot', 'sigstore-site', '--format', 'trusted-root']);
    assert.equal(trusted.stdout, PUBLIC_TRUSTED_ROOT.toString('utf8'));
  });
});

describe('promote: manual, the targets key offline', () => {
  const repo = new TestRepository({ keyType: 'ecdsa' });
  repo.addTarget('trusted_root.json', PUBLIC_TRUSTED_ROOT);
  repo.publish();
  let upstream: UpstreamServer;
  const dir = tempDir('tuf-mirror-manual-');
  const NOW = new Date().toISOString();
  before(async () => {
    upstream = await startUpstreamServer(() => repo.files());
    fs.writeFileSync(path.join(dir, 'root.json'), repo.rootBytes(1));
    writeConfig(dir, {
      dataDir: './data',
      repositories: [
        { name: 'sigstore', upstream: upstream.url, trustAnchor: './root.json' },
        { name: 'site', kind: 'bridge', bridge: { source: 'sigstore', timestampExpiry: '45d', promote: 'manual', keysDir: './site-keys' } },
      ],
    });
  });
  after(() => upstream.close());

  test('sync marks the candidate pending; promote needs the targets key brought back with --keys-dir', async () => {
    assert.equal((await run(dir, NOW, ['sync', 'sigstore'])).status, 0);
    assert.equal((await run(dir, NOW, ['bridge', 'init', 'site'])).status, 0);
    // The operator moves the root and targets keys offline.
    const offline = tempDir('tuf-mirror-offline-keys-');
    for (const role of ['root', 'targets']) fs.renameSync(path.join(dir, 'site-keys', `${role}-1.pem`), path.join(offline, `${role}-1.pem`));

    const retired = JSON.parse(PUBLIC_TRUSTED_ROOT.toString('utf8'));
    retired.ctlogs[1].publicKey.validFor.end = '2027-01-01T00:00:00Z';
    repo.addTarget('trusted_root.json', JSON.stringify(retired));
    repo.publish();
    const sync = await run(dir, NOW, ['sync']);
    assert.equal(sync.status, 0, sync.stdout);
    assert.match(sync.stdout, /\nsite: bridge pending: candidate from sigstore generation 3 \(~trusted_root\.json\) passed the gate: tuf-mirror bridge promote site\n/);
    assert.equal((await run(dir, NOW, ['bridge', 'resign', 'site'])).status, 0, 'the online keys re-sign without the offline ones');

    const without = await run(dir, NOW, ['bridge', 'promote', 'site']);
    assert.equal(without.status, 1);
    assert.match(without.stderr, /^tuf-mirror: THRESHOLD_NOT_MET: targets needs 1 of its 1 keys; 0 available/);
    const promoted = await run(dir, NOW, ['bridge', 'promote', 'site', '--keys-dir', offline]);
    assert.equal(promoted.status, 0, promoted.stderr);
    assert.match(promoted.stdout, /^site: promoted: promoted sigstore generation 3 as targets v2 \(~trusted_root\.json\)\n/);

    // --json: the shared field names (repository, outcome, generation), in check and in sync's results.
    const checked = await run(dir, NOW, ['bridge', 'check', 'site', '--json']);
    assert.equal(checked.status, 0, checked.stderr);
    const decision = JSON.parse(checked.stdout);
    assert.deepEqual([decision.repository, decision.outcome, decision.sourceGeneration], ['site', 'current', 3]);
    assert.equal(typeof decision.generation, 'number');
    const synced = await run(dir, NOW, ['sync', '--json']);
    assert.equal(synced.status, 0, synced.stderr);
    assert.deepEqual(
      JSON.parse(synced.stdout).results.map((r: { repository: string; outcome: string }) => `${r.repository} ${r.outcome}`),
      ['sigstore unchanged', 'site current'],
    );
    const unknown = await run(dir, NOW, ['bridge', 'check', 'nope', '--json']);
    assert.equal(unknown.status, 3);
    assert.equal(JSON.parse(unknown.stdout).error.code, 'UNKNOWN_REPOSITORY');
    const notABridge = await run(dir, NOW, ['bridge', 'check', 'sigstore']);
    assert.equal(notABridge.status, 3);
    assert.equal(notABridge.stderr, 'tuf-mirror: repository sigstore is kind: mirror, not kind: bridge\n');

    // The shared key routines work for a bridge: the root key brought back for a moment, the
    // timestamp key replaced (the new one lands in keysDir, where the service finds it).
    fs.copyFileSync(path.join(offline, 'root-1.pem'), path.join(dir, 'site-keys', 'root-1.pem'));
    const rotated = await run(dir, NOW, ['bridge', 'rotate-root', 'site', '--replace', 'timestamp']);
    fs.rmSync(path.join(dir, 'site-keys', 'root-1.pem'));
    assert.equal(rotated.status, 0, rotated.stderr);
    assert.match(rotated.stdout, /^new key: .*site-keys\/timestamp-v2-1\.pem\nsite: root v2 published in generation \d+\n$/);
    assert.equal((await run(dir, NOW, ['bridge', 'resign', 'site'])).status, 0, 'the new timestamp key signs from then on');
  });
});
