/**
 * Every trust-root output, from the real public-good repository synced through a real mirror
 * (clock pinned to 2026-08-22), checked by what consumes it: the CRD schema, tuf-js reading the
 * mirrorFS archive as policy-controller would, node:crypto parsing keys and chains, sh running
 * the cosign script.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, mock, test } from 'node:test';
import * as tar from 'tar';
import { Updater } from 'tuf-js';
import YAML from 'yaml';
import { packageRoot } from '../../lib/paths';
import type { Service } from '../../server/service';
import { TrustRootError } from '../../trust/errors';
import { FORMAT_NAMES, renderTrustRoot } from '../../trust/formats';
import { loadTrustMaterial, type TrustMaterial } from '../../trust/material';
import { archiveMembers } from '../../trust/mirror-fs';
import { resolveMirrorUrl, type TrustOptions } from '../../trust/options';
import { sizeWarnings } from '../../trust/k8s';
import { sigstoreKeysFrom } from '../../trust/sigstore-keys';
import { parseTrustedRoot } from '../../lib/trusted-root';
import { FIXTURE, FIXTURE_NOW, readTree, startMirror, tempDir, testConfig } from '../helpers/mirror';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';
import { goAvailable, readWithGo, uncompressMemFS } from '../helpers/trust-go-reader';
import { identityFor } from '../helpers/identity';
import { crdSchema, validate, validateResource } from '../helpers/trust-schema';
import { Secret } from 'kubernetes-models/v1/Secret';

const fixture = readTree(FIXTURE);
const TRUSTED_ROOT_PATH = 'targets/6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66.trusted_root.json';
const SIGNING_CONFIG_PATH = 'targets/9711a6d5375706957a4859af31c5866a4474f81f0544f9f4b76c9c4f4c8a539c.signing_config.v0.2.json';
const trustedRootBytes = fixture.get(TRUSTED_ROOT_PATH)!;
// The file as JSON, to compare outputs with what it says independently of lib/trusted-root.ts.
type Authority = { subject: { organization: string; commonName: string }; uri: string; certChain: { certificates: { rawBytes: string }[] } };
type Log = { baseUrl: string; publicKey: { rawBytes: string } };
const trustedRoot = JSON.parse(trustedRootBytes.toString('utf8')) as { certificateAuthorities: Authority[]; timestampAuthorities: Authority[]; tlogs: Log[]; ctlogs: Log[] };
const MIRROR = 'http://tuf-mirror.tuf-mirror.svc:8080';
const FIXTURES = path.join(packageRoot(), 'test', 'fixtures', 'policy-controller');
const trustRootCrd = crdSchema(path.join(FIXTURES, '300-trustroot.yaml'), 'v1alpha1');

let upstream: UpstreamServer;
let mirror: Service;
let material: TrustMaterial;

before(async () => {
  mock.timers.enable({ apis: ['Date'], now: FIXTURE_NOW });
  upstream = await startUpstreamServer(FIXTURE);
  mirror = await startMirror(testConfig([{ upstream: upstream.url, anchor: path.join(FIXTURE, '14.root.json') }]));
  const [result] = await mirror.syncAll();
  assert.equal(result.outcome, 'updated');
  material = loadTrustMaterial(mirror.store, 'sigstore');
});
after(async () => {
  await mirror.close();
  await upstream.close();
  mock.timers.reset();
});

const render = (format: (typeof FORMAT_NAMES)[number], options: TrustOptions = {}) => renderTrustRoot(material, format, { mirrorUrl: MIRROR, ...options });
const parseYaml = (body: Buffer): Record<string, any> => YAML.parse(body.toString('utf8')) as Record<string, any>;

describe('the loader', () => {
  test('turns the served generation into plain data once', () => {
    assert.equal(material.repository, 'sigstore');
    assert.equal(material.generation.id, 1);
    assert.equal(material.root.version, 15);
    assert.ok(material.root.bytes.equals(fixture.get('15.root.json')!));
    assert.ok(material.consistentSnapshot);
    assert.ok(material.timestamp.bytes.equals(fixture.get('timestamp.json')!));
    assert.equal(material.timestamp.version, 762);
    assert.ok(material.snapshot.bytes.equals(fixture.get('165.snapshot.json')!));
    assert.ok(material.targets.bytes.equals(fixture.get('14.targets.json')!));
    assert.deepEqual(
      material.delegated.map((d) => `${d.role}@${d.version}`),
      ['registry.npmjs.org@8'],
    );
    assert.equal(material.targetFiles.length, 12);
    for (const t of material.targetFiles) {
      const file = [...fixture.keys()].find((p) => p.startsWith('targets/') && p.endsWith(`${t.hashes.sha256}.${String(t.name.split('/').pop())}`));
      assert.ok(file && fixture.get(file)!.equals(t.bytes), t.name);
    }
    assert.equal(material.targetFiles.find((t) => t.name === 'registry.npmjs.org/keys.json')!.role, 'registry.npmjs.org');
  });

  test('a repository without a generation: NO_GENERATION', () => {
    mirror.store.ensureRepository('empty', 'http://127.0.0.1:9');
    assert.throws(
      () => loadTrustMaterial(mirror.store, 'empty'),
      (e: unknown) => e instanceof TrustRootError && e.code === 'NO_GENERATION',
    );
  });
});

describe('every format', () => {
  test('renders, names its generation, and gives the same bytes twice', () => {
    for (const format of FORMAT_NAMES) {
      const a = render(format, { identity: identityFor(format) });
      const b = render(format, { identity: identityFor(format) });
      assert.ok(a.body.equals(b.body), `${format} is not deterministic`);
      assert.ok(a.body.length > 0);
      if (a.contentType.startsWith('application/yaml')) {
        const doc = parseYaml(a.body);
        const annotations = doc.metadata?.annotations as Record<string, string> | undefined;
        if (annotations) {
          assert.equal(annotations['tuf-mirror.dev/generation'], '1', format);
          assert.equal(annotations['tuf-mirror.dev/timestamp-version'], '762', format);
          assert.equal(annotations['tuf-mirror.dev/root-version'], '15', format);
        }
        assert.match(a.body.toString('utf8'), /^# .*sigstore generation 1 \(root v15, timestamp v762\)/, format);
      }
    }
  });

  test('every TrustRoot validates against the CRD openAPIV3Schema', () => {
    const outputs = [render('remote'), render('repository'), render('sigstore-keys'), render('sigstore-keys', { all: true }), render('remote', { trustedRootTarget: 'other.json' })];
    for (const out of outputs) {
      const doc = parseYaml(out.body);
      assert.deepEqual(validateResource(doc, trustRootCrd), [], out.format);
      assert.equal(doc.kind, 'TrustRoot');
      assert.equal(doc.metadata.name, 'tuf-mirror-sigstore');
      assert.equal(Object.keys(doc.spec).length, 1, 'exactly one of remote, repository, sigstoreKeys');
    }
    // The validator does catch a wrong field.
    assert.deepEqual(validate({ spec: { remote: { mirrors: 'x' } } }, trustRootCrd.schema), ['spec.remote.mirrors: unknown field']);
    assert.deepEqual(validate({ spec: { remote: { root: 5 } } }, trustRootCrd.schema), ['spec.remote.root: expected a string, got 5']);
  });
});

describe('policy-controller TrustRoot, remote', () => {
  test('the newest root and the mirror URL; defaults left out', () => {
    const doc = parseYaml(render('remote').body);
    assert.deepEqual(Object.keys(doc.spec.remote), ['mirror', 'root']);
    assert.equal(doc.spec.remote.mirror, MIRROR);
    assert.ok(Buffer.from(doc.spec.remote.root as string, 'base64').equals(fixture.get('15.root.json')!));
    assert.equal(parseYaml(render('remote', { trustedRootTarget: 'custom_root.json' }).body).spec.remote.trustedRootTarget, 'custom_root.json');
    assert.equal(doc.metadata.namespace, undefined, 'cluster-scoped');
  });

  test('warns that policy-controller refuses the Ed25519 Rekor v2 key of public-good', () => {
    assert.ok(render('remote').warnings.some((w) => w.includes('log2025-1.rekor.sigstore.dev') && w.includes('ECDSA')));
  });

  test('--name', () => {
    assert.equal(parseYaml(render('remote', { name: 'public-good' }).body).metadata.name, 'public-good');
    assert.throws(
      () => render('remote', { name: 'Bad_Name' }),
      (e: unknown) => e instanceof TrustRootError && e.code === 'INVALID_NAME',
    );
  });
});

describe('policy-controller TrustRoot, repository (mirrorFS)', () => {
  const archiveOf = (body: Buffer): Buffer => {
    const doc = parseYaml(body);
    const gz = Buffer.from(doc.spec.repository.mirrorFS as string, 'base64');
    assert.equal(gz.subarray(0, 2).toString('hex'), '1f8b', 'base64 once, of a gzip stream');
    return gz;
  };

  test('holds exactly what a client starting from the newest root needs', () => {
    const out = render('repository');
    const doc = parseYaml(out.body);
    assert.ok(Buffer.from(doc.spec.repository.root as string, 'base64').equals(fixture.get('15.root.json')!));
    assert.deepEqual(Object.keys(doc.spec.repository), ['root', 'mirrorFS']);
    const go = uncompressMemFS(archiveOf(out.body));
    const expected = [...fixture.keys()].filter((p) => !p.endsWith('root.json') || p.startsWith('targets/')).sort();
    assert.deepEqual([...go.files.keys()].sort(), expected);
    assert.equal(doc.metadata.annotations['tuf-mirror.dev/expires'], '2026-08-28T19:25:56Z');
  });

  test("policy-controller's one-Read-per-member loader gets every file whole", () => {
    const go = uncompressMemFS(archiveOf(render('repository').body));
    assert.deepEqual(go.truncated, []);
    for (const [rel, bytes] of go.files) assert.ok(bytes.equals(fixture.get(rel)!), rel);
  });

  test('the real Go reader, where installed, reads the public-good archive whole', { skip: !goAvailable() && 'no go toolchain on PATH' }, () => {
    const [go] = readWithGo([archiveOf(render('repository').body)]);
    const expected = [...fixture.keys()].filter((p) => !p.endsWith('root.json') || p.startsWith('targets/')).sort();
    assert.deepEqual(Object.keys(go).sort(), expected);
    for (const [rel, m] of Object.entries(go)) {
      assert.equal(m.read, m.size, rel);
      assert.equal(m.sha256, createHash('sha256').update(fixture.get(rel)!).digest('hex'), rel);
    }
  });

  test('an ordinary tar reader unpacks the same tree', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'a.tgz'), archiveOf(render('repository').body));
    await tar.x({ file: path.join(dir, 'a.tgz'), cwd: dir });
    const unpacked = readTree(path.join(dir, 'repository'));
    const go = uncompressMemFS(archiveOf(render('repository').body));
    assert.equal(unpacked.size, go.files.size);
    for (const [rel, bytes] of go.files) assert.ok(unpacked.get(rel)?.equals(bytes), rel);
  });

  test("tuf-js's Updater, bootstrapped from the supplied root, reads every target from the unpacked tree", async () => {
    const out = render('repository');
    const doc = parseYaml(out.body);
    // What policy-controller's fetcher would serve: the files as its loader read them.
    const server = await startUpstreamServer(uncompressMemFS(archiveOf(out.body)).files);
    try {
      const dir = tempDir();
      fs.writeFileSync(path.join(dir, 'root.json'), Buffer.from(doc.spec.repository.root as string, 'base64'));
      fs.mkdirSync(path.join(dir, 'targets'));
      const updater = new Updater({ metadataDir: dir, metadataBaseUrl: server.url, targetBaseUrl: `${server.url}/targets`, targetDir: path.join(dir, 'targets') });
      await updater.refresh();
      for (const t of material.targetFiles) {
        const info = await updater.getTargetInfo(t.name);
        assert.ok(info, t.name);
        const file = await updater.downloadTarget(info, path.join(dir, 'targets', t.name.replace(/\//g, '_')));
        assert.ok(fs.readFileSync(file).equals(t.bytes), t.name);
      }
      assert.ok(server.requests.includes('16.root.json'), 'asked for the next root (absent: 404)');
      assert.ok(!server.requests.some((r) => /^1?[0-9]\.root\.json$/.test(r) && r !== '16.root.json'), 'no older root needed');
    } finally {
      await server.close();
    }
  });

  test('--targets keeps the named targets only; still a working repository', async () => {
    const out = render('repository', { targets: ['trusted_root.json'] });
    const go = uncompressMemFS(archiveOf(out.body));
    assert.deepEqual(
      [...go.files.keys()].filter((p) => p.startsWith('targets/')),
      [TRUSTED_ROOT_PATH],
    );
    assert.ok(out.warnings.some((w) => w.startsWith('left out of the archive (--targets): ') && w.includes('fulcio_v1.crt.pem')));
    const server = await startUpstreamServer(go.files);
    try {
      const dir = tempDir();
      fs.writeFileSync(path.join(dir, 'root.json'), material.root.bytes);
      const updater = new Updater({ metadataDir: dir, metadataBaseUrl: server.url, targetBaseUrl: `${server.url}/targets`, targetDir: dir });
      await updater.refresh();
      const file = await updater.downloadTarget((await updater.getTargetInfo('trusted_root.json'))!, path.join(dir, 'tr.json'));
      assert.ok(fs.readFileSync(file).equals(trustedRootBytes));
    } finally {
      await server.close();
    }
    assert.throws(
      () => render('repository', { targets: ['nope.json'] }),
      (e: unknown) => e instanceof TrustRootError && e.code === 'UNKNOWN_TARGET' && e.message.includes('trusted_root.json'),
    );
  });

  test('every hash a listing signs gets its file (go-tuf picks one at random)', () => {
    const twoHashes: TrustMaterial = {
      ...material,
      targetFiles: material.targetFiles.map((t) => (t.name === 'trusted_root.json' ? { ...t, hashes: { sha256: t.hashes.sha256, sha512: 'ab'.repeat(64) } } : t)),
    };
    const paths = archiveMembers(twoHashes).map((m) => m.path);
    assert.ok(paths.includes(`repository/${TRUSTED_ROOT_PATH}`));
    assert.ok(paths.includes(`repository/targets/${'ab'.repeat(64)}.trusted_root.json`));
  });

  test('a repository without consistent snapshots gets plain file names, as its clients ask for them', () => {
    const paths = archiveMembers({ ...material, consistentSnapshot: false }).map((m) => m.path);
    assert.deepEqual(paths.slice(0, 4), ['repository/timestamp.json', 'repository/snapshot.json', 'repository/targets.json', 'repository/registry.npmjs.org.json']);
    assert.ok(paths.includes('repository/targets/trusted_root.json'));
    assert.ok(paths.includes('repository/targets/registry.npmjs.org/keys.json'));
  });

  test('size warnings near the Kubernetes limits', () => {
    assert.deepEqual(sizeWarnings(150 * 1024, 'x'), []);
    assert.match(sizeWarnings(210 * 1024, 'x').join(), /near the 256 KiB/);
    assert.match(sizeWarnings(300 * 1024, 'x').join(), /fails above 256 KiB.*--server-side/);
    assert.match(sizeWarnings(900 * 1024, 'x').join(), /near the 1 MiB/);
    assert.match(sizeWarnings(1100 * 1024, 'x').join(), /over 1 MiB/);
  });

  test('reports its size and when it stops working', () => {
    const out = render('repository');
    assert.equal(out.archiveBytes, archiveOf(out.body).length);
    assert.ok(
      out.notes.some((n) => /^mirrorFS archive: 16 files \(12 target files\), tar \d+ bytes, gzip \d+ bytes, base64 \d+ bytes; TrustRoot \d+ bytes$/.test(n)),
      out.notes.join('\n'),
    );
    assert.ok(out.warnings.some((w) => w.includes('timestamp v762 in the archive expires 2026-08-28T19:25:56Z')));
    assert.ok(out.archiveBytes < 16 * 1024, `public-good archive is ${out.archiveBytes} bytes`);
    assert.ok(out.body.length < 200 * 1024, 'well under the 256 KiB of client-side kubectl apply');
    assert.ok(!out.warnings.some((w) => w.includes('256 KiB')));
  });
});

describe('policy-controller TrustRoot, sigstoreKeys', () => {
  const splitPem = (text: string): string[] => text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g) ?? [];

  test('keys and chains parse with node:crypto and match trusted_root.json', () => {
    const keys = parseYaml(render('sigstore-keys').body).spec.sigstoreKeys;
    const cas = [...keys.certificateAuthorities, ...keys.timestampAuthorities];
    const sources = [trustedRoot.certificateAuthorities[1], trustedRoot.timestampAuthorities[0]];
    cas.forEach((ca: any, i: number) => {
      const src = sources[i];
      assert.deepEqual(ca.subject, src.subject);
      assert.equal(ca.uri, src.uri);
      const pems = splitPem(Buffer.from(ca.certChain as string, 'base64').toString('utf8'));
      assert.equal(pems.length, src.certChain.certificates.length);
      const certs = pems.map((p) => new X509Certificate(p));
      certs.forEach((c, j) => assert.ok(c.raw.equals(Buffer.from(src.certChain.certificates[j].rawBytes, 'base64'))));
      const root = certs[certs.length - 1];
      assert.ok(root.checkIssued(root) && root.verify(root.publicKey), 'the chain ends with its self-signed root');
      for (let j = 0; j + 1 < certs.length; j++) assert.ok(certs[j].verify(certs[j + 1].publicKey), 'each certificate is signed by the next');
    });
    const logs = [...keys.tLogs, ...keys.ctLogs];
    const logSources = [trustedRoot.tlogs[0], trustedRoot.ctlogs[1]];
    logs.forEach((log: any, i: number) => {
      const src = logSources[i];
      assert.equal(log.baseURL, src.baseUrl);
      assert.equal(log.hashAlgorithm, 'sha-256');
      const key = createPublicKey(Buffer.from(log.publicKey as string, 'base64').toString('utf8'));
      assert.equal(key.asymmetricKeyType, 'ec');
      assert.ok(key.export({ format: 'der', type: 'spki' }).equals(Buffer.from(src.publicKey.rawBytes, 'base64')));
    });
  });

  test('by default only entries valid now, and says which were left out and why', () => {
    const out = render('sigstore-keys');
    const keys = parseYaml(out.body).spec.sigstoreKeys;
    assert.deepEqual(Object.fromEntries(Object.entries(keys).map(([k, v]) => [k, (v as unknown[]).length])), { certificateAuthorities: 1, tLogs: 1, ctLogs: 1, timestampAuthorities: 1 });
    assert.equal(out.warnings.length, 3, out.warnings.join('\n'));
    assert.ok(out.warnings.some((w) => w.includes('certificateAuthorities https://fulcio.sigstore.dev: not valid now (2021-03-07T03:20:29Z to 2022-12-31T23:59:59.999Z)')));
    assert.ok(out.warnings.some((w) => w.includes('ctLogs https://ctfe.sigstore.dev/test: not valid now')));
    assert.ok(out.warnings.some((w) => w.includes('tLogs https://log2025-1.rekor.sigstore.dev: key of type ed25519')));
  });

  test('--all keeps every window, never a Rekor key policy-controller refuses', () => {
    const keys = parseYaml(render('sigstore-keys', { all: true }).body).spec.sigstoreKeys;
    assert.equal(keys.certificateAuthorities.length, 2);
    assert.equal(keys.ctLogs.length, 2);
    assert.deepEqual(
      keys.tLogs.map((l: any) => l.baseURL),
      ['https://rekor.sigstore.dev'],
    );
  });

  test('no authority valid now: NOTHING_VALID', () => {
    const parsed = parseTrustedRoot(trustedRootBytes);
    const expired = { ...parsed, certificateAuthorities: [parsed.certificateAuthorities[0]], timestampAuthorities: [] };
    assert.throws(
      () => sigstoreKeysFrom(expired, FIXTURE_NOW, false),
      (e: unknown) => e instanceof TrustRootError && e.code === 'NOTHING_VALID',
    );
    assert.equal(sigstoreKeysFrom(expired, Date.parse('2022-01-01T00:00:00Z'), false).keys.certificateAuthorities!.length, 1);
  });
});

describe('Kubewarden', () => {
  test('client-trust-config embeds trusted_root.json and signing_config.v0.2.json verbatim', () => {
    const out = render('client-trust-config');
    assert.equal(out.contentType, 'application/json');
    const text = out.body.toString('utf8');
    const parsed = JSON.parse(text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(parsed), ['mediaType', 'trustedRoot', 'signingConfig']);
    assert.equal(parsed.mediaType, 'application/vnd.dev.sigstore.clienttrustconfig.v0.1+json');
    // Round trip to the target bytes: the exact text is inside, and parses to the same value.
    assert.ok(text.includes(trustedRootBytes.toString('utf8').trimEnd()));
    assert.ok(text.includes(fixture.get(SIGNING_CONFIG_PATH)!.toString('utf8').trimEnd()));
    assert.deepEqual(parsed.trustedRoot, trustedRoot);
    assert.deepEqual(parsed.signingConfig, JSON.parse(fixture.get(SIGNING_CONFIG_PATH)!.toString('utf8')));
    assert.deepEqual(out.warnings, []);
  });

  test('without a signing config: omitted, with a warning', () => {
    const without = { ...material, targetFiles: material.targetFiles.filter((t) => t.name !== 'signing_config.v0.2.json') };
    const out = renderTrustRoot(without, 'client-trust-config', {});
    assert.deepEqual(Object.keys(JSON.parse(out.body.toString('utf8'))), ['mediaType', 'trustedRoot']);
    assert.match(out.warnings[0], /no signing_config\.v0\.2\.json target/);
  });

  test('kubewarden-configmap carries the same JSON under sigstore-trust-config', () => {
    const out = render('kubewarden-configmap');
    const doc = parseYaml(out.body);
    assert.equal(doc.kind, 'ConfigMap');
    assert.equal(doc.metadata.namespace, 'kubewarden');
    assert.equal(doc.metadata.name, 'tuf-mirror-sigstore-trust-config');
    assert.deepEqual(Object.keys(doc.data), ['sigstore-trust-config']);
    assert.equal(doc.data['sigstore-trust-config'], render('client-trust-config').body.toString('utf8'));
    assert.match(out.body.toString('utf8'), /sigstoreTrustConfig":"tuf-mirror-sigstore-trust-config"/);
    assert.equal(parseYaml(render('kubewarden-configmap', { namespace: 'policies', name: 'trust' }).body).metadata.namespace, 'policies');
  });
});

describe('Kyverno and cosign', () => {
  test('kyverno-values: features.tuf with the mirror and rootRaw = base64 of the newest root', () => {
    const out = render('kyverno-values');
    const values = parseYaml(out.body);
    assert.deepEqual(Object.keys(values.features.tuf), ['enabled', 'mirror', 'rootRaw']);
    assert.equal(values.features.tuf.enabled, true);
    assert.equal(values.features.tuf.mirror, MIRROR);
    assert.ok(Buffer.from(values.features.tuf.rootRaw as string, 'base64').equals(material.root.bytes));
    assert.match(out.body.toString('utf8'), /# Flag form: --enableTuf=true --tufMirror=http:\/\/tuf-mirror\.tuf-mirror\.svc:8080 --tufRootRaw=/);
  });

  test('cosign: the script writes the root byte for byte and runs cosign initialize with --root-checksum', () => {
    const checksum = createHash('sha256').update(material.root.bytes).digest('hex');
    const run = (help: string) => {
      const dir = tempDir();
      fs.mkdirSync(path.join(dir, 'bin'));
      // A stand-in cosign: answers --help as a cosign with or without --root-checksum does, records the rest.
      fs.writeFileSync(path.join(dir, 'bin', 'cosign'), `#!/bin/sh\nif [ "$2" = --help ]; then echo '${help}'; exit 0; fi\nprintf "%s\\n" "$@" > "$COSIGN_ARGS"\n`, { mode: 0o755 });
      const out = render('cosign');
      fs.writeFileSync(path.join(dir, 'init.sh'), out.body);
      execFileSync('sh', ['init.sh'], { cwd: dir, env: { ...process.env, PATH: `${path.join(dir, 'bin')}:${process.env.PATH ?? ''}`, COSIGN_ARGS: path.join(dir, 'args') } });
      assert.ok(fs.readFileSync(path.join(dir, 'sigstore-root-v15.json')).equals(material.root.bytes));
      assert.deepEqual(out.notes, [`--root-checksum ${checksum} (sha256 of root v15, for cosign initialize --root sigstore-root-v15.json)`]);
      return fs.readFileSync(path.join(dir, 'args'), 'utf8').trim().split('\n');
    };
    const base = ['initialize', '--mirror', MIRROR, '--root', 'sigstore-root-v15.json'];
    assert.deepEqual(run('      --root-checksum string   checksum of the initial root'), [...base, '--root-checksum', checksum]);
    assert.deepEqual(run('      --root string   path to trusted initial root'), base, 'an older cosign is not handed a flag it does not know');
  });

  test("kyverno-policy and kyverno-policy-trusted-root: ImageValidatingPolicies valid against Kyverno's CRD", () => {
    const crd = crdSchema(path.join(packageRoot(), 'test', 'fixtures', 'kyverno', 'imagevalidatingpolicies-v1.yaml'), 'v1');
    const tuf = parseYaml(render('kyverno-policy').body);
    assert.deepEqual(validateResource(tuf, crd), []);
    const attestor = tuf.spec.attestors[0];
    assert.equal(attestor.cosign.tuf.mirror, MIRROR);
    assert.ok(Buffer.from(attestor.cosign.tuf.root.data, 'base64').equals(material.root.bytes));
    assert.match(tuf.spec.validations[0].expression, new RegExp(`\\[attestors\\.${String(attestor.name)}\\]`));
    const inline = parseYaml(render('kyverno-policy-trusted-root').body);
    assert.deepEqual(validateResource(inline, crd), []);
    assert.equal(inline.spec.attestors[0].cosign.trustedRoot.value, trustedRootBytes.toString('utf8'), 'the verified bytes, not a re-serialization');
    assert.equal(inline.spec.attestors[0].cosign.tuf, undefined);
    // The validator is not a rubber stamp: both forms of a oneOf, or an unknown field, are refused.
    const both = structuredClone(inline);
    both.spec.attestors[0].cosign.trustedRoot.expression = 'variables.root';
    both.spec.attestors[0].cosign.notAField = true;
    assert.deepEqual(validateResource(both, crd), ['spec.attestors[0].cosign.trustedRoot: 2 of the oneOf alternatives hold, exactly one must', 'spec.attestors[0].cosign.notAField: unknown field']);
    assert.ok(render('kyverno-policy').warnings.some((w) => w.includes('placeholders')));
  });

  test('flux-secret: a valid Secret whose trusted_root.json is the verified target byte for byte', () => {
    const out = render('flux-secret');
    const secret = parseYaml(out.body);
    new Secret(secret).validate();
    assert.deepEqual([secret.metadata.namespace, secret.metadata.name, secret.type], ['flux-system', 'tuf-mirror-sigstore-trusted-root', 'Opaque']);
    assert.deepEqual(Object.keys(secret.data), ['trusted_root.json']);
    assert.ok(Buffer.from(secret.data['trusted_root.json'], 'base64').equals(trustedRootBytes));
    assert.match(out.body.toString('utf8'), /# {5}trustedRootSecretRef:\n# {7}name: tuf-mirror-sigstore-trusted-root/);
    assert.equal(parseYaml(render('flux-secret', { namespace: 'apps', name: 'root' }).body).metadata.namespace, 'apps');
  });

  test('trusted-root and root: the verified files as served', () => {
    assert.ok(render('trusted-root').body.equals(trustedRootBytes));
    assert.ok(render('root').body.equals(fixture.get('15.root.json')!));
  });
});

describe('mirror URL', () => {
  const repo = { name: 'sigstore', default: true };
  test('an explicit URL is used as given; server.publicUrl is the base, /<name> for a non-default repository', () => {
    assert.equal(resolveMirrorUrl('https://m.example/x/', { server: {} as never }, repo), 'https://m.example/x');
    const config = { server: { publicUrl: 'http://tuf-mirror:8080/' } } as never;
    assert.equal(resolveMirrorUrl(undefined, config, repo), 'http://tuf-mirror:8080');
    assert.equal(resolveMirrorUrl(undefined, config, { name: 'github', default: false }), 'http://tuf-mirror:8080/github');
  });
  test('what is handed out is the parsed, normalised URL, never the string as given', () => {
    // URL parsing drops tabs and newlines: the raw string would carry them into YAML and scripts.
    const sneaky = 'http://Mirror.Example:80/sig\nstore/\tx';
    const url = resolveMirrorUrl(sneaky, { server: {} as never }, repo);
    assert.equal(url, 'http://mirror.example/sigstore/x');
    for (const format of ['remote', 'kyverno-values', 'cosign'] as const) assert.doesNotMatch(render(format, { mirrorUrl: url }).body.toString(), /sig\nstore|Mirror\.Example/, format);
    const config = { server: { publicUrl: 'HTTPS://TUF.example:443/base/' } } as never;
    assert.equal(resolveMirrorUrl(undefined, config, { name: 'github', default: false }), 'https://tuf.example/base/github');
  });
  test('neither: MIRROR_URL_REQUIRED; a bad one: INVALID_MIRROR_URL', () => {
    assert.throws(
      () => resolveMirrorUrl(undefined, { server: {} } as never, repo),
      (e: unknown) => e instanceof TrustRootError && e.code === 'MIRROR_URL_REQUIRED',
    );
    for (const bad of ['ftp://x', 'not a url', 'http://u:p@x', 'http://x/?a=1']) {
      assert.throws(
        () => resolveMirrorUrl(bad, { server: {} } as never, repo),
        (e: unknown) => e instanceof TrustRootError && e.code === 'INVALID_MIRROR_URL',
        bad,
      );
    }
  });
});

describe('README', () => {
  test('the ClusterImagePolicy example validates against its CRD and names the TrustRoot we hand out', () => {
    const readme = fs.readFileSync(path.join(packageRoot(), 'README.md'), 'utf8');
    const block = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b.includes('kind: ClusterImagePolicy'));
    assert.ok(block, 'README has a ClusterImagePolicy example');
    const cip = YAML.parse(block);
    const crd = crdSchema(path.join(FIXTURES, '300-clusterimagepolicy.yaml'), cip.apiVersion.split('/')[1]);
    assert.deepEqual(validateResource(cip, crd), []);
    const refs = JSON.stringify(cip).match(/"trustRootRef":"([^"]+)"/g) ?? [];
    assert.ok(refs.length > 0 && refs.every((r) => r.includes('tuf-mirror-sigstore')));
  });
});
