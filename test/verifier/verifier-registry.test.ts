/**
 * The whole path with real parts: a private Sigstore instance (@sigstore/mock's Fulcio, CT log
 * and Rekor, over real HTTP for @sigstore/sign) → its trusted_root.json published in a test TUF
 * repository → synced and verified by the mirror → served → the verifier, checking images pushed
 * to Debian's real `docker-registry` (distribution 2.8) and signed in this test: cosign keyed and
 * keyless signatures, and a @sigstore/sign bundle attached as a referrer (tag fallback: 2.8 has
 * no referrers API).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { packageRoot } from '../../lib/paths';
import type { Service } from '../../server/service';
import { DockerRegistry, dockerRegistryBinary } from '../../testing/docker-registry';
import { startMirror, tempDir, testConfig } from '../helpers/mirror';
import { GHA_ISSUER, SigstoreInfra } from '../../testing/sigstore-infra';
import { TestRepository } from '../../testing/tuf-repo';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const binary = dockerRegistryBinary();
const skip = binary ? false : 'docker-registry is not installed (.ci/run installs it: apt-get install docker-registry)';

const key1 = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const key2 = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const pem = (k: crypto.KeyObject): string => k.export({ format: 'pem', type: 'spki' }).toString();
const keyPolicy = (k: crypto.KeyObject, annotations?: Record<string, string>): object => ({ apiVersion: 'v1', allOf: [{ kind: 'pubKey', key: pem(k), ...(annotations ? { annotations } : {}) }] });
const issuerPolicy = (subject: object): object => ({ apiVersion: 'v1', allOf: [{ kind: 'genericIssuer', issuer: GHA_ISSUER, subject }] });

let infra: SigstoreInfra;
let registry: DockerRegistry;
let upstream: UpstreamServer;
let mirror: Service;
/** How to close what before() started, in order: before() can stop half-way, and after() closes only what it got to. */
const closers: (() => Promise<unknown>)[] = [];
const tuf = new TestRepository();
const dir = tempDir('tuf-mirror-verifier-');
const d: Record<string, string> = {};
let host = '';

before(async () => {
  if (skip) return;
  infra = await SigstoreInfra.start();
  closers.push(() => infra.close());
  registry = await DockerRegistry.start(binary);
  closers.push(() => registry.stop());
  host = registry.host;

  tuf.addTarget('trusted_root.json', infra.trustedRoot());
  tuf.publish();
  upstream = await startUpstreamServer(() => tuf.files());
  closers.push(() => upstream.close());
  fs.writeFileSync(path.join(dir, 'anchor.json'), tuf.rootBytes(1));
  const config = testConfig(
    [{ upstream: upstream.url, anchor: path.join(dir, 'anchor.json') }],
    {
      verifier: {
        listen: { host: '127.0.0.1', port: 0 },
        registries: [{ host, insecure: true, allowPrivateAddresses: true }],
        requestTimeoutSeconds: 5,
        admission: { policies: [{ image: `${host}/acme/moving`, policy: keyPolicy(key1.publicKey) }] },
      },
    },
    path.join(dir, 'data'),
  );
  mirror = await startMirror(config);
  closers.push(() => mirror.close());
  const [sync] = await mirror.syncAll();
  assert.equal(sync.outcome, 'updated', JSON.stringify(sync));

  // Images, pushed for real.
  const app = await registry.pushImage('acme/app', '1.0');
  d.app = app.digest;
  await registry.pushCosignSignatures('acme/app', app.digest, [
    SigstoreInfra.signWithKey(SigstoreInfra.payload(app.digest, `${host}/acme/app`, { env: 'prod' }), key1.privateKey),
    await infra.signKeyless(SigstoreInfra.payload(app.digest, `${host}/acme/app`), 'acme/app'),
  ]);
  const evil = await registry.pushImage('acme/evil', '1.0');
  d.evil = evil.digest;
  await registry.pushCosignSignatures('acme/evil', evil.digest, [await infra.signKeyless(SigstoreInfra.payload(evil.digest, `${host}/acme/evil`), 'acme-evil/app')]);

  const tampered = await registry.pushImage('acme/tampered', '1.0');
  const honest = SigstoreInfra.payload(tampered.digest, `${host}/acme/tampered`, { env: 'dev' });
  const forged = SigstoreInfra.payload(tampered.digest, `${host}/acme/tampered`, { env: 'prod' });
  const keyed = SigstoreInfra.signWithKey(honest, key1.privateKey);
  await registry.pushCosignSignatures('acme/tampered', tampered.digest, [{ payload: forged, annotations: keyed.annotations }, await infra.signKeyless(forged, 'acme/app', { signedPayload: honest })]);

  const mismatch = await registry.pushImage('acme/mismatch', '1.0');
  await registry.pushCosignSignatures('acme/mismatch', mismatch.digest, [SigstoreInfra.signWithKey(SigstoreInfra.payload(app.digest, `${host}/acme/app`), key1.privateKey)]);

  await registry.pushImage('acme/unsigned', '1.0');

  const late = await registry.pushImage('acme/late', '1.0');
  await registry.pushCosignSignatures('acme/late', late.digest, [await infra.signKeyless(SigstoreInfra.payload(late.digest, `${host}/acme/late`), 'acme/app', { lateLog: true })]);

  const stamped = await registry.pushImage('acme/stamped', '1.0');
  await registry.pushCosignSignatures('acme/stamped', stamped.digest, [
    await infra.signKeyless(SigstoreInfra.payload(stamped.digest, `${host}/acme/stamped`), 'acme/app', { rfc3161: true, noRekor: true }),
  ]);
  const badStamp = await registry.pushImage('acme/bad-stamp', '1.0');
  await registry.pushCosignSignatures('acme/bad-stamp', badStamp.digest, [
    await infra.signKeyless(SigstoreInfra.payload(badStamp.digest, `${host}/acme/bad-stamp`), 'acme/app', { rfc3161: true, noRekor: true, timestampOver: Buffer.from('something else') }),
  ]);

  const attested = await registry.pushImage('acme/attested', '1.0');
  d.attested = attested.digest;
  await registry.pushBundleReferrer('acme/attested', attested, await infra.attest(attested.digest, `${host}/acme/attested`, 'acme/app'));

  const amd = await registry.pushImage('acme/multi', 'amd64');
  const arm = await registry.pushImage('acme/multi', 'arm64');
  const index = await registry.pushManifest('acme/multi', '1.0', {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      { ...amd, platform: { architecture: 'amd64', os: 'linux' } },
      { ...arm, platform: { architecture: 'arm64', os: 'linux' } },
    ],
  });
  d.index = index.digest;
  d.amd = amd.digest;
  await registry.pushCosignSignatures('acme/multi', index.digest, [SigstoreInfra.signWithKey(SigstoreInfra.payload(index.digest, `${host}/acme/multi`), key1.privateKey)]);
});

