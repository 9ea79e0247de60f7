/**
 * The trust-root outputs as operators get them: `GET /api/v1/repositories/<name>/trustroot` on a
 * running mirror, and `tuf-mirror trustroot` as a separate process on the same data dir. Both
 * must give the bytes the serializers give for the served generation.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, mock, test } from 'node:test';
import express from 'express';
import request from 'supertest';
import { Updater } from 'tuf-js';
import YAML from 'yaml';
import { packageRoot } from '../../lib/paths';
import { trustrootRouter } from '../../server/api/trustroot';
import type { Service } from '../../server/service';
import { FORMAT_NAMES, renderTrustRoot } from '../../trust/formats';
import { loadTrustMaterial } from '../../trust/material';
import { FIXTURE, FIXTURE_NOW, get, startMirror, tempDir, testConfig } from '../helpers/mirror';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';
import { identityArgs, identityFor, identityQuery } from '../helpers/identity';

const CLI = path.join(packageRoot(), 'dist', 'cli', 'main.js');
const PUBLIC_URL = 'http://tuf-mirror.tuf-mirror.svc:8080';
const anchor = path.join(FIXTURE, '14.root.json');

let upstream: UpstreamServer;
let mirror: Service;
let dataDir: string;
let configFile: string;
let config: ReturnType<typeof testConfig>;

before(async () => {
  mock.timers.enable({ apis: ['Date'], now: FIXTURE_NOW });
  upstream = await startUpstreamServer(FIXTURE);
  dataDir = tempDir();
  const repos = [
    { name: 'sigstore', upstream: upstream.url, anchor, default: true },
    { name: 'backup', upstream: upstream.url, anchor },
    { name: 'empty', upstream: 'http://127.0.0.1:9', anchor },
  ];
  config = testConfig(repos, { server: { host: '127.0.0.1', port: 0, publicUrl: PUBLIC_URL }, adminToken: 'an-admin-token-nobody-sends' }, dataDir);
  mirror = await startMirror(config);
  const results = await mirror.syncAll();
  assert.deepEqual(
    results.map((r) => r.outcome),
    ['updated', 'updated', 'failed'],
  );
  configFile = path.join(dataDir, 'tuf-mirror.yaml');
  fs.writeFileSync(
    configFile,
    YAML.stringify({
      dataDir,
      server: { publicUrl: PUBLIC_URL },
      repositories: repos.map((r) => ({ name: r.name, upstream: r.upstream, trustAnchor: r.anchor, ...(r.default ? { default: true } : {}) })),
    }),
  );
});
after(async () => {
  await mirror.close();
  await upstream.close();
  mock.timers.reset();
});

const expected = (repository: string, format: (typeof FORMAT_NAMES)[number], mirrorUrl?: string) =>
  renderTrustRoot(loadTrustMaterial(mirror.store, repository), format, {
    mirrorUrl: mirrorUrl ?? (repository === 'sigstore' ? PUBLIC_URL : `${PUBLIC_URL}/${repository}`),
    identity: identityFor(format),
  });

describe('GET /api/v1/repositories/<name>/trustroot', () => {
  test('every format, public (no token), the bytes the serializer gives, naming the generation', async () => {
    for (const format of FORMAT_NAMES) {
      const res = await get(`${mirror.url}/api/v1/repositories/sigstore/trustroot?format=${format}${identityQuery(format)}`);
      assert.equal(res.status, 200, `${format}: ${res.body.toString()}`);
      const want = expected('sigstore', format);
      assert.ok(res.body.equals(want.body), format);
      assert.equal(res.headers.get('content-type'), want.contentType);
      assert.equal(res.headers.get('x-tuf-mirror-generation'), '1');
      assert.equal(res.headers.get('cache-control'), 'no-cache');
    }
    assert.match((await get(`${mirror.url}/api/v1/repositories/sigstore/trustroot?format=remote`)).headers.get('content-type')!, /^application\/yaml/);
    assert.equal((await get(`${mirror.url}/api/v1/repositories/sigstore/trustroot?format=client-trust-config`)).headers.get('content-type'), 'application/json');
  });

  test('a non-default repository is reached at <publicUrl>/<name>; ?mirrorUrl= overrides', async () => {
    const res = await get(`${mirror.url}/api/v1/repositories/backup/trustroot?format=remote`);
    assert.equal(YAML.parse(res.body.toString()).spec.remote.mirror, `${PUBLIC_URL}/backup`);
    const custom = await get(`${mirror.url}/api/v1/repositories/backup/trustroot?format=kyverno-values&mirrorUrl=${encodeURIComponent('https://tuf.internal/backup')}`);
    assert.equal(YAML.parse(custom.body.toString()).features.tuf.mirror, 'https://tuf.internal/backup');
  });

  test('options by query: targets, all, name, namespace; warnings and archive size in headers', async () => {
    const repo = await get(`${mirror.url}/api/v1/repositories/sigstore/trustroot?format=repository&targets=trusted_root.json&name=air-gapped`);
    assert.equal(repo.status, 200);
    assert.equal(YAML.parse(repo.body.toString()).metadata.name, 'air-gapped');
    assert.ok(Number(repo.headers.get('x-tuf-mirror-archive-bytes')) > 1000);
    assert.match(repo.headers.get('x-tuf-mirror-warning')!, /left out of the archive \(--targets\)/);
    const keys = await get(`${mirror.url}/api/v1/repositories/sigstore/trustroot?format=sigstore-keys&all=true`);
    assert.equal(YAML.parse(keys.body.toString()).spec.sigstoreKeys.certificateAuthorities.length, 2);
    const cm = await get(`${mirror.url}/api/v1/repositories/sigstore/trustroot?format=kubewarden-configmap&namespace=kw`);
    assert.equal(YAML.parse(cm.body.toString()).metadata.namespace, 'kw');
  });

  test('400 for a missing or unknown format, listing the formats', async () => {
    for (const q of ['', '?format=helm']) {
      const res = await get(`${mirror.url}/api/v1/repositories/sigstore/trustroot${q}`);
      assert.equal(res.status, 400);
      const body = JSON.parse(res.body.toString());
      assert.equal(body.error.code, 'UNKNOWN_FORMAT');
      assert.deepEqual(body.error.formats, FORMAT_NAMES);
    }
    const bad = await get(`${mirror.url}/api/v1/repositories/sigstore/trustroot?format=repository&targets=nope.json`);
    assert.equal(bad.status, 400);
    assert.equal(JSON.parse(bad.body.toString()).error.code, 'UNKNOWN_TARGET');
  });

  test('404 for an unknown repository, 503 for one that holds nothing yet', async () => {
    const unknown = await get(`${mirror.url}/api/v1/repositories/nope/trustroot?format=root`);
    assert.equal(unknown.status, 404);
    assert.equal(JSON.parse(unknown.body.toString()).error.code, 'NOT_FOUND');
    const empty = await get(`${mirror.url}/api/v1/repositories/empty/trustroot?format=root`);
    assert.equal(empty.status, 503);
    assert.equal(empty.headers.get('retry-after'), '30');
    assert.equal(JSON.parse(empty.body.toString()).error.code, 'NO_GENERATION');
  });

  test('400 MIRROR_URL_REQUIRED without publicUrl or ?mirrorUrl=; formats without a URL still work', async () => {
    const noUrl = { ...config, server: { ...config.server, publicUrl: undefined } };
    const app = express().use('/api/v1', trustrootRouter({ config: noUrl, store: mirror.store }));
    const res = await request(app).get('/api/v1/repositories/sigstore/trustroot?format=remote');
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'MIRROR_URL_REQUIRED');
    assert.match(res.body.error.message, /--mirror-url.*server\.publicUrl/);
    assert.equal((await request(app).get('/api/v1/repositories/sigstore/trustroot?format=repository')).status, 200);
    assert.equal((await request(app).get('/api/v1/repositories/sigstore/trustroot?format=remote&mirrorUrl=http://x:8080')).status, 200);
  });
});

describe('the client settings handed out work against the mirror', () => {
  test('remote, kyverno-values and cosign: tuf-js from the root and mirror they name gets trusted_root.json', async () => {
    const material = loadTrustMaterial(mirror.store, 'backup');
    const want = material.targetFiles.find((t) => t.name === 'trusted_root.json')!.bytes;
    const mirrorUrl = `${mirror.url}/backup`;
    const settings: Record<string, { mirror: string; root: Buffer }> = {};
    const remote = YAML.parse(renderTrustRoot(material, 'remote', { mirrorUrl }).body.toString()).spec.remote;
    settings.remote = { mirror: remote.mirror, root: Buffer.from(remote.root, 'base64') };
    const tuf = YAML.parse(renderTrustRoot(material, 'kyverno-values', { mirrorUrl }).body.toString()).features.tuf;
    settings.kyverno = { mirror: tuf.mirror, root: Buffer.from(tuf.rootRaw, 'base64') };
    const script = renderTrustRoot(material, 'cosign', { mirrorUrl }).body.toString();
    const root = /<<'TUF_MIRROR_ROOT_JSON'\n([\s\S]*?)\nTUF_MIRROR_ROOT_JSON\n/.exec(script)![1];
    settings.cosign = { mirror: /--mirror (\S+)/.exec(script)![1], root: Buffer.from(root) };
    for (const [name, s] of Object.entries(settings)) {
      assert.equal(s.mirror, mirrorUrl, name);
      const dir = tempDir();
      fs.writeFileSync(path.join(dir, 'root.json'), s.root);
      const updater = new Updater({ metadataDir: dir, metadataBaseUrl: s.mirror, targetBaseUrl: `${s.mirror}/targets`, targetDir: dir });
      await updater.refresh();
      const file = await updater.downloadTarget((await updater.getTargetInfo('trusted_root.json'))!, path.join(dir, 'tr.json'));
      assert.ok(fs.readFileSync(file).equals(want), name);
    }
  });
});

/** Run the CLI to completion as its own process, against the data dir the mirror uses. */
const run = (...args: string[]): Promise<{ status: number; stdout: Buffer; stderr: string }> =>
  new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { encoding: 'buffer', cwd: dataDir }, (err, stdout, stderr) => {
      resolve({ status: err ? Number(err.code) : 0, stdout, stderr: stderr.toString('utf8') });
    });
  });

