/** The verifier's pure parts and the registry client's edges: references, policies, globs, cache, auth, config. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseConfig } from '../../config/config';
import { packageRoot } from '../../lib/paths';
import { containerImages, globToRegExp, imagesOf, podSpecOf } from '../../verifier/admission';
import { ResultCache } from '../../verifier/cache';
import { ImageVerifier } from '../../verifier/image';
import { RegistryClient, RegistryError } from '../../verifier/oci';
import { entryMatches, parsePolicy, PolicyError } from '../../lib/policy';
import { parseReference } from '../../verifier/reference';
import { parseTrustRoot } from '../../verifier/trust-root';
import { FIXTURE, tempDir } from '../helpers/mirror';
import { loopbackCertificate } from '../helpers/pki';
import { cosignSigManifest, OciStub } from '../../testing/oci-stub';

const F = path.join(packageRoot(), 'test', 'fixtures', 'cosign-image-signatures');
const KEY1 = fs.readFileSync(path.join(F, 'cosign.pub'), 'utf8');

describe('image references', () => {
  test('Docker Hub defaults, registries, tags and digests', () => {
    assert.deepEqual(parseReference('nginx'), { registry: 'docker.io', repository: 'library/nginx', tag: 'latest' });
    assert.deepEqual(parseReference('acme/app:1.0'), { registry: 'docker.io', repository: 'acme/app', tag: '1.0' });
    assert.deepEqual(parseReference('registry.local:5000/acme/app'), { registry: 'registry.local:5000', repository: 'acme/app', tag: 'latest' });
    assert.deepEqual(parseReference('localhost/app@sha256:' + 'a'.repeat(64)), { registry: 'localhost', repository: 'app', digest: 'sha256:' + 'a'.repeat(64) });
    assert.deepEqual(parseReference('index.docker.io/library/busybox:1'), { registry: 'docker.io', repository: 'library/busybox', tag: '1' });
    for (const bad of ['', 'UPPER/case', 'a b', 'app@sha256:abc', 'app:-bad']) assert.throws(() => parseReference(bad), /./, bad);
  });
});

describe('policies', () => {
  const cert = (subject: string, issuer = 'https://token.actions.githubusercontent.com', githubRepository?: string) => ({
    kind: 'certificate' as const,
    keyId: 'x',
    annotations: {},
    identity: { subject, issuer, ...(githubRepository ? { githubRepository } : {}) },
  });

  test('urlPrefix always ends at a slash: acme never matches acme-evil', () => {
    const p = parsePolicy({ apiVersion: 'v1', allOf: [{ kind: 'genericIssuer', issuer: 'https://token.actions.githubusercontent.com', subject: { urlPrefix: 'https://github.com/acme' } }] });
    const e = p.allOf[0];
    assert.equal(entryMatches(e, cert('https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main')), true);
    assert.equal(entryMatches(e, cert('https://github.com/acme-evil/app/.github/workflows/r.yml@refs/heads/main')), false);
    assert.equal(entryMatches(e, cert('https://github.com/acme')), false);
    assert.equal(entryMatches(e, cert('https://github.com/acme/app', 'https://evil.example')), false);
  });

  test('equal is exact; regular-expression characters are literal', () => {
    const p = parsePolicy({ apiVersion: 'v1', allOf: [{ kind: 'genericIssuer', issuer: 'i', subject: { equal: 'a.b@example.com' } }] });
    assert.equal(entryMatches(p.allOf[0], cert('a.b@example.com', 'i')), true);
    assert.equal(entryMatches(p.allOf[0], cert('aXb@example.com', 'i')), false);
    assert.equal(entryMatches(p.allOf[0], cert('xa.b@example.com', 'i')), false);
  });

  test('githubAction needs the GitHub issuer, the SAN and the repository extension to agree', () => {
    const p = parsePolicy({ apiVersion: 'v1', allOf: [{ kind: 'githubAction', owner: 'acme', repo: 'app' }] });
    const san = 'https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main';
    assert.equal(entryMatches(p.allOf[0], cert(san, undefined, 'acme/app')), true);
    assert.equal(entryMatches(p.allOf[0], cert(san, undefined, 'acme/other')), false);
    assert.equal(entryMatches(p.allOf[0], cert(san, undefined)), false);
    assert.equal(entryMatches(p.allOf[0], cert(san, 'https://gitlab.com', 'acme/app')), false);
    assert.equal(entryMatches(p.allOf[0], cert('https://github.com/acme/application/x', undefined, 'acme/app')), false);
  });

  test('YAML text works; problems name every field', () => {
    const yaml = `apiVersion: v1\nallOf:\n  - kind: pubKey\n    key: |\n${KEY1.trim()
      .split('\n')
      .map((l) => `      ${l}`)
      .join('\n')}\n`;
    assert.equal(parsePolicy(yaml).allOf.length, 1);
    try {
      parsePolicy({ apiVersion: 'v1', allOf: [{ kind: 'pubKey' }], anyOf: { minimumMatches: 0, signatures: [] }, extra: true });
      assert.fail('accepted');
    } catch (err) {
      assert.ok(err instanceof PolicyError);
      assert.deepEqual(err.issues.map((i) => i.split(':')[0]).sort(), ['policy', 'policy.allOf[0].key', 'policy.anyOf.minimumMatches', 'policy.anyOf.signatures'].sort());
    }
  });
});

describe('admission helpers', () => {
  test('globs: * within a segment, ** across', () => {
    assert.equal(globToRegExp('registry.local:5000/acme/*').test('registry.local:5000/acme/app'), true);
    assert.equal(globToRegExp('registry.local:5000/acme/*').test('registry.local:5000/acme/team/app'), false);
    assert.equal(globToRegExp('registry.local:5000/acme/**').test('registry.local:5000/acme/team/app'), true);
    assert.equal(globToRegExp('registry.local:5000/acme/**').test('registry.local:5000/acme-evil/app'), false);
    assert.equal(globToRegExp('docker.io/library/*').test('docker.io/library/nginx'), true);
  });

  test('pod specs of every workload kind; every container image once', () => {
    const spec = { initContainers: [{ image: 'a' }], containers: [{ image: 'b' }, { image: 'a' }], ephemeralContainers: [{ image: 'c' }] };
    assert.deepEqual(imagesOf(spec), ['a', 'b', 'c']);
    for (const kind of ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']) assert.equal(podSpecOf(kind, { spec: { template: { spec } } }), spec);
    assert.equal(podSpecOf('CronJob', { spec: { jobTemplate: { spec: { template: { spec } } } } }), spec);
    assert.equal(podSpecOf('Pod', { spec }), spec);
    assert.equal(podSpecOf('Service', { spec }), undefined);
  });

  test("a kind named like an Object.prototype member (a hostile AdmissionReview's request.kind.kind) has no pod spec", () => {
    const spec = { containers: [{ image: 'b' }] };
    for (const kind of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
      assert.equal(podSpecOf(kind, { spec }), undefined, kind);
      assert.equal(containerImages(kind, { spec }), undefined, kind);
    }
  });
});

describe('result cache', () => {
  test('concurrent identical requests share one computation; results expire; failures are not kept', async () => {
    let now = 0;
    const cache = new ResultCache<number>(60_000, 100, () => now);
    let calls = 0;
    const compute = async (): Promise<number> => {
      calls++;
      await new Promise((r) => setTimeout(r, 10));
      return calls;
    };
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => cache.get('k', compute)));
    assert.deepEqual(results, [1, 1, 1, 1, 1]);
    assert.equal(await cache.get('k', compute), 1);
    now += 60_001;
    assert.equal(await cache.get('k', compute), 2);
    await assert.rejects(cache.get('bad', async () => Promise.reject(new Error('registry down'))));
    assert.equal(await cache.get('bad', () => Promise.resolve(7)), 7);
  });
});

describe('registry client and image verifier against a stub', () => {
  const stub = new OciStub();
  let digest = '';
  const trustRoot = parseTrustRoot(fs.readFileSync(path.join(FIXTURE, 'targets', '6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66.trusted_root.json')), {
    repository: 'sigstore',
    generation: 1,
    timestampVersion: 762,
  });
  before(async () => {
    await stub.start();
    const dir = path.join(F, 'dir-img-cosign-valid');
    digest = stub.addManifest('acme/app', fs.readFileSync(path.join(dir, 'manifest.json')), ['v1']);
    const layer = JSON.parse(fs.readFileSync(path.join(dir, 'sig-layer-descriptor.json'), 'utf8'));
    stub.addBlob(fs.readFileSync(path.join(dir, 'payload.json')));
    stub.addManifest('acme/app', cosignSigManifest([layer]), [`${digest.replace(':', '-')}.sig`]);
  });
  after(() => stub.close());
  const client = (o: { username?: string; password?: string } = {}): RegistryClient =>
    new RegistryClient({ registries: [{ host: stub.host, insecure: true, allowPrivateAddresses: true, ...o }], timeoutMs: 2000, maxManifestBytes: 1 << 20, maxBlobBytes: 1 << 20 });

  test('bearer-token challenge with basic credentials; wrong or missing credentials are named', async () => {
    stub.auth = { username: 'ci', password: 's3cret' };
    try {
      const m = await client({ username: 'ci', password: 's3cret' }).repository({ registry: stub.host, repository: 'acme/app' }).manifest('v1');
      assert.equal(m?.digest, digest);
      assert.ok(stub.requests.some((r) => r.startsWith('/token?service=stub&scope=repository%3Ax%3Apull')));
      await assert.rejects(
        client({ username: 'ci', password: 'nope' }).repository({ registry: stub.host, repository: 'acme/app' }).manifest('v1'),
        (e: RegistryError) => e.code === 'REGISTRY_AUTH_FAILED' && e.details.registryStatus === 401,
      );
      await assert.rejects(
        client().repository({ registry: stub.host, repository: 'acme/app' }).manifest('v1'),
        (e: RegistryError) => e.code === 'REGISTRY_AUTH_FAILED' && e.message.includes('token request'),
      );
    } finally {
      stub.auth = undefined;
    }
  });

  test('referrers pagination (Link rel=next) and redirects on the way to a blob', async () => {
    const subject = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 1 };
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      made.push(
        stub.addManifest('acme/app', {
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
          config: { mediaType: 'application/vnd.oci.empty.v1+json', size: 2, digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a' },
          layers: [],
          subject,
          annotations: { n: String(i) },
        }),
      );
    }
    stub.referrersPageSize = 2;
    try {
      const found = await client().repository({ registry: stub.host, repository: 'acme/app' }).referrers(digest, 'application/vnd.dev.sigstore.bundle.v0.3+json');
      assert.deepEqual(found?.map((d) => d.digest).sort(), [...made].sort());
      assert.equal(stub.requests.filter((r) => r.startsWith(`/v2/acme/app/referrers/${digest}`)).length, 3);
    } finally {
      stub.referrersPageSize = undefined;
    }
    const blob = stub.addBlob('redirected blob');
    const target = stub.addBlob('x');
    stub.misbehave(new RegExp(`^/v2/acme/app/blobs/${blob}$`), { status: 307, headers: { location: `/v2/acme/app/blobs/${target}` } });
    // A redirect that serves other bytes is caught by the digest check.
    await assert.rejects(client().repository({ registry: stub.host, repository: 'acme/app' }).blob(blob), (e: RegistryError) => e.code === 'DIGEST_MISMATCH');
    stub.misbehave(/^\/v2\/acme\/loop\/blobs\//, { status: 302, headers: { location: '/v2/acme/loop/blobs/sha256:' + '1'.repeat(64) } });
    await assert.rejects(
      client()
        .repository({ registry: stub.host, repository: 'acme/loop' })
        .blob('sha256:' + '1'.repeat(64)),
      (e: RegistryError) => e.code === 'REGISTRY_BAD_RESPONSE' && e.message.includes('more than 3 redirects'),
    );
  });

  test('credentials from a docker config.json (auths)', async () => {
    const file = path.join(tempDir(), 'config.json');
    fs.writeFileSync(file, JSON.stringify({ auths: { [stub.host]: { auth: Buffer.from('ci:s3cret').toString('base64') } } }));
    stub.auth = { username: 'ci', password: 's3cret' };
    try {
      const c = new RegistryClient({
        registries: [{ host: stub.host, insecure: true, allowPrivateAddresses: true }],
        dockerConfig: file,
        timeoutMs: 2000,
        maxManifestBytes: 1 << 20,
        maxBlobBytes: 1 << 20,
      });
      assert.equal((await c.repository({ registry: stub.host, repository: 'acme/app' }).manifest('v1'))?.digest, digest);
    } finally {
      stub.auth = undefined;
    }
  });

  test('the allowlist is checked before any request', () => {
    const before = stub.requests.length;
    assert.throws(
      () => client().repository({ registry: 'evil.example', repository: 'x' }),
      (e: RegistryError) => e.code === 'REGISTRY_NOT_ALLOWED',
    );
    assert.equal(stub.requests.length, before);
  });

  test('cached verifications: one tag resolution each, and concurrent ones share the work', async () => {
    const verifier = new ImageVerifier({ registry: client(), trustRoots: () => trustRoot, cacheTtlSeconds: 60 });
    const policy = parsePolicy({ apiVersion: 'v1', allOf: [{ kind: 'pubKey', key: KEY1 }] });
    const start = stub.requests.length;
    const answers = await Promise.all(Array.from({ length: 10 }, () => verifier.verify(`${stub.host}/acme/app:v1`, policy)));
    assert.ok(answers.every((a) => a.verified));
    const sigFetches = stub.requests.slice(start).filter((r) => r.endsWith('.sig')).length;
    assert.equal(sigFetches, 1, 'ten concurrent verifications, one signature lookup');
    const again = stub.requests.length;
    assert.equal((await verifier.verify(`${stub.host}/acme/app:v1`, policy)).verified, true);
    assert.deepEqual(stub.requests.slice(again), ['/v2/acme/app/manifests/v1']);
    assert.equal(verifier.cache.hits, 10);
  });
});

describe('HTTPS registries and a custom CA bundle', { skip: spawnSync('sh', ['-c', 'command -v openssl']).status === 0 ? false : 'openssl is not installed' }, () => {
  const tls = new OciStub();
  const dir = tempDir();
  before(async () => {
    loopbackCertificate(dir, { key: 'key.pem', cert: 'cert.pem' }, { commonName: 'registry-stub', days: 2 });
    await tls.start(0, { key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) });
    tls.addManifest('acme/app', { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [] }, ['v1']);
  });
  after(() => tls.close());
  const opts = { timeoutMs: 2000, maxManifestBytes: 1 << 20, maxBlobBytes: 1 << 20, baseDir: dir };

  test('trusted through the configured CA file; refused without it; never downgraded to HTTP', async () => {
    const withCa = new RegistryClient({ ...opts, registries: [{ host: tls.host, insecure: false, ca: 'cert.pem', allowPrivateAddresses: true }] });
    assert.ok(await withCa.repository({ registry: tls.host, repository: 'acme/app' }).manifest('v1'));
    withCa.close();
    const without = new RegistryClient({ ...opts, registries: [{ host: tls.host, insecure: false, allowPrivateAddresses: true }] });
    await assert.rejects(
      without.repository({ registry: tls.host, repository: 'acme/app' }).manifest('v1'),
      (e: RegistryError) => e.code === 'REGISTRY_UNREACHABLE' && /SELF_SIGNED|self.signed/i.test(e.message),
    );
    without.close();
    const plain = await new OciStub().start();
    try {
      plain.addManifest('acme/app', { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [] }, ['v1']);
      const strict = new RegistryClient({ ...opts, registries: [{ host: plain.host, insecure: false, allowPrivateAddresses: true }] });
      await assert.rejects(strict.repository({ registry: plain.host, repository: 'acme/app' }).manifest('v1'), (e: RegistryError) => e.code === 'REGISTRY_UNREACHABLE');
      assert.equal(plain.requests.length, 0, 'no plain-HTTP request was made');
    } finally {
      await plain.close();
    }
  });

  test('a CA file that cannot be read is a configuration error naming the field', () => {
    assert.throws(() => new RegistryClient({ ...opts, registries: [{ host: tls.host, insecure: false, ca: 'missing.pem' }] }), /verifier\.registries\[0\]\.ca: cannot read .*missing\.pem \(ENOENT\)/);
  });
});

describe('configuration: the verifier section', () => {
  const base = { repositories: [{ name: 'sigstore', upstream: 'https://tuf.example', trustAnchor: path.join(FIXTURE, '1.root.json') }] };
  test('defaults', () => {
    const c = parseConfig(base, 'test', '/');
    assert.deepEqual(c.verifier.registries, []);
    assert.equal(c.verifier.cacheTtlSeconds, 60);
    assert.equal(c.verifier.admission.unmatched, 'allow');
  });
  test('bad fields are named', () => {
    assert.throws(
      () =>
        parseConfig(
          {
            ...base,
            verifier: {
              registries: [{ host: 'https://registry.local:5000/x' }],
              cacheTtlSeconds: -1,
              admission: { policies: [{ image: 'r/*', policy: { apiVersion: 'v1', anyOf: { minimumMatches: 2, signatures: [{ kind: 'pubKey', key: KEY1 }] } } }, { image: 'x' }] },
            },
          },
          'test',
          '/',
        ),
      (err: Error) =>
        err.message.includes('verifier.registries[0].host: must be host or host:port') &&
        err.message.includes('verifier.cacheTtlSeconds') &&
        err.message.includes('verifier.admission.policies[0].policy: anyOf.minimumMatches: is 2 but anyOf.signatures lists only 1') &&
        err.message.includes('verifier.admission.policies[1]: give exactly one of policy and policyFile'),
    );
  });
});
