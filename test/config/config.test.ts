import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import YAML from 'yaml';
import { ConfigError, EMBEDDED_ANCHOR, loadConfig, parseConfig } from '../../config/config';
import { packageRoot } from '../../lib/paths';
import { FIXTURE, tempDir } from '../helpers/mirror';

const ROOT = packageRoot();
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
const anchor = path.join(FIXTURE, '1.root.json');
const repo = (over: Record<string, unknown> = {}) => ({ name: 'sigstore', upstream: 'https://example.test', trustAnchor: anchor, ...over });

function configError(raw: unknown): string {
  try {
    parseConfig(raw, 'test.yaml', ROOT);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail('expected a ConfigError');
}

describe('configuration', () => {
  test('the embedded default mirrors public-good, anchored on the shipped root v16', () => {
    const config = loadConfig(undefined);
    assert.equal(config.origin, 'embedded default');
    assert.equal(config.repositories.length, 1);
    const [r] = config.repositories;
    assert.deepEqual([r.name, r.upstream, r.default], ['sigstore', 'https://tuf-repo-cdn.sigstore.dev', true]);
    assert.equal(r.trustAnchor, EMBEDDED_ANCHOR());
    const root = JSON.parse(fs.readFileSync(r.trustAnchor, 'utf8'));
    assert.equal(root.signed.version, 16);
    assert.ok(fs.readFileSync(r.trustAnchor).equals(fs.readFileSync(path.join(ROOT, 'test/fixtures/sigstore-root-v16.json'))));
    assert.equal(config.dataDir, path.resolve('data'));
    assert.deepEqual(config.server, { host: '0.0.0.0', port: 8080 });
  });

  test('each bad field is named in the message', () => {
    assert.match(configError({ repositories: [repo({ name: 'Sig Store' })] }), /repositories\[0\]\.name: must match \[a-z0-9-\]\+/);
    assert.match(configError({ repositories: [repo({ name: 'api' })] }), /repositories\[0\]\.name: is reserved/);
    assert.match(configError({ repositories: [repo({ upstreem: 'x' })] }), /repositories\[0\].*upstreem/);
    assert.match(configError({ repositories: [repo({ upstream: 'ftp://x' })] }), /repositories\[0\]\.upstream: must be an http/);
    assert.match(configError({ server: { port: 70000 }, repositories: [repo()] }), /server\.port/);
    assert.match(configError({ repositories: [] }), /repositories: needs at least one repository/);
    assert.match(configError({ repositories: [repo(), repo()] }), /repositories\[1\]\.name: "sigstore" is used twice/);
    assert.match(configError({ repositories: [repo({ default: true }), repo({ name: 'b', default: true })] }), /only one may be default/);
    assert.match(configError({ repositories: [repo({ trustAnchor: './nope.json' })] }), /repositories\[0\]\.trustAnchor: no such file/);
    assert.match(configError({ dataDri: 'x', repositories: [repo()] }), /dataDri/);
    assert.match(configError({ repositories: [repo({ schedule: 'every day' })] }), /repositories\[0\]\.schedule: is not a cron expression/);
    assert.match(
      configError({ alerts: { thresholds: { timestamp: { warning: '5 days', critical: '2d' } } }, repositories: [repo()] }),
      /alerts\.thresholds\.timestamp\.warning: "5 days" is not a duration/,
    );
    assert.match(configError({ alerts: { thresholds: { timestamp: { warning: '1d', critical: '2d' } } }, repositories: [repo()] }), /critical must not be longer than warning/);
    assert.match(configError({ alerts: { webhooks: [{ url: 'x', format: 'slack' }] }, repositories: [repo()] }), /alerts\.webhooks\[0\]\.url/);
    assert.match(configError({ adminToken: 'short', repositories: [repo()] }), /adminToken: must be at least 16 characters/);
  });

  test('origin repositories: no upstream, anchor and keys under the data dir by default', () => {
    const config = parseConfig({ dataDir: '/srv/m', repositories: [{ name: 'acme', kind: 'origin', origin: { timestampExpiry: '3d' } }] }, 'test.yaml', ROOT);
    const [r] = config.repositories;
    assert.equal(r.kind, 'origin');
    assert.equal(r.trustAnchor, '/srv/m/origin/acme/1.root.json');
    assert.equal(r.origin!.keysDir, '/srv/m/origin/acme/keys');
    assert.equal(r.origin!.timestampExpiry, 3 * 86400);
    assert.equal(r.origin!.resignSchedule, '0 3 * * *');
    assert.match(configError({ repositories: [{ name: 'acme', kind: 'origin', upstream: 'https://x.example' }] }), /repositories\[0\]\.upstream: an origin has no upstream/);
    assert.match(configError({ repositories: [{ name: 'm', trustAnchor: anchor }] }), /repositories\[0\]\.upstream: a mirror needs an upstream/);
    assert.match(configError({ repositories: [repo({ origin: {} })] }), /repositories\[0\]\.origin: only for kind: origin/);
  });

  test('bridge repositories: a mirror of this config as source, a timestampExpiry, signing settings like an origin', () => {
    const config = parseConfig({ dataDir: '/srv/m', repositories: [repo(), { name: 'site', kind: 'bridge', bridge: { source: 'sigstore', timestampExpiry: '60d' } }] }, 'test.yaml', ROOT);
    const r = config.repositories[1];
    assert.deepEqual([r.kind, r.upstream, r.trustAnchor], ['bridge', 'bridge:sigstore', '/srv/m/bridge/site/1.root.json']);
    assert.deepEqual(r.bridge, { source: 'sigstore', promote: 'auto' });
    assert.deepEqual(r.origin, {
      keysDir: '/srv/m/bridge/site/keys',
      timestampExpiry: 60 * 86400,
      snapshotExpiry: 365 * 86400,
      targetsExpiry: 365 * 86400,
      rootExpiry: 365 * 86400,
      resignSchedule: '0 3 * * *',
    });
    const bridge = (b: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ repositories: [repo(), { name: 'site', kind: 'bridge', bridge: b, ...extra }] });
    assert.match(configError(bridge({ source: 'sigstore' })), /repositories\[1\]\.bridge\.timestampExpiry/);
    assert.match(configError(bridge({ source: 'nope', timestampExpiry: '60d' })), /repositories\[1\]\.bridge\.source: "nope" is not a mirror repository of this configuration/);
    assert.match(configError(bridge({ source: 'sigstore', timestampExpiry: '400d' })), /snapshotExpiry and targetsExpiry must be longer than timestampExpiry/);
    assert.match(configError(bridge({ source: 'sigstore', timestampExpiry: '60d', promote: 'sometimes' })), /repositories\[1\]\.bridge\.promote/);
    assert.match(configError(bridge({ source: 'sigstore', timestampExpiry: '60d' }, { upstream: 'https://x.example' })), /a bridge has no upstream/);
    assert.match(configError({ repositories: [repo(), { name: 'site', kind: 'bridge' }] }), /kind: bridge needs a bridge block/);
  });

  test('durations and thresholds', () => {
    const config = parseConfig({ alerts: { thresholds: { timestamp: { warning: '3d', critical: '36h' }, sync: { warning: '6h', critical: '24h' } } }, repositories: [repo()] }, 'test.yaml', ROOT);
    assert.deepEqual(config.alerts.thresholds.timestamp, { warning: 3 * 86400, critical: 36 * 3600 });
    assert.deepEqual(config.alerts.thresholds.sync, { warning: 6 * 3600, critical: 86400 }, 'sync counts time since: critical is the longer one');
    assert.match(
      configError({ alerts: { thresholds: { sync: { warning: '1d', critical: '6h' } } }, repositories: [repo()] }),
      /alerts\.thresholds\.sync: critical \(time since the last success\) must not be shorter than warning/,
    );
    assert.equal(config.repositories[0].schedule, '*/30 * * * *');
  });

  test('relative paths resolve against the config file, flags win over the file', () => {
    const dir = tempDir();
    fs.copyFileSync(anchor, path.join(dir, 'anchor.json'));
    const file = path.join(dir, 'c.yaml');
    fs.writeFileSync(file, YAML.stringify({ dataDir: './state', server: { port: 9000 }, repositories: [repo({ trustAnchor: './anchor.json' })] }));
    const config = loadConfig(file);
    assert.equal(config.dataDir, path.join(dir, 'state'));
    assert.equal(config.repositories[0].trustAnchor, path.join(dir, 'anchor.json'));
    assert.equal(config.repositories[0].default, true, 'a lone repository is the default one');
    const overridden = loadConfig(file, { port: 1234, host: '127.0.0.1', dataDir: 'elsewhere' });
    assert.deepEqual(overridden.server, { host: '127.0.0.1', port: 1234 });
    assert.equal(overridden.dataDir, path.resolve('elsewhere'));
  });

  test('unreadable or non-YAML files are clear errors', () => {
    assert.throws(() => loadConfig('/nonexistent/c.yaml'), /cannot read configuration .*ENOENT/);
    const file = path.join(tempDir(), 'bad.yaml');
    fs.writeFileSync(file, 'repositories: [\n');
    assert.throws(() => loadConfig(file), /is not valid YAML/);
  });

  test('the CLI exits 3 with the field named, and --help works', () => {
    const file = path.join(tempDir(), 'c.yaml');
    fs.writeFileSync(file, YAML.stringify({ repositories: [repo({ name: 'BAD' })] }));
    const r = spawnSync(process.execPath, [CLI, 'status', '--config', file], { encoding: 'utf8' });
    assert.equal(r.status, 3);
    assert.match(r.stderr, /repositories\[0\]\.name/);
    const viaEnv = spawnSync(process.execPath, [CLI, 'status'], { encoding: 'utf8', env: { ...process.env, TUF_MIRROR_CONFIG: file } });
    assert.equal(viaEnv.status, 3);
    const help = execFileSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
    for (const cmd of ['serve', 'sync', 'status', '--config', '--data-dir']) assert.ok(help.includes(cmd), cmd);
  });
});