after(async () => {
  for (const close of closers.reverse()) await close();
});

async function verify(image: string, policy: object): Promise<any> {
  const res = await fetch(`${mirror.verifierUrl!}/api/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ image, policy }) });
  assert.equal(res.status, 200, image);
  return res.json();
}

describe('images in a real registry, signed in this test, verified through the mirrored trust root', { skip }, () => {
  test('cosign keyed: verified, with the trust root naming repository, generation and timestamp version', async () => {
    const r = await verify(`${host}/acme/app:1.0`, keyPolicy(key1.publicKey));
    assert.equal(r.verified, true, JSON.stringify(r));
    assert.equal(r.digest, d.app);
    assert.equal(r.image, `${host}/acme/app@${d.app}`);
    assert.deepEqual({ ...r.trustRoot, sha256: undefined }, { repository: 'sigstore', generation: 1, timestampVersion: 2, sha256: undefined });
  });

  test('cosign keyed: annotations must be in the signed payload', async () => {
    assert.equal((await verify(`${host}/acme/app:1.0`, keyPolicy(key1.publicKey, { env: 'prod' }))).verified, true);
    const r = await verify(`${host}/acme/app:1.0`, keyPolicy(key1.publicKey, { env: 'dev' }));
    assert.equal(r.verified, false);
    assert.match(r.reasons[0], /with annotations \{"env":"dev"\}\): no verified signature matches$/);
  });

  test('wrong key: not verified', async () => {
    const r = await verify(`${host}/acme/app:1.0`, keyPolicy(key2.publicKey));
    assert.equal(r.verified, false);
  });

  test('cosign keyless (Fulcio + CT + Rekor SET): urlPrefix, exact and githubAction', async () => {
    const prefix = await verify(`${host}/acme/app:1.0`, issuerPolicy({ urlPrefix: 'https://github.com/acme' }));
    assert.equal(prefix.verified, true, JSON.stringify(prefix));
    assert.deepEqual(prefix.signatures[0].identity, { subject: 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main', issuer: GHA_ISSUER, githubRepository: 'acme/app' });
    assert.equal(typeof prefix.signatures[0].logIndex, 'number');
    const exact = await verify(`${host}/acme/app:1.0`, issuerPolicy({ equal: 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main' }));
    assert.equal(exact.verified, true);
    const gha = await verify(`${host}/acme/app:1.0`, { apiVersion: 'v1', allOf: [{ kind: 'githubAction', owner: 'acme', repo: 'app' }] });
    assert.equal(gha.verified, true);
  });

  test('prefix typosquat: acme-evil is not acme', async () => {
    for (const policy of [issuerPolicy({ urlPrefix: 'https://github.com/acme' }), { apiVersion: 'v1', allOf: [{ kind: 'githubAction', owner: 'acme' }] }]) {
      const r = await verify(`${host}/acme/evil:1.0`, policy);
      assert.equal(r.verified, false, JSON.stringify(policy));
    }
    const evil = await verify(`${host}/acme/evil:1.0`, issuerPolicy({ urlPrefix: 'https://github.com/acme-evil' }));
    assert.equal(evil.verified, true, 'the signature itself is valid');
  });

  test('tampered payload: neither the keyed nor the keyless signature verifies', async () => {
    const keyed = await verify(`${host}/acme/tampered:1.0`, keyPolicy(key1.publicKey));
    assert.equal(keyed.verified, false);
    assert.ok(
      keyed.reasons.some((x: string) => x.includes('layer 0: SIGNATURE_ERROR')),
      JSON.stringify(keyed.reasons),
    );
    const keyless = await verify(`${host}/acme/tampered:1.0`, issuerPolicy({ urlPrefix: 'https://github.com/acme' }));
    assert.equal(keyless.verified, false);
    assert.ok(
      keyless.reasons.some((x: string) => /layer 1: TLOG_BODY_ERROR: digest mismatch|layer 1: SIGNATURE_ERROR/.test(x)),
      JSON.stringify(keyless.reasons),
    );
  });

  test('a signature for another digest, an unsigned image, a certificate expired at log time: not verified', async () => {
    const mismatch = await verify(`${host}/acme/mismatch:1.0`, keyPolicy(key1.publicKey));
    assert.match(mismatch.reasons.join('\n'), new RegExp(`DIGEST_MISMATCH: the signature is for ${d.app}`));
    const unsigned = await verify(`${host}/acme/unsigned:1.0`, keyPolicy(key1.publicKey));
    assert.match(unsigned.reasons[0], /^no signatures found/);
    const late = await verify(`${host}/acme/late:1.0`, issuerPolicy({ urlPrefix: 'https://github.com/acme' }));
    assert.equal(late.verified, false);
    assert.match(late.reasons.join('\n'), /layer 0: CERTIFICATE_ERROR/);
  });

  test("cosign keyless with an RFC 3161 timestamp from the trust root's TSA instead of Rekor", async () => {
    const r = await verify(`${host}/acme/stamped:1.0`, issuerPolicy({ urlPrefix: 'https://github.com/acme' }));
    assert.equal(r.verified, true, JSON.stringify(r));
    assert.equal(r.signatures[0].logIndex, null);
    const bad = await verify(`${host}/acme/bad-stamp:1.0`, issuerPolicy({ urlPrefix: 'https://github.com/acme' }));
    assert.equal(bad.verified, false);
    assert.match(bad.reasons.join('\n'), /layer 0: TIMESTAMP_ERROR/);
  });

  test('a @sigstore/sign bundle attached as a referrer (tag fallback) verifies at the image digest', async () => {
    const r = await verify(`${host}/acme/attested:1.0`, issuerPolicy({ equal: 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main' }));
    assert.equal(r.verified, true, JSON.stringify(r));
    assert.equal(r.signatures[0].source, 'referrer');
    const wrong = await verify(`${host}/acme/attested:1.0`, issuerPolicy({ equal: 'https://github.com/acme/app/.github/workflows/other.yml@refs/heads/main' }));
    assert.equal(wrong.verified, false);
  });

  test('a multi-arch index is verified at the index digest, not at a platform manifest', async () => {
    const r = await verify(`${host}/acme/multi:1.0`, keyPolicy(key1.publicKey));
    assert.equal(r.verified, true, JSON.stringify(r));
    assert.equal(r.digest, d.index);
    const child = await verify(`${host}/acme/multi@${d.amd}`, keyPolicy(key1.publicKey));
    assert.equal(child.verified, false);
  });

  test('the tag moved after verification: the mutating webhook pinned the digest the verification saw', async () => {
    const signed = await registry.pushImage('acme/moving', '1.0');
    await registry.pushCosignSignatures('acme/moving', signed.digest, [SigstoreInfra.signWithKey(SigstoreInfra.payload(signed.digest, `${host}/acme/moving`), key1.privateKey)]);
    const pod = { spec: { containers: [{ name: 'app', image: `${host}/acme/moving:1.0` }], ephemeralContainers: [{ name: 'debug', image: `${host}/acme/moving:1.0` }] } };
    const reviewOf = (object: object): object => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'm-1', kind: { kind: 'Pod' }, operation: 'CREATE', object } });
    const post = async (p: string, body: object): Promise<any> =>
      (await fetch(`${mirror.verifierUrl!}${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json();
    const mutated = await post('/api/v1/admission/mutate', reviewOf(pod));
    assert.equal(mutated.response.allowed, true, JSON.stringify(mutated));
    const patch = JSON.parse(Buffer.from(mutated.response.patch, 'base64').toString());
    const pinned = `${host}/acme/moving@${signed.digest}`;
    assert.deepEqual(patch, [
      { op: 'replace', path: '/spec/containers/0/image', value: pinned },
      { op: 'replace', path: '/spec/ephemeralContainers/0/image', value: pinned },
    ]);
    // The registry moves the tag to an unsigned image before the kubelet pulls.
    const moved = await registry.pushImage('acme/moving', '1.0');
    assert.notEqual(moved.digest, signed.digest);
    const now = await verify(`${host}/acme/moving:1.0`, keyPolicy(key1.publicKey));
    assert.equal(now.digest, moved.digest);
    assert.equal(now.verified, false);
    // What the kubelet gets is the patched spec: the digest that verified, which still does.
    const patchedPod = { spec: { containers: [{ name: 'app', image: patch[0].value }], ephemeralContainers: [{ name: 'debug', image: patch[1].value }] } };
    assert.equal((await post('/api/v1/admission', reviewOf(patchedPod))).response.allowed, true);
    const unpinned = await post('/api/v1/admission', reviewOf(pod));
    assert.equal(unpinned.response.allowed, false);
    const again = await post('/api/v1/admission/mutate', reviewOf(pod));
    assert.equal(again.response.allowed, false, 'the moved tag no longer verifies');
  });

  test('tuf-mirror verify IMAGE: exit 0 only when verified', async () => {
    const cfg = path.join(dir, 'cli.yaml');
    fs.writeFileSync(
      cfg,
      YAML.stringify({
        dataDir: './data',
        repositories: [{ name: 'sigstore', upstream: upstream.url, trustAnchor: './anchor.json' }],
        verifier: { registries: [{ host, insecure: true, allowPrivateAddresses: true }] },
      }),
    );
    fs.writeFileSync(path.join(dir, 'policy.yaml'), YAML.stringify(issuerPolicy({ urlPrefix: 'https://github.com/acme' })));
    const run = (...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        execFile(process.execPath, [path.join(packageRoot(), 'dist', 'cli', 'main.js'), '--config', cfg, ...args], { encoding: 'utf8', cwd: dir }, (err, stdout, stderr) =>
          resolve({ status: err ? Number(err.code) : 0, stdout, stderr }),
        );
      });
    const ok = await run('verify', `${host}/acme/app:1.0`, '--policy', path.join(dir, 'policy.yaml'));
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(
      ok.stdout,
      new RegExp(
        `^OK: ${host}/acme/app@${d.app} verified under trust root sigstore generation 1 \\(timestamp v2\\)\\n  allOf\\[0\\] genericIssuer: https://github.com/acme/app/\\.github/workflows/release\\.yml@refs/heads/main \\(issuer ${GHA_ISSUER}\\); sha256-[0-9a-f]{64}\\.sig layer 1; tlog index \\d+ at `,
      ),
    );
    const no = await run('verify', `${host}/acme/evil:1.0`, '--policy', path.join(dir, 'policy.yaml'));
    assert.equal(no.status, 1);
    assert.match(no.stderr, /^NOT VERIFIED: /);
    const json = await run('verify', `${host}/acme/unsigned:1.0`, '--policy', path.join(dir, 'policy.yaml'), '--json');
    assert.equal(json.status, 1);
    assert.equal(JSON.parse(json.stdout).verified, false);
    const denied = await run('verify', 'ghcr.io/acme/app:1.0', '--policy', path.join(dir, 'policy.yaml'));
    assert.equal(denied.status, 1);
    assert.match(denied.stderr, /REGISTRY_NOT_ALLOWED: registry ghcr\.io is not in verifier\.registries/);
  });

  test('a new trust-root generation applies to the next verification (and the cache does not outlive it)', async () => {
    const before = await verify(`${host}/acme/app:1.0`, issuerPolicy({ urlPrefix: 'https://github.com/acme' }));
    assert.equal(before.verified, true);
    const other = await SigstoreInfra.start();
    try {
      tuf.addTarget('trusted_root.json', other.trustedRoot());
      tuf.publish();
      const [sync] = await mirror.syncAll();
      assert.equal(sync.outcome, 'updated');
      await new Promise((r) => setTimeout(r, 200)); // the index reloads every 50 ms in tests
      const after = await verify(`${host}/acme/app:1.0`, issuerPolicy({ urlPrefix: 'https://github.com/acme' }));
      assert.equal(after.trustRoot.generation, 2);
      assert.equal(after.verified, false, 'signed under a CA the new trust root no longer lists');
    } finally {
      await other.close();
    }
  });
});
