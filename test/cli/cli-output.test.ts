/**
 * What the commands print: the progress line (renderer, throttling, when it is on), --json with
 * one set of field names across commands, and `config check` with its secrets redacted.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { redactSecrets, REDACTED } from '../../cli/commands/config';
import { humanBytes, Progress, progressWanted, renderProgress } from '../../cli/progress';
import { packageRoot } from '../../lib/paths';
import { tempDir } from '../helpers/mirror';
import { TestRepository } from '../../testing/tuf-repo';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const CLI = path.join(packageRoot(), 'dist', 'cli', 'main.js');
/** The pattern for ESC [ K, erase to the end of the line: what a progress line on a terminal ends with. */
const ERASE_LINE = String.raw`\x1b\[K`;

describe('progress', () => {
  test('on only for a person at a terminal: never under --json or --quiet, never into a pipe', () => {
    assert.equal(progressWanted({ isTTY: true }), true);
    assert.equal(progressWanted({ isTTY: true, json: true }), false);
    assert.equal(progressWanted({ isTTY: true, quiet: true }), false);
    assert.equal(progressWanted({ isTTY: false }), false);
    assert.equal(progressWanted({}), false);
  });

  test('the line: files, bytes, the role of the latest file; cut to the terminal width', () => {
    assert.equal(renderProgress({ label: 'sigstore: sync', files: 1, bytes: 512, role: 'timestamp' }), 'sigstore: sync: 1 file, 512 B (timestamp)');
    assert.equal(renderProgress({ label: 'sigstore: export', files: 31, bytes: 102035 }), 'sigstore: export: 31 files, 99.6 KiB');
    assert.equal(humanBytes(3 * 1024 * 1024 * 1024 + 1), '3.0 GiB');
    const cut = renderProgress({ label: 'sigstore: sync', files: 3, bytes: 10, role: 'targets/a-very-long-target-name.json' }, 30);
    assert.equal(cut.length, 29);
    assert.ok(cut.endsWith('…'));
  });

  test('draws the first file at once, then at most every interval, and clears its line when done', () => {
    const written: string[] = [];
    let now = 1000;
    const p = new Progress({ write: (t: string) => written.push(t), columns: 80 }, 'sigstore: sync', 100, () => now);
    p.file('1.root.json', 100);
    p.file('timestamp.json', 50); // same instant: not drawn
    now += 150;
    p.file('2.snapshot.json', 25);
    p.done();
    assert.deepEqual(written, ['\rsigstore: sync: 1 file, 100 B (root)\x1b[K', '\rsigstore: sync: 3 files, 175 B (snapshot)\x1b[K', '\r\x1b[K']);
    const off: string[] = [];
    const quiet = new Progress(undefined, 'x');
    quiet.file('timestamp.json', 1);
    quiet.done();
    assert.deepEqual(off, []);
  });
});

const repo = new TestRepository();
repo.addTarget('trusted_root.json', '{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}\n');
repo.publish();
let upstream: UpstreamServer;
const dir = tempDir('tuf-mirror-output-');
const config = path.join(dir, 'tuf-mirror.yaml');
before(async () => {
  upstream = await startUpstreamServer(() => repo.files());
  fs.writeFileSync(path.join(dir, 'anchor.json'), repo.rootBytes(1));
  fs.writeFileSync(config, YAML.stringify({ dataDir: './data', repositories: [{ name: 'sigstore', upstream: upstream.url, trustAnchor: './anchor.json' }] }));
});
after(() => upstream.close());

type Run = { status: number; stdout: string; stderr: string };
const run = (...args: string[]): Promise<Run> =>
  new Promise((resolve) =>
    execFile(process.execPath, [CLI, ...args, '--config', config], { encoding: 'utf8', cwd: dir }, (err, stdout, stderr) => resolve({ status: err ? Number(err.code) : 0, stdout, stderr })),
  );

