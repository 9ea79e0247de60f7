/**
 * Install anywhere: `npm install -g` of the checkout and of the release tarball put `tuf-mirror`
 * on PATH, and it works from any directory (its anchors are found beside its code, not in the
 * working directory). The release tarball installs with `--offline` into a clean prefix on a
 * machine with no registry (npm_config_registry points at a closed port) and no compiler (PATH
 * holds only node and npm), then syncs for real.
 *
 * Slow: `npm run release` packs ~5,000 files and the install unpacks them (about a minute on a
 * 2-core machine), so this file does exactly one release build and one install of it.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { packageRoot, packageVersion } from '../../lib/paths';
import { releaseFileName } from '../../scripts/release';
import { tempDir } from '../helpers/mirror';
import { TestRepository } from '../../testing/tuf-repo';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const ROOT = packageRoot();
/** Installed trees are large (~60 MB each): removed after the file. */
const made: string[] = [];
const scratch = (prefix: string): string => {
  const dir = tempDir(prefix);
  made.push(dir);
  return dir;
};
const npmCli = fs.realpathSync(spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim());

/** A PATH with node and npm only: no g++, make or python to build an addon with. */
function bareBin(): string {
  const bin = scratch('tuf-mirror-bin-');
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  fs.symlinkSync(npmCli, path.join(bin, 'npm'));
  return bin;
}

type Run = { status: number; stdout: string; stderr: string };
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => resolve({ status: err ? Number(err.code ?? 1) : 0, stdout, stderr }));
  });
}

/** An environment like a fresh machine's: its own HOME and npm cache, the registry unreachable. */
function isolated(bin: string, prefix: string): NodeJS.ProcessEnv {
  const home = scratch('tuf-mirror-home-');
  return {
    HOME: home,
    PATH: `${path.join(prefix, 'bin')}:${bin}`,
    npm_config_registry: 'http://127.0.0.1:9/',
    npm_config_cache: path.join(home, '.npm'),
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
  };
}

const repo = new TestRepository();
repo.addTarget('trusted_root.json', '{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}\n');
repo.publish();
let upstream: UpstreamServer;
before(async () => {
  upstream = await startUpstreamServer(() => repo.files());
});
after(async () => {
  await upstream.close();
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

describe('npm install -g', () => {
  test('from the checkout: tuf-mirror on PATH, working from another directory', async () => {
    const bin = bareBin();
    const prefix = scratch('tuf-mirror-prefix-');
    const env = isolated(bin, prefix);
    // dist/ is built already (npm ci ran prepare); a folder install links the checkout.
    const install = await run('npm', ['install', '-g', ROOT, '--prefix', prefix, '--offline', '--ignore-scripts'], env, tempDir());
    assert.equal(install.status, 0, install.stderr);
    const elsewhere = scratch('tuf-mirror-cwd-');
    const version = await run('tuf-mirror', ['--version'], env, elsewhere);
    assert.equal(version.stdout.trim(), packageVersion(), version.stderr);
    // The embedded default names the public-good anchor shipped in the package, not ./config.
    const check = await run('tuf-mirror', ['config', 'check', '--json'], env, elsewhere);
    assert.equal(check.status, 0, check.stderr);
    const effective = JSON.parse(check.stdout).config;
    assert.equal(effective.repositories[0].trustAnchor, path.join(ROOT, 'config', 'anchors', 'sigstore-public-good.root.json'));
    assert.equal(effective.dataDir, path.join(fs.realpathSync(elsewhere), 'data'));
  });

  test('npm run release, then an offline install with no registry and no compiler: syncs and reports', async () => {
    const out = scratch('tuf-mirror-release-out-');
    const release = await run(process.execPath, [path.join(ROOT, 'dist', 'scripts', 'release.js'), '--out-dir', out], process.env, ROOT);
    assert.equal(release.status, 0, release.stderr);
    const tarball = path.join(out, releaseFileName(packageVersion()));
    assert.ok(fs.existsSync(tarball), `${tarball} (ABI and platform in the name)`);
    assert.match(path.basename(tarball), new RegExp(`^tuf-mirror-${packageVersion()}-node\\d+-abi${process.versions.modules}-${process.platform}-${process.arch}\\.tgz$`));

    const bin = bareBin();
    const prefix = scratch('tuf-mirror-prefix-');
    const env = isolated(bin, prefix);
    for (const tool of ['g++', 'make', 'python3', 'cc']) assert.equal(spawnSync(tool, ['--version'], { env }).error?.message.includes('ENOENT'), true, `${tool} is not on PATH`);
    const install = await run('npm', ['install', '-g', tarball, '--offline', '--prefix', prefix], env, tempDir());
    assert.equal(install.status, 0, `${install.stdout}\n${install.stderr}`);
    assert.ok(fs.lstatSync(path.join(prefix, 'bin', 'tuf-mirror')).isSymbolicLink());
    assert.ok(!fs.existsSync(path.join(prefix, 'lib', 'node_modules', 'tuf-mirror', 'node_modules', 'better-sqlite3', 'deps')), 'no addon sources shipped');

    const work = scratch('tuf-mirror-cwd-');
    fs.writeFileSync(path.join(work, 'anchor.json'), repo.rootBytes(1));
    fs.writeFileSync(path.join(work, 'mirror.yaml'), YAML.stringify({ dataDir: './data', repositories: [{ name: 'sigstore', upstream: upstream.url, trustAnchor: './anchor.json' }] }));
    assert.equal((await run('tuf-mirror', ['--version'], env, work)).stdout.trim(), packageVersion());
    const sync = await run('tuf-mirror', ['sync', '--config', 'mirror.yaml'], env, work);
    assert.equal(sync.status, 0, sync.stderr);
    assert.match(sync.stdout, /^sigstore: new generation 1 \(root v1, timestamp v\d+, snapshot v\d+, targets v\d+; \d+ requests, \d+ bytes\)$/m);
    const status = await run('tuf-mirror', ['status', '--config', 'mirror.yaml', '--json'], env, work);
    assert.equal(status.status, 0, status.stderr);
    assert.equal(JSON.parse(status.stdout).repositories[0].generation.id, 1);
  });
});