describe('deployment files', () => {
  test('docker-compose.yml parses, keeps data on a volume and mounts a valid config', () => {
    const compose = YAML.parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'));
    const service = compose.services['tuf-mirror'];
    assert.ok(service, 'service tuf-mirror');
    assert.ok(service.volumes.includes('tuf-mirror-data:/data'));
    assert.ok('tuf-mirror-data' in compose.volumes);
    const mount = (service.volumes as string[]).find((v) => v.includes('/etc/tuf-mirror/config.yaml'))!;
    const hostFile = path.join(ROOT, mount.split(':')[0]);
    assert.equal(service.environment.TUF_MIRROR_CONFIG, '/etc/tuf-mirror/config.yaml');
    // Validate the mounted config as the container sees it: /app is the image's package root.
    const raw = YAML.parse(fs.readFileSync(hostFile, 'utf8'));
    raw.repositories = raw.repositories.map((r: { trustAnchor: string }) => ({ ...r, trustAnchor: r.trustAnchor.replace(/^\/app\//, ROOT + '/') }));
    const config = parseConfig(raw, hostFile, path.dirname(hostFile));
    assert.equal(config.dataDir, '/data');
  });

  test('the Dockerfile runs as a non-root user on Node 20 or newer', () => {
    const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    const bases = [...dockerfile.matchAll(/^FROM node:(\d+)/gm)].map((m) => Number(m[1]));
    assert.ok(bases.length > 0 && bases.every((v) => v >= 20));
    assert.match(dockerfile, /^USER node$/m);
    // The build stage compiles the whole tree; local installs and data stay out of the image.
    assert.match(dockerfile, /^COPY \. \.$/m);
    const ignored = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const dir of ['node_modules', 'dist', 'data', '.git']) assert.ok(ignored.includes(dir), `.dockerignore ${dir}`);
  });
});