describe('--json: one set of field names', () => {
  test('sync, import, export and publish name the same things the same way', async () => {
    const sync = JSON.parse((await run('sync', '--json')).stdout).results[0];
    const exported = JSON.parse((await run('export', 'sigstore', '--out', 'a.tar.gz', '--json')).stdout);
    const imported = JSON.parse((await run('import', 'a.tar.gz', '--json')).stdout);
    const published = JSON.parse((await run('publish', 'sigstore', '--dir', 'tree', '--json')).stdout);
    for (const [name, r] of Object.entries({ sync, exported, imported, published })) {
      assert.equal(r.repository, 'sigstore', `${name}.repository`);
      assert.equal(r.generation, 1, `${name}.generation is the generation id`);
      assert.equal(typeof r.bytes, 'number', `${name}.bytes`);
      assert.deepEqual(Object.keys(r.roles[0]).sort(), ['expires', 'role', 'version'], `${name}.roles`);
    }
    assert.deepEqual([sync.outcome, imported.outcome], ['updated', 'unchanged']);
    assert.equal(typeof exported.files, 'number');
    assert.equal(typeof published.files, 'number');
  });

  test('a failure before any result is {"error": {code, message}} on stdout, the line on stderr', async () => {
    const r = await run('export', 'nope', '--out', 'x.tar.gz', '--json');
    assert.equal(r.status, 3);
    assert.deepEqual(JSON.parse(r.stdout), { error: { code: 'UNKNOWN_REPOSITORY', message: 'no repository named nope (configured: sigstore)' } });
    assert.equal(r.stderr, 'tuf-mirror: no repository named nope (configured: sigstore)\n');
  });

  test(
    'under a real terminal, sync shows progress on stderr; --json and --quiet do not',
    { skip: spawnSync('sh', ['-c', 'command -v script']).status === 0 ? false : 'util-linux script is not installed' },
    async () => {
      // `script` gives the command a pseudo-terminal (stdin, stdout and stderr all on it). Run
      // asynchronously: the upstream answering the sync lives in this process.
      const underTty = (args: string): Promise<string> =>
        new Promise((resolve) =>
          execFile(
            'script',
            ['-qec', `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} ${args} --config ${JSON.stringify(config)}`, '/dev/null'],
            { cwd: dir, encoding: 'utf8' },
            (_err, stdout) => resolve(stdout),
          ),
        );
      repo.bumpTimestamp();
      const shown = await underTty('sync');
      assert.match(shown, new RegExp(String.raw`\rsigstore: sync: \d+ files?, \d+ B \([a-z]+\)` + ERASE_LINE));
      assert.match(shown, new RegExp(String.raw`\r` + ERASE_LINE + 'sigstore: new generation'), 'the line is cleared before the report');
      for (const flag of ['--json', '--quiet']) {
        repo.bumpTimestamp();
        const quiet = await underTty(`sync ${flag}`);
        assert.match(quiet, /sigstore/);
        assert.doesNotMatch(quiet, new RegExp(ERASE_LINE), flag);
      }
    },
  );
});

describe('config check', () => {
  test('valid: the effective settings, every secret redacted', async () => {
    const secret = path.join(dir, 'secret.yaml');
    fs.writeFileSync(
      secret,
      YAML.stringify({
        dataDir: './data',
        adminToken: 'admin-token-do-not-print-1234',
        alerts: { webhooks: [{ url: 'https://hooks.example/x', headers: { Authorization: 'Bearer header-secret-5678' } }] },
        repositories: [{ name: 'sigstore', upstream: 'https://user:upstream-pass@mirror.example', trustAnchor: './anchor.json' }],
        verifier: { registries: [{ host: 'registry.example', username: 'bot', password: 'registry-pass-9012' }] },
      }),
    );
    const r = await new Promise<Run>((resolve) =>
      execFile(process.execPath, [CLI, 'config', 'check', '--config', secret], { encoding: 'utf8', cwd: dir }, (err, stdout, stderr) =>
        resolve({ status: err ? Number(err.code) : 0, stdout, stderr }),
      ),
    );
    assert.equal(r.status, 0, r.stderr);
    for (const s of ['admin-token-do-not-print', 'header-secret', 'upstream-pass', 'registry-pass']) assert.ok(!r.stdout.includes(s), `${s} is not printed`);
    const effective = YAML.parse(r.stdout);
    assert.equal(effective.adminToken, REDACTED);
    assert.deepEqual(effective.alerts.webhooks[0].headers, { Authorization: REDACTED });
    assert.equal(effective.repositories[0].upstream, 'https://mirror.example');
    assert.equal(effective.verifier.registries[0].password, REDACTED);
    assert.equal(effective.verifier.registries[0].username, 'bot');
    assert.equal(effective.sync.schedule, '*/30 * * * *', 'defaults filled in');
    assert.equal(effective.dataDir, path.join(fs.realpathSync(dir), 'data'), 'paths absolute');
  });

  test('invalid: every bad field named, exit 3', async () => {
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, YAML.stringify({ server: { port: 70000 }, repositories: [{ name: 'Bad Name', upstream: 'ftp://x', trustAnchor: './anchor.json' }] }));
    const r = await new Promise<Run>((resolve) =>
      execFile(process.execPath, [CLI, 'config', 'check', '--config', bad], { encoding: 'utf8', cwd: dir }, (err, stdout, stderr) => resolve({ status: err ? Number(err.code) : 0, stdout, stderr })),
    );
    assert.equal(r.status, 3);
    assert.match(r.stderr, /server\.port: /);
    assert.match(r.stderr, /repositories\[0\]\.name: /);
  });

  test('redactSecrets: nested, in arrays, URLs with credentials', () => {
    assert.deepEqual(redactSecrets({ a: [{ password: 'x', url: 'http://u:p@h/x' }], token: 't', headers: { A: '1' }, plain: 'http://h/x' }), {
      a: [{ password: REDACTED, url: 'http://h/x' }],
      token: REDACTED,
      headers: { A: REDACTED },
      plain: 'http://h/x',
    });
  });
});
