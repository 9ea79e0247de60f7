/** `tuf-mirror export` and `tuf-mirror import` as an operator runs them: separate processes, files, exit codes. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { packageRoot } from '../../lib/paths';
import { alter, alterSigned, filesOf, forgeArchive } from '../helpers/archive';
import { tempDir } from '../helpers/mirror';
import { TestRepository } from '../../testing/tuf-repo';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const CLI = path.join(packageRoot(), 'dist', 'cli', 'main.js');
const repo = new TestRepository();
repo.addTarget('trusted_root.json', '{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}\n');
repo.addDelegation('npm', { paths: ['npm/*'] });
repo.addTarget('npm/keys.json', '{"keys":[]}\n', { role: 'npm' });
repo.publish();

let upstream: UpstreamServer;
const dmz = tempDir(); // connected: syncs from the upstream, exports
const site = tempDir(); // air-gapped: imports

function writeConfig(dir: string, upstreamUrl: string, anchor: Buffer): string {
  fs.writeFileSync(path.join(dir, 'anchor.json'), anchor);
  const file = path.join(dir, 'tuf-mirror.yaml');
  fs.writeFileSync(file, YAML.stringify({ dataDir: './data', repositories: [{ name: 'sigstore', upstream: upstreamUrl, trustAnchor: './anchor.json' }] }));
  return file;
}

type Run = { status: number; stdout: Buffer; stderr: string };
const run = (cwd: string, args: string[], stdin?: Buffer): Promise<Run> =>
  new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args, '--config', 'tuf-mirror.yaml'], { cwd, encoding: 'buffer' }, (err, stdout, stderr) => {
      resolve({ status: err ? Number(err.code) : 0, stdout, stderr: stderr.toString() });
    });
    if (stdin) child.stdin!.end(stdin);
  });
const text = (r: Run): string => r.stdout.toString();

before(async () => {
  upstream = await startUpstreamServer(() => repo.files());
  writeConfig(dmz, upstream.url, repo.rootBytes(1));
  writeConfig(site, 'http://127.0.0.1:9', repo.rootBytes(1)); // never reachable: data only arrives by import
});
after(() => upstream.close());

describe('tuf-mirror export / import', () => {
  test('export writes the current generation; the same generation gives the same bytes, to a file or stdout', async () => {
    assert.equal((await run(dmz, ['export', 'sigstore', '--out', 'none.tar.gz'])).status, 1, 'nothing held yet');
    assert.equal((await run(dmz, ['sync'])).status, 0);
    const r = await run(dmz, ['export', 'sigstore', '--out', 'sigstore.tar.gz']);
    assert.equal(r.status, 0, r.stderr);
    const archive = fs.readFileSync(path.join(dmz, 'sigstore.tar.gz'));
    assert.match(
      text(r),
      new RegExp(
        `^sigstore: exported generation 1 \\(root v1, timestamp v2, snapshot v2, targets v2, npm v1; 7 files, root v1\\) to sigstore\\.tar\\.gz: ${archive.length} bytes, sha256 [0-9a-f]{64}\\n$`,
      ),
    );
    const piped = await run(dmz, ['export', 'sigstore', '--out', '-']);
    assert.equal(piped.status, 0);
    assert.ok(piped.stdout.equals(archive), 'stdout carries the identical archive');
    assert.match(piped.stderr, /exported generation 1 .* to stdout/);
    const expected = ['1.root.json', 'timestamp.json', '2.snapshot.json', '2.targets.json', '1.npm.json', ...repo.targetFiles('trusted_root.json'), ...repo.targetFiles('npm/keys.json')];
    assert.deepEqual([...(await filesOf(archive)).keys()].sort(), expected.sort());
    for (const [p, bytes] of await filesOf(archive)) assert.ok(bytes.equals(repo.files().get(p)!), p);
  });

  test('bad arguments: unknown repository 3, bad --since-root 2', async () => {
    const unknown = await run(dmz, ['export', 'nope', '--out', 'x.tar.gz']);
    assert.equal(unknown.status, 3);
    assert.match(unknown.stderr, /no repository named nope/);
    assert.equal((await run(dmz, ['export', 'sigstore', '--out', 'x.tar.gz', '--since-root', 'abc'])).status, 2);
    const beyond = await run(dmz, ['export', 'sigstore', '--out', 'x.tar.gz', '--since-root', '9']);
    assert.equal(beyond.status, 2);
    assert.match(beyond.stderr, /newest root is v1/);
    assert.equal((await run(site, ['import', 'missing.tar.gz'])).status, 2);
    assert.equal((await run(site, ['import', path.join(dmz, 'sigstore.tar.gz'), '--repo', 'nope'])).status, 3);
    assert.ok(!fs.existsSync(path.join(dmz, 'x.tar.gz')));
  });

  test('import verifies and commits; again is unchanged; status shows the imported generation', async () => {
    const archive = path.join(dmz, 'sigstore.tar.gz');
    const first = await run(site, ['import', archive]);
    assert.equal(first.status, 0, first.stderr + text(first));
    assert.match(text(first), /^sigstore: new generation 1 \(root v1, timestamp v2, snapshot v2, targets v2, npm v1; 7 files read, \d+ bytes\)\n$/);
    const again = await run(site, ['import', archive]);
    assert.equal(again.status, 0);
    assert.match(text(again), /^sigstore: unchanged, generation 1 \(/);
    const status = await run(site, ['status', '--json']);
    const [s] = (JSON.parse(text(status)) as { repositories: { generation: { id: number }; lastSync: { source: string; outcome: string } }[] }).repositories;
    assert.equal(s.generation.id, 1);
    assert.equal(s.lastSync.outcome, 'unchanged');
    assert.match(s.lastSync.source, /^archive sigstore\.tar\.gz \(sha256:[0-9a-f]{64}\)$/);
  });

  test('import - reads stdin; --json prints the outcome', async () => {
    repo.addTarget('trusted_root.json', '{"v":2}\n');
    repo.publish();
    assert.equal((await run(dmz, ['sync'])).status, 0);
    const exported = await run(dmz, ['export', 'sigstore', '--out', '-']);
    const r = await run(site, ['import', '-', '--json'], exported.stdout);
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(text(r)) as { outcome: string; generation: number; archive: { bytes: number; sha256: string }; roles: { role: string; version: number }[] };
    assert.equal(report.outcome, 'updated');
    assert.equal(report.generation, 2);
    assert.equal(report.archive.bytes, exported.stdout.length);
    assert.deepEqual(
      report.roles.map((x) => `${x.role}@${x.version}`),
      ['root@1', 'timestamp@3', 'snapshot@3', 'targets@3', 'npm@1'],
    );
    assert.deepEqual(
      fs.readdirSync(path.join(site, 'data', 'tmp')).filter((f) => f.startsWith('sync-upload-')),
      [],
      'the spooled upload is removed',
    );
  });

  test('a tampered or replayed archive fails with exit 1 and the generation still served', async () => {
    const current = fs.readFileSync(path.join(dmz, 'sigstore.tar.gz')); // generation 1: older than what the site holds
    fs.writeFileSync(path.join(site, 'old.tar.gz'), current);
    const replay = await run(site, ['import', 'old.tar.gz']);
    assert.equal(replay.status, 1);
    assert.match(text(replay), /^sigstore: import FAILED: BAD_VERSION \[timestamp\]: .*\n {2}still serving generation 2\n$/);

    repo.bumpTimestamp();
    assert.equal((await run(dmz, ['sync'])).status, 0);
    const newer = (await run(dmz, ['export', 'sigstore', '--out', '-'])).stdout;
    fs.writeFileSync(path.join(site, 'forged.tar.gz'), await alter(newer, (f) => f.set('timestamp.json', alterSigned(f.get('timestamp.json')!)), true));
    const forged = await run(site, ['import', 'forged.tar.gz']);
    assert.equal(forged.status, 1);
    assert.match(text(forged), /^sigstore: import FAILED: UNSIGNED_METADATA \[timestamp\]: /);
    assert.match(text(forged), /still serving generation 2/);
  });

  test('expired metadata: exit 1 naming role and date, --allow-expired imports it with a warning that status repeats', async () => {
    const stale = new TestRepository();
    stale.setExpiry('timestamp', new Date(Date.now() - 24 * 3600 * 1000));
    stale.publish();
    const dir = tempDir();
    writeConfig(dir, 'http://127.0.0.1:9', stale.rootBytes(1));
    fs.writeFileSync(path.join(dir, 'stale.tar.gz'), forgeArchive(stale.files()));
    const expires = stale.metadata('timestamp').signed.expires;

    const refused = await run(dir, ['import', 'stale.tar.gz']);
    assert.equal(refused.status, 1);
    assert.match(text(refused), new RegExp(`import FAILED: EXPIRED_METADATA \\[timestamp\\]: timestamp v\\d+ expired ${expires}`));
    assert.match(text(refused), /--allow-expired imports it anyway/);

    const accepted = await run(dir, ['import', 'stale.tar.gz', '--allow-expired']);
    assert.equal(accepted.status, 0, text(accepted));
    assert.match(text(accepted), new RegExp(`WARNING: accepted expired metadata: timestamp v\\d+ expired ${expires}`));
    const status = await run(dir, ['status']);
    assert.match(text(status), new RegExp(`imported with --allow-expired: timestamp v\\d+ had expired ${expires}`));
    assert.match(text(status), /imported with --allow-expired/);
  });
});
