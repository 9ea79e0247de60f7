/**
 * An origin repository: created here, served here, re-signed on schedule, rotated; read by
 * tuf-js, @sigstore/tuf and another mirror exactly as they read the public-good repository.
 */
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, mock, test } from 'node:test';
import { getTrustedRoot } from '@sigstore/tuf';
import { Updater } from 'tuf-js';
import { parseConfig, type Config, type RepositoryConfig } from '../../config/config';
import { silentLogger } from '../../lib/log';
import { OriginError } from '../../origin/errors';
import { initOrigin, prepareRootRotation, publishPendingRoot, readPendingRoot, resignOrigin, signPendingRoot, updateOriginKeys, type OriginContext } from '../../origin/origin';
import { serialize } from '../../origin/repository';
import { trustedRootJson, type TrustMaterial } from '../../origin/trust-material';
import type { Service } from '../../server/service';
import YAML from 'yaml';
import { packageRoot } from '../../lib/paths';
import { renderTrustRoot } from '../../trust/formats';
import { loadTrustMaterial } from '../../trust/material';
import { get, startMirror, tempDir, testConfig } from '../helpers/mirror';
import { crdSchema, validateResource } from '../helpers/trust-schema';
import { makePki } from '../helpers/pki';

const START = Date.parse('2026-09-01T00:00:00Z');
const pki = makePki();
const material: TrustMaterial = {
  certificateAuthorities: [{ url: 'https://fulcio.acme.example', chainPem: pki.read(pki.fulcio), validFor: { start: '2026-01-01T00:00:00Z' } }],
  tlogs: [{ url: 'https://rekor.acme.example', keyPem: pki.read(pki.rekor), validFor: { start: '2026-01-01T00:00:00Z' } }],
  ctlogs: [{ url: 'https://ctfe.acme.example', keyPem: pki.read(pki.ctfe), validFor: { start: '2026-01-01T00:00:00Z' } }],
  timestampAuthorities: [{ url: 'https://tsa.acme.example/api/v1/timestamp', chainPem: pki.read(pki.tsa), validFor: { start: '2026-01-01T00:00:00Z' } }],
  oidcIssuers: [{ url: 'https://oidc.acme.example', validFor: { start: '2026-01-01T00:00:00Z' } }],
};

let config: Config;
let repository: RepositoryConfig;
let origin: Service;
let ctx: OriginContext;
const keys = { root: { count: 1, threshold: 1 }, targets: { count: 1, threshold: 1 }, snapshot: { count: 1, threshold: 1 }, timestamp: { count: 1, threshold: 1 } };

/** A TUF client from root v1 of the origin, through `url`: the trusted_root.json it gets. */
async function client(url: string, rootVersion = 1): Promise<{ trustedRoot: string; root: number }> {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'root.json'), fs.readFileSync(repository.trustAnchor));
  if (rootVersion !== 1) fs.writeFileSync(path.join(dir, 'root.json'), (await get(`${url}/${rootVersion}.root.json`)).body);
  const updater = new Updater({ metadataDir: dir, metadataBaseUrl: url, targetBaseUrl: `${url}/targets`, targetDir: dir });
  await updater.refresh();
  const info = await updater.getTargetInfo('trusted_root.json');
  assert.ok(info);
  const file = await updater.downloadTarget(info, path.join(dir, 'tr.json'));
  return { trustedRoot: fs.readFileSync(file, 'utf8'), root: JSON.parse(fs.readFileSync(path.join(dir, 'root.json'), 'utf8')).signed.version };
}

before(() => mock.timers.enable({ apis: ['Date'], now: START }));

