/**
 * The exit-code contract, walked cell by cell: README's per-command table names when each command
 * exits 0, 1, 2 or 3, and every cell that is not — has a scenario here that produces it, through
 * the real CLI (separate processes, real HTTP, Debian's docker-registry for `verify`). A new
 * command without a row, a row without scenarios, or a scenario whose cell says — fails this test.
 * The code table in README is the one `tuf-mirror --help` prints.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { EXIT, EXIT_MEANINGS, type ExitKind } from '../../cli/exit-codes';
import { buildProgram } from '../../cli/main';
import { packageRoot } from '../../lib/paths';
import { pushDemoImage } from '../../scripts/demo-image';
import { DockerRegistry, dockerRegistryBinary } from '../../testing/docker-registry';
import { FIXTURE, tempDir } from '../helpers/mirror';
import { TestRepository } from '../../testing/tuf-repo';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';
import { waitFor } from '../helpers/wait';

const ROOT = packageRoot();
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
const CASES = path.join(ROOT, 'test', 'fixtures', 'sigstore-conformance', 'bundle-verify');
const registryBinary = dockerRegistryBinary();

/** README's per-command table: row → code → cell text ('—' for never). */
function readmeMatrix(): Map<string, Map<number, string>> {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('| command | 0 | 1 | 2 | 3 |');
  assert.ok(start > 0, 'README has the per-command exit-code table');
  const rows = readme.slice(start).split('\n\n')[0].split('\n').slice(2);
  return new Map(
    rows.map((row) => {
      const cells = row
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((c) => c.trim());
      return [cells[0].replace(/`/g, ''), new Map(cells.slice(1).map((c, i) => [i, c]))];
    }),
  );
}

type Run = { status: number; stdout: string; stderr: string };
let dir = '';
let config = '';
/** Bridges of the same upstream (and of the mirror that holds nothing), in a data dir of their own. */
let bridgeConfig = '';
const run = (...args: string[]): Promise<Run> =>
  new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: dir }, (err, stdout, stderr) => resolve({ status: err ? Number(err.code) : 0, stdout, stderr }));
  });
const withConfig = (...args: string[]): Promise<Run> => run(...args, '--config', config);
const withBridges = (...args: string[]): Promise<Run> => run(...args, '--config', bridgeConfig);

/** serve until it logs that it listens, then SIGTERM: the exit code of a clean stop. */
async function serveAndStop(): Promise<Run> {
  const child = spawn(process.execPath, [CLI, 'serve', '--config', config, '--port', '0'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? -1)));
  await waitFor(async () => (stdout.includes('tuf-mirror listening') ? true : child.exitCode !== null ? Promise.reject(new Error(stderr)) : undefined), 'serve to listen');
  child.kill('SIGTERM');
  return { status: await exited, stdout, stderr };
}

/** A port something listens on, for as long as the test needs it. */
async function busyPort(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { port: typeof address === 'object' && address ? address.port : 0, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

let upstream: UpstreamServer | undefined;
let registry: DockerRegistry | undefined;
let image = '';
let pending = '';
let rootKey = '';
let sitePending = '';
let siteRootKey = '';
/** A refresh-cluster job whose mirror and Kubernetes API do not answer. */
let refreshJob = '';

/** Every cell of the table: row → code → the scenario that must exit with it. */
const SCENARIOS: Record<string, Partial<Record<0 | 1 | 2 | 3, () => Promise<Run>>>> = {
  serve: {
    0: serveAndStop,
    2: () => withConfig('serve', '--port', 'x'),
    3: async () => {
      const busy = await busyPort();
      try {
        return await withConfig('serve', '--host', '127.0.0.1', '--port', String(busy.port));
      } finally {
        await busy.close();
      }
    },
  },
  sync: { 0: () => withConfig('sync', 'sigstore'), 1: () => withConfig('sync', 'empty'), 2: () => withConfig('sync', '--bogus'), 3: () => withConfig('sync', 'nope') },
  status: { 0: () => withConfig('status', 'sigstore'), 1: () => withConfig('status', 'empty'), 2: () => withConfig('status', '--bogus'), 3: () => withConfig('status', 'nope') },
  export: {
    0: () => withConfig('export', 'sigstore', '--out', 'sigstore.tar.gz'),
    1: () => withConfig('export', 'empty', '--out', 'empty.tar.gz'),
    2: () => withConfig('export', 'sigstore', '--out', 'x.tar.gz', '--since-root', 'abc'),
    3: () => withConfig('export', 'nope', '--out', 'x.tar.gz'),
  },
  import: {
    0: async () => {
      await withConfig('export', 'sigstore', '--out', 'again.tar.gz');
      return withConfig('import', 'again.tar.gz', '--repo', 'sigstore');
    },
    1: () => {
      fs.writeFileSync(path.join(dir, 'garbage.tar.gz'), crypto.randomBytes(512));
      return withConfig('import', 'garbage.tar.gz', '--repo', 'sigstore');
    },
    2: () => withConfig('import', 'missing.tar.gz'),
    3: () => withConfig('import', 'sigstore.tar.gz', '--repo', 'nope'),
  },
  trustroot: {
    0: () => withConfig('trustroot', 'sigstore', '--format', 'root'),
    1: () => withConfig('trustroot', 'empty', '--format', 'root'),
    2: () => withConfig('trustroot', 'sigstore', '--format', 'helm'),
    3: () => withConfig('trustroot', 'nope', '--format', 'root'),
  },
  publish: {
    0: () => withConfig('publish', 'sigstore', '--dir', 'tree'),
    1: () => withConfig('publish', 'empty', '--dir', 'empty-tree'),
    2: () => withConfig('publish', 'sigstore'),
    3: () => withConfig('publish', 'nope', '--dir', 'tree'),
  },
  verify: {
    0: () => withConfig('verify', image, '--policy', 'signer.yaml'),
    1: () => withConfig('verify', image, '--policy', 'someone-else.yaml'),
    2: () => withConfig('verify', image, '--policy', 'missing.yaml'),
    3: () => withConfig('verify', image, '--policy', 'signer.yaml', '--repository', 'nope'),
  },
  'verify-bundle': {
    0: () => run(...bundleArgs('managed-key-and-trusted-root')),
    1: () => run(...bundleArgs('managed-key-and-trusted-root', path.join(dir, 'rekor.pub'))),
    2: () => withConfig('verify-bundle', '--bundle', path.join(CASES, 'managed-key-happy-path', 'bundle.sigstore.json'), path.join(CASES, 'a.txt')),
    3: () =>
      withConfig(
        'verify-bundle',
        '--bundle',
        path.join(CASES, 'managed-key-happy-path', 'bundle.sigstore.json'),
        '--key',
        path.join(CASES, 'managed-key-happy-path', 'key.pub'),
        '--repository',
        'nope',
        path.join(CASES, 'a.txt'),
      ),
  },
  origin: {
    0: () => withConfig('origin', 'resign', 'acme'),
    // Root threshold 2, one of the two root keys offline: the keys at hand cannot sign root v2.
    1: () => withConfig('origin', 'rotate-root', 'acme'),
    2: () => withConfig('origin', 'rotate-root', 'acme', '--replace', 'bogus'),
    3: () => withConfig('origin', 'resign', 'sigstore'),
  },
  'origin sign': {
    0: () => run('origin', 'sign', pending, '--key', rootKey),
    1: () => run('origin', 'sign', pending, '--key', path.join(CASES, 'managed-key-happy-path', 'key.pub')),
    2: () => run('origin', 'sign', pending),
  },
  bridge: {
    0: () => withBridges('bridge', 'check', 'site'),
    1: () => withBridges('bridge', 'init', 'hollow'),
    2: () => withBridges('bridge', 'init', 'hollow', '--key-type', 'rsa'),
    3: () => withBridges('bridge', 'check', 'nope'),
  },
  'bridge sign': {
    0: () => run('bridge', 'sign', sitePending, '--key', siteRootKey),
    1: () => run('bridge', 'sign', sitePending, '--key', path.join(CASES, 'managed-key-happy-path', 'key.pub')),
    2: () => run('bridge', 'sign', sitePending),
  },
  'refresh-cluster': {
    0: () => run('refresh-cluster', '--job', refreshJob, '--rbac'),
    // No API server answers: every object failed, nothing applied.
    1: () => run('refresh-cluster', '--job', refreshJob),
    2: () => run('refresh-cluster'),
    3: () => run('refresh-cluster', '--job', 'missing-job.yaml'),
  },
  'config check': { 0: () => withConfig('config', 'check'), 2: () => withConfig('config', 'check', '--bogus'), 3: () => run('config', 'check', '--config', 'missing.yaml') },
  'tuf-mirror': { 0: () => run('--version'), 2: () => run() },
};

function bundleArgs(name: string, key = path.join(CASES, name, 'key.pub')): string[] {
  const d = path.join(CASES, name);
  return ['verify-bundle', '--bundle', path.join(d, 'bundle.sigstore.json'), '--key', key, '--trusted-root', path.join(d, 'trusted_root.json'), path.join(CASES, 'a.txt')];
}

before(async () => {
  dir = tempDir('tuf-mirror-exit-codes-');
  config = path.join(dir, 'tuf-mirror.yaml');
  // A mirror whose trusted_root.json is public-good's: the demo image's real attestation verifies under it.
  const trustedRoot = fs.readdirSync(path.join(FIXTURE, 'targets')).find((n) => n.endsWith('.trusted_root.json'))!;
  const repo = new TestRepository();
  repo.addTarget('trusted_root.json', fs.readFileSync(path.join(FIXTURE, 'targets', trustedRoot)));
  repo.publish();
  upstream = await startUpstreamServer(() => repo.files());
  fs.writeFileSync(path.join(dir, 'anchor.json'), repo.rootBytes(1));
  let verifier = {};
  if (registryBinary) {
    registry = await DockerRegistry.start(registryBinary);
    image = `${registry.host}/demo/signed:v1`;
    await pushDemoImage(image);
    verifier = { registries: [{ host: registry.host, insecure: true, allowPrivateAddresses: true }] };
  }
  fs.writeFileSync(
    config,
    YAML.stringify({
      dataDir: './data',
      sync: { requestTimeoutSeconds: 2, onStart: false },
      repositories: [
        { name: 'sigstore', upstream: upstream.url, trustAnchor: './anchor.json', default: true },
        { name: 'empty', upstream: 'http://127.0.0.1:9', trustAnchor: './anchor.json' },
        { name: 'acme', kind: 'origin' },
      ],
      verifier,
    }),
  );
  const policy = (subject: string) => YAML.stringify({ apiVersion: 'v1', allOf: [{ kind: 'genericIssuer', issuer: 'https://github.com/login/oauth', subject: { equal: subject } }] });
  fs.writeFileSync(path.join(dir, 'signer.yaml'), policy('cody@soyland.com'));
  fs.writeFileSync(path.join(dir, 'someone-else.yaml'), policy('someone@example.com'));
  const rekor = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ format: 'pem', type: 'spki' });
  fs.writeFileSync(path.join(dir, 'rekor.pub'), rekor);
  const init = await withConfig('origin', 'init', 'acme', '--rekor', 'url=https://rekor.acme.example,key=rekor.pub', '--root-keys', '2', '--root-threshold', '2');
  assert.equal(init.status, 0, init.stderr);
  assert.equal((await withConfig('sync', 'sigstore')).status, 0);
  // The second root key goes offline, as the README tells operators to do.
  const keysDir = path.join(dir, 'data', 'origin', 'acme', 'keys');
  rootKey = path.join(dir, 'offline', 'root-2.pem');
  fs.mkdirSync(path.dirname(rootKey));
  fs.renameSync(path.join(keysDir, 'root-2.pem'), rootKey);
  pending = path.join(dir, 'acme-root-v2.pending.json');
  const out = await withConfig('origin', 'rotate-root', 'acme', '--out', pending);
  assert.equal(out.status, 0, out.stderr);

  refreshJob = path.join(dir, 'refresh-job.yaml');
  fs.writeFileSync(path.join(dir, 'sa-token'), 'a-service-account-token\n');
  fs.writeFileSync(
    refreshJob,
    YAML.stringify({
      mirror: 'http://127.0.0.1:9',
      repository: 'sigstore',
      cluster: 'exit-codes',
      report: false,
      kubernetes: { server: 'https://127.0.0.1:9', tokenFile: path.join(dir, 'sa-token') },
      outputs: [{ format: 'remote' }],
    }),
  );

  bridgeConfig = path.join(dir, 'bridges.yaml');
  fs.writeFileSync(
    bridgeConfig,
    YAML.stringify({
      dataDir: './bridge-data',
      sync: { requestTimeoutSeconds: 2, onStart: false },
      repositories: [
        { name: 'sigstore', upstream: upstream.url, trustAnchor: './anchor.json', default: true },
        { name: 'empty', upstream: 'http://127.0.0.1:9', trustAnchor: './anchor.json' },
        { name: 'site', kind: 'bridge', bridge: { source: 'sigstore', timestampExpiry: '30d' } },
        { name: 'hollow', kind: 'bridge', bridge: { source: 'empty', timestampExpiry: '30d' } },
      ],
    }),
  );
  assert.equal((await withBridges('sync', 'sigstore')).status, 0);
  const site = await withBridges('bridge', 'init', 'site', '--root-keys', '2', '--root-threshold', '2');
  assert.equal(site.status, 0, site.stderr);
  siteRootKey = path.join(dir, 'offline', 'site-root-2.pem');
  fs.renameSync(path.join(dir, 'bridge-data', 'bridge', 'site', 'keys', 'root-2.pem'), siteRootKey);
  sitePending = path.join(dir, 'site-root-v2.pending.json');
  const siteOut = await withBridges('bridge', 'rotate-root', 'site', '--out', sitePending);
  assert.equal(siteOut.status, 0, siteOut.stderr);
});
after(async () => {
  await upstream?.close();
  await registry?.stop();
});

describe('exit codes', () => {
  test('the code table in README is the one --help prints', async () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    for (const kind of Object.keys(EXIT) as ExitKind[]) assert.ok(readme.includes(`| ${EXIT[kind]} | ${EXIT_MEANINGS[kind]} |`), `README row for ${EXIT[kind]}`);
    const help = await run('--help');
    assert.equal(help.status, 0);
    for (const kind of Object.keys(EXIT) as ExitKind[]) assert.ok(help.stdout.includes(`  ${EXIT[kind]}  ${EXIT_MEANINGS[kind]}`), `--help row for ${EXIT[kind]}`);
    const sub = await run('sync', '--help');
    assert.match(sub.stdout, /Exit codes \(every command\):/);
  });

  test('every command has a row, and every row that is not — has a scenario (and no more)', async () => {
    const matrix = readmeMatrix();
    const rows = [...matrix.keys()];
    for (const c of (await buildProgram()).commands.map((c) => c.name()).filter((n) => n !== 'help'))
      assert.ok(
        rows.some((r) => r === c || r.startsWith(`${c} `)),
        `README row for ${c}`,
      );
    assert.deepEqual(rows.sort(), Object.keys(SCENARIOS).sort());
    for (const [row, cells] of matrix) {
      for (const code of [0, 1, 2, 3] as const) {
        const never = cells.get(code) === '—';
        assert.equal(!SCENARIOS[row][code], never, `${row} exit ${code}: README says "${String(cells.get(code))}"`);
      }
    }
  });

  for (const [row, byCode] of Object.entries(SCENARIOS)) {
    for (const [code, scenario] of Object.entries(byCode)) {
      const needsRegistry = row === 'verify' && !registryBinary;
      test(`${row}: exit ${code}`, { skip: needsRegistry ? 'docker-registry is not installed (.ci/run installs it)' : false }, async () => {
        const r = await scenario();
        assert.equal(r.status, Number(code), `${row} → ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
        if (Number(code) >= 1) assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
      });
    }
  }
});