describe('tuf-mirror trustroot', () => {
  test('prints each format to stdout, the same bytes as the API and the serializer', async () => {
    for (const format of FORMAT_NAMES) {
      const r = await run('trustroot', 'sigstore', '--format', format, ...identityArgs(format), '--config', configFile);
      assert.equal(r.status, 0, `${format}: ${r.stderr}`);
      assert.ok(r.stdout.equals(expected('sigstore', format).body), format);
    }
  });

  test('--out writes the file; notes and warnings go to stderr', async () => {
    const out = path.join(dataDir, 'trustroot.yaml');
    const r = await run('trustroot', 'sigstore', '--format', 'repository', '--out', out, '--config', configFile);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.length, 0);
    assert.ok(fs.readFileSync(out).equals(expected('sigstore', 'repository').body));
    assert.match(r.stderr, /^tuf-mirror: mirrorFS archive: 16 files \(12 target files\), tar \d+ bytes, gzip \d+ bytes/m);
    assert.match(r.stderr, /^tuf-mirror: warning: .*ECDSA/m);
    assert.match(r.stderr, new RegExp(`^tuf-mirror: wrote ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(\\d+ bytes\\)$`, 'm'));
  });

  test('--mirror-url, --targets, --all, --name', async () => {
    const remote = await run('trustroot', 'backup', '--format', 'remote', '--mirror-url', 'https://tuf.internal/b', '--name', 'backup-root', '--config', configFile);
    assert.equal(remote.status, 0, remote.stderr);
    const doc = YAML.parse(remote.stdout.toString());
    assert.equal(doc.spec.remote.mirror, 'https://tuf.internal/b');
    assert.equal(doc.metadata.name, 'backup-root');
    const keys = await run('trustroot', 'sigstore', '--format', 'sigstore-keys', '--all', '--config', configFile);
    assert.equal(keys.status, 0, keys.stderr);
    assert.equal(YAML.parse(keys.stdout.toString()).spec.sigstoreKeys.ctLogs.length, 2);
    const some = await run('trustroot', 'sigstore', '--format', 'repository', '--targets', 'trusted_root.json,rekor.pub', '--config', configFile);
    assert.equal(some.status, 0, some.stderr);
    assert.match(some.stderr, /mirrorFS archive: 6 files \(2 target files\)/);
  });

  test('exit codes: 2 bad request, 3 configuration, 1 nothing held', async () => {
    const unknownFormat = await run('trustroot', 'sigstore', '--format', 'helm', '--config', configFile);
    assert.equal(unknownFormat.status, 2);
    assert.match(unknownFormat.stderr, /UNKNOWN_FORMAT: unknown format "helm"; formats: remote, repository, sigstore-keys/);
    assert.equal((await run('trustroot', 'sigstore', '--config', configFile)).status, 2);
    assert.equal((await run('trustroot', 'sigstore', '--format', 'repository', '--targets', 'x', '--config', configFile)).status, 2);
    assert.equal((await run('trustroot', 'sigstore', '--format', 'remote', '--name', 'UPPER', '--config', configFile)).status, 2);

    const unknownRepo = await run('trustroot', 'nope', '--format', 'root', '--config', configFile);
    assert.equal(unknownRepo.status, 3);
    assert.match(unknownRepo.stderr, /no repository named nope/);

    const noUrl = path.join(dataDir, 'no-url.yaml');
    const raw = YAML.parse(fs.readFileSync(configFile, 'utf8'));
    delete raw.server;
    fs.writeFileSync(noUrl, YAML.stringify(raw));
    const missing = await run('trustroot', 'sigstore', '--format', 'cosign', '--config', noUrl);
    assert.equal(missing.status, 3);
    assert.match(missing.stderr, /MIRROR_URL_REQUIRED: .*--mirror-url.*server\.publicUrl/);
    assert.equal((await run('trustroot', 'sigstore', '--format', 'trusted-root', '--config', noUrl)).status, 0);

    const empty = await run('trustroot', 'empty', '--format', 'root', '--config', configFile);
    assert.equal(empty.status, 1);
    assert.match(empty.stderr, /NO_GENERATION: repository empty holds no verified generation yet/);
  });
});