describe('origin repository', () => {
  before(async () => {
    const dataDir = tempDir();
    config = parseConfig(
      {
        dataDir,
        server: { host: '127.0.0.1', port: 0 },
        sync: { onStart: false },
        repositories: [{ name: 'acme', kind: 'origin', origin: { timestampExpiry: '2d', snapshotExpiry: '45d', targetsExpiry: '365d', rootExpiry: '180d' } }],
      },
      'test',
      dataDir,
    );
    repository = config.repositories[0];
    origin = await startMirror(config);
    ctx = { store: origin.store, repository, logger: silentLogger };
  });
  after(() => origin.close());

  test('init: keys owner-only, trust material built from the inputs, generation 1 served', async () => {
    const r = await initOrigin(ctx, { material, operator: 'acme', keyType: 'ecdsa', keys, now: new Date() });
    assert.equal(r.generation.id, 1);
    for (const f of r.keyFiles) assert.equal(fs.statSync(f).mode & 0o777, 0o600, f);
    assert.deepEqual(r.generation.summary.targets, ['ctfe.pub', 'fulcio_v1.crt.pem', 'rekor.pub', 'signing_config.v0.2.json', 'trusted_root.json', 'tsa_1.crt.pem']);
    origin.index.reload();

    const tr = JSON.parse((await get(`${origin.url}/targets/trusted_root.json`)).body.toString());
    assert.equal(tr.mediaType, 'application/vnd.dev.sigstore.trustedroot+json;version=0.1');
    const rekorDer = crypto.createPublicKey(pki.read(pki.rekor)).export({ format: 'der', type: 'spki' });
    assert.equal(tr.tlogs[0].logId.keyId, crypto.createHash('sha256').update(rekorDer).digest('base64'));
    assert.equal(tr.tlogs[0].publicKey.keyDetails, 'PKIX_ECDSA_P256_SHA_256');
    assert.deepEqual(tr.certificateAuthorities[0].subject, { organization: 'acme.example', commonName: 'acme-fulcio' });
    assert.equal(Buffer.from(tr.certificateAuthorities[0].certChain.certificates[0].rawBytes, 'base64').equals(new crypto.X509Certificate(pki.read(pki.fulcio)).raw), true);
    const sc = JSON.parse((await get(`${origin.url}/targets/signing_config.v0.2.json`)).body.toString());
    assert.deepEqual(
      sc.caUrls.map((u: { url: string }) => u.url),
      ['https://fulcio.acme.example'],
    );
    assert.deepEqual(
      sc.tsaUrls.map((u: { url: string }) => u.url),
      ['https://tsa.acme.example/api/v1/timestamp'],
    );
    const targets = JSON.parse((await get(`${origin.url}/targets.json`)).body.toString());
    assert.deepEqual(targets.signed.targets['rekor.pub'].custom, { sigstore: { usage: 'Rekor', status: 'Active', uri: 'https://rekor.acme.example' } });
    assert.deepEqual(Object.keys(targets.signed.targets['rekor.pub'].hashes), ['sha256', 'sha512']);
    // Both hash names are served.
    const info = targets.signed.targets['trusted_root.json'];
    assert.equal((await get(`${origin.url}/targets/${String(info.hashes.sha512)}.trusted_root.json`)).status, 200);

    await assert.rejects(initOrigin(ctx, { material, operator: 'acme', keyType: 'ecdsa', keys }), (e: unknown) => e instanceof OriginError && e.code === 'ALREADY_INITIALIZED');
  });

  test('tuf-js and @sigstore/tuf bootstrap from root v1 over HTTP and get the trusted_root.json built', async () => {
    const built = trustedRootJson(material).toString();
    assert.equal((await client(origin.url)).trustedRoot, built);
    const root = await getTrustedRoot({ mirrorURL: origin.url, rootPath: repository.trustAnchor, cachePath: tempDir(), forceInit: true });
    assert.equal(root.tlogs[0].baseUrl, 'https://rekor.acme.example');
    assert.equal(root.timestampAuthorities.length, 1);
  });

  test('origin → mirror → client: another tuf-mirror syncs it over HTTP and verifies it again', async () => {
    const mirror = await startMirror(testConfig([{ name: 'acme-mirror', upstream: origin.url, anchor: repository.trustAnchor }]));
    try {
      assert.equal((await mirror.syncAll())[0].outcome, 'updated');
      assert.equal((await client(mirror.url)).trustedRoot, trustedRootJson(material).toString());
      assert.ok((await get(`${mirror.url}/timestamp.json`)).body.equals((await get(`${origin.url}/timestamp.json`)).body));
    } finally {
      await mirror.close();
    }
  });

  test('a simulated month: daily re-signing keeps every client refresh valid; a missed tick is caught up', async () => {
    let day = 0;
    let snapshotResigns = 0;
    let snapshotVersion = origin.store.currentGeneration('acme')!.snapshotVersion;
    for (day = 1; day <= 31; day++) {
      mock.timers.setTime(START + day * 86400_000);
      // The cron tick re-signs daily; on days 10-12 it is "missed" and the periodic check
      // (re-sign once less than half the timestamp's life is left) must catch up.
      if (day < 10 || day > 12) await resignOrigin(ctx, { force: true });
      else await resignOrigin(ctx);
      origin.index.reload();
      const g = origin.store.currentGeneration('acme')!;
      if (g.snapshotVersion !== snapshotVersion) {
        snapshotResigns++;
        snapshotVersion = g.snapshotVersion;
      }
      const { trustedRoot } = await client(origin.url);
      assert.equal(trustedRoot, trustedRootJson(material).toString(), `day ${day}`);
    }
    assert.ok(snapshotResigns >= 1, 'the snapshot was re-signed before it expired');
    assert.ok(origin.store.currentGeneration('acme')!.timestampVersion >= 29);
  });

  test('update-keys: a new Rekor log added, the old one retired with an end date and kept', async () => {
    const now = new Date();
    const rekor2 = pki.read(pki.logKey('rekor2'));
    const { generation, material: m } = await updateOriginKeys(ctx, {
      add: { tlogs: [{ url: 'https://rekor2.acme.example', keyPem: rekor2, validFor: { start: now.toISOString() } }] },
      retire: [{ kind: 'tlogs', url: 'https://rekor.acme.example', end: now.toISOString() }],
      operator: 'acme',
      keysDir: repository.origin!.keysDir,
      now,
    });
    assert.equal(m.tlogs.length, 2);
    origin.index.reload();
    const tr = JSON.parse((await client(origin.url)).trustedRoot);
    assert.deepEqual(
      tr.tlogs.map((l: { baseUrl: string }) => l.baseUrl),
      ['https://rekor.acme.example', 'https://rekor2.acme.example'],
    );
    assert.equal(tr.tlogs[0].publicKey.validFor.end, now.toISOString());
    const targets = JSON.parse((await get(`${origin.url}/targets.json`)).body.toString()).signed.targets;
    assert.equal(targets['rekor.pub'].custom.sigstore.status, 'Expired');
    assert.equal(targets['rekor_2.pub'].custom.sigstore.status, 'Active');
    assert.ok(generation.summary.targets.includes('rekor_2.pub'));
  });

  test('rotate-root with a new threshold, through the offline flow; a client from root 1 follows', async () => {
    const keysDir = repository.origin!.keysDir;
    const { pending, newKeyFiles } = prepareRootRotation(ctx, { replace: ['root'], thresholds: { root: 2 }, keysDir: tempDir(), keyType: 'ed25519' });
    // Only the new keys' holder signed so far: root v1's threshold is not met.
    await assert.rejects(publishPendingRoot(ctx, pending, keysDir), (e: unknown) => e instanceof OriginError && e.code === 'THRESHOLD_NOT_MET');
    const file = path.join(tempDir(), 'root-v2.json');
    fs.writeFileSync(file, serialize(pending));
    signPendingRoot(file, path.join(keysDir, 'root-1.pem'));
    assert.equal(newKeyFiles.length, 2);
    const g = await publishPendingRoot(ctx, readPendingRoot(file), keysDir);
    assert.equal(g.rootVersion, 2);
    origin.index.reload();
    const followed = await client(origin.url);
    assert.equal(followed.root, 2);
    const roots = JSON.parse((await get(`${origin.url}/api/v1/repositories/acme/roots`)).body.toString()).roots;
    assert.equal(roots[1].roles.root.threshold, 2);
    assert.deepEqual(roots[1].roles.root.keytypes, ['ed25519', 'ed25519']);
  });

  test('handed out like a mirrored repository: every TrustRoot for the origin validates against the CRD', () => {
    const crd = crdSchema(path.join(packageRoot(), 'test', 'fixtures', 'policy-controller', '300-trustroot.yaml'), 'v1alpha1');
    const material = loadTrustMaterial(origin.store, 'acme');
    for (const format of ['remote', 'repository', 'sigstore-keys'] as const) {
      const doc = YAML.parse(renderTrustRoot(material, format, { mirrorUrl: 'http://tuf-mirror.example:8080/acme' }).body.toString('utf8'));
      assert.deepEqual(validateResource(doc, crd), [], format);
    }
    const keys = YAML.parse(renderTrustRoot(material, 'sigstore-keys', {}).body.toString('utf8')).spec.sigstoreKeys;
    assert.deepEqual(
      keys.tLogs.map((l: { baseURL: string }) => l.baseURL),
      ['https://rekor2.acme.example'],
      'the retired log is left out of what is valid now',
    );
    assert.equal(keys.certificateAuthorities[0].uri, 'https://fulcio.acme.example');
  });

  test('without the online key, re-signing refuses and nothing changes', async () => {
    const keysDir = repository.origin!.keysDir;
    const before = origin.store.currentGeneration('acme')!.id;
    const moved = path.join(tempDir(), 'timestamp-1.pem');
    fs.renameSync(path.join(keysDir, 'timestamp-1.pem'), moved);
    try {
      await assert.rejects(resignOrigin(ctx, { force: true }), (e: unknown) => e instanceof OriginError && e.code === 'THRESHOLD_NOT_MET');
      assert.equal(origin.store.currentGeneration('acme')!.id, before);
    } finally {
      fs.renameSync(moved, path.join(keysDir, 'timestamp-1.pem'));
    }
  });
});

after(() => mock.timers.reset());