describe('what the failures say', () => {
  test('an unknown command names the nearest one; a bare tuf-mirror prints the help', async () => {
    const typo = await run('statsu');
    assert.equal(typo.status, 2);
    assert.match(typo.stderr, /unknown command 'statsu'\n\(Did you mean status\?\)/);
    assert.doesNotMatch(typo.stderr, /too many arguments/);
    const bare = await run();
    assert.match(bare.stderr, /^Usage: tuf-mirror \[options\] \[command\]/);
    assert.match(bare.stderr, /Exit codes \(every command\):/);
  });

  test('status: a misspelt name is exit 3 (it used to print nothing and pass); nothing held is 1', async () => {
    const typo = await withConfig('status', 'sigstroe');
    assert.equal(typo.status, 3);
    assert.equal(typo.stderr, 'tuf-mirror: no repository named sigstroe (configured: sigstore, empty, acme)\n');
    const json = await withConfig('status', 'sigstroe', '--json');
    assert.deepEqual(JSON.parse(json.stdout), { error: { code: 'UNKNOWN_REPOSITORY', message: 'no repository named sigstroe (configured: sigstore, empty, acme)' } });
    const empty = await withConfig('status', 'empty');
    assert.equal(empty.status, 1);
    assert.match(empty.stdout, /holds nothing yet/);
  });

  test('serve start-up failures: one line naming the problem and the fix, exit 3, no stack', async () => {
    const busy = await busyPort();
    const notADir = path.join(dir, 'a-file');
    fs.writeFileSync(notADir, 'x');
    const tls = path.join(dir, 'tls.yaml');
    fs.writeFileSync(tls, YAML.stringify({ ...YAML.parse(fs.readFileSync(config, 'utf8')), server: { tls: { certFile: 'nope.crt', keyFile: 'nope.key' } } }));
    try {
      const cases: [string[], RegExp][] = [
        [['--host', '127.0.0.1', '--port', String(busy.port)], new RegExp(`^tuf-mirror: cannot listen on 127\\.0\\.0\\.1:${busy.port} \\(EADDRINUSE\\): .*--port or server\\.port\\n$`)],
        [['--data-dir', path.join(notADir, 'data')], /^tuf-mirror: data dir .*a-file\/data is not writable \(ENOTDIR\): .*--data-dir, TUF_MIRROR_DATA_DIR or dataDir\n$/],
      ];
      for (const [args, message] of cases) {
        const r = await withConfig('serve', ...args);
        assert.equal(r.status, 3, r.stderr);
        assert.match(r.stderr, message);
      }
      // A data dir another user owns (root here): run as nobody, when this test runs as root.
      if (process.getuid?.() === 0) {
        const owned = fs.mkdtempSync(path.join('/tmp', 'tuf-mirror-root-owned-'));
        fs.chmodSync(owned, 0o755);
        const denied = await new Promise<Run>((resolve) =>
          execFile(process.execPath, [CLI, 'serve', '--data-dir', path.join(owned, 'data'), '--port', '0'], { encoding: 'utf8', cwd: '/', uid: 65534, gid: 65534 }, (err, stdout, stderr) =>
            resolve({ status: err ? Number(err.code) : 0, stdout, stderr }),
          ),
        );
        fs.rmSync(owned, { recursive: true, force: true });
        assert.equal(denied.status, 3, denied.stderr);
        assert.match(denied.stderr, /^tuf-mirror: data dir .*\/data is not writable \(EACCES\): make it writable for uid 65534, or give another with --data-dir, TUF_MIRROR_DATA_DIR or dataDir\n$/);
      }
      const missing = await run('serve', '--config', 'missing.yaml');
      assert.equal(missing.status, 3);
      assert.match(missing.stderr, /^tuf-mirror: cannot read configuration .*missing\.yaml \(ENOENT\): give an existing file with --config or TUF_MIRROR_CONFIG\n$/);
      const badTls = await run('serve', '--config', tls, '--port', '0');
      assert.equal(badTls.status, 3);
      assert.match(badTls.stderr, /^tuf-mirror: server\.tls: cannot read certFile .*nope\.crt: ENOENT \(point server\.tls\.certFile and keyFile at PEM files this user can read\)\n$/);
    } finally {
      await busy.close();
    }
  });

  test('rotate-root writes a root it cannot publish beside the keys, never into the working directory', async () => {
    const r = await withConfig('origin', 'rotate-root', 'acme');
    assert.equal(r.status, 1);
    const keysDir = path.join(dir, 'data', 'origin', 'acme', 'keys');
    assert.match(r.stderr, /^tuf-mirror: THRESHOLD_NOT_MET: /);
    assert.ok(r.stderr.includes(`the pending root is in ${path.join(keysDir, 'acme-root-v2.pending.json')}`), r.stderr);
    assert.ok(fs.existsSync(path.join(keysDir, 'acme-root-v2.pending.json')));
    assert.ok(!fs.readdirSync(dir).some((n) => n.startsWith('acme-root-') && n !== 'acme-root-v2.pending.json'), 'nothing new in the working directory');
    const elsewhere = path.join(dir, 'signers', 'pending.json');
    const there = await withConfig('origin', 'rotate-root', 'acme', '--pending-file', elsewhere);
    assert.equal(there.status, 1);
    assert.ok(fs.existsSync(elsewhere), 'where --pending-file says');
  });
});
