/**
 * POST /api/v1/verify, /verify/bundle and /admission on a real server whose trust root is the
 * real public-good trusted_root.json, mirrored from the real 2026-08-21 TUF repository. Images:
 * the real cosign signatures of containers/image (keyed, keyed + Rekor SET, keyless public-good
 * Fulcio + Rekor SET, custom PKI, and the negative cases) and a real public-good DSSE attestation
 * as an OCI 1.1 referrer, served by a registry stub (the fixture manifests have no blobs, so a
 * real registry would refuse them). The stub also misbehaves: down, slow, garbage, huge, 500.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, mock, test } from 'node:test';
import { packageRoot } from '../../lib/paths';
import type { Service } from '../../server/service';
import { FIXTURE, FIXTURE_NOW, startMirror, testConfig } from '../helpers/mirror';
import { bundleReferrerManifest, cosignSigManifest, OciStub, sha256 } from '../../testing/oci-stub';
import { startUpstreamServer } from '../../testing/upstream-server';

const F = path.join(packageRoot(), 'test', 'fixtures', 'cosign-image-signatures');
const CONFORMANCE = path.join(packageRoot(), 'test', 'fixtures', 'sigstore-conformance', 'bundle-verify');
const read = (...p: string[]): Buffer => fs.readFileSync(path.join(...p));
const KEY1 = read(F, 'cosign.pub').toString();
const KEY2 = read(F, 'cosign2.pub').toString();
const keyPolicy = (key: string): object => ({ apiVersion: 'v1', allOf: [{ kind: 'pubKey', key }] });
const TRUST = { repository: 'sigstore', generation: 1, timestampVersion: 762, sha256: '6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66' };

const stub = new OciStub();
let mirror: Service;
/** How to close what before() started, in order: before() can stop half-way, and after() closes only what it got to. */
const closers: (() => Promise<unknown>)[] = [];
const down = new OciStub(); // started and closed: an allowlisted registry that is down

/** A decoded containers/image case as an image plus its cosign `.sig` tag. */
function addDecodedCase(name: string, repository: string, tag: string): string {
  const dir = path.join(F, name);
  const manifest = read(dir, 'manifest.json');
  const digest = stub.addManifest(repository, manifest, [tag]);
  const layer = JSON.parse(read(dir, 'sig-layer-descriptor.json').toString());
  assert.equal(stub.addBlob(read(dir, 'payload.json')), layer.digest);
  stub.addManifest(repository, cosignSigManifest([layer]), [`${digest.replace(':', '-')}.sig`]);
  return digest;
}

/** A raw containers/image case: `signature-N` files are `\0sigstore-json\n` + {mimeType, payload, annotations}. */
function addRawCase(dir: string, repository: string, extra: Buffer[] = []): string {
  const digest = stub.addManifest(repository, read(dir, 'manifest.json'), ['latest']);
  const sigs = [
    ...fs
      .readdirSync(dir)
      .filter((f) => f.startsWith('signature-'))
      .sort()
      .map((f) => read(dir, f)),
    ...extra,
  ];
  const layers = sigs.map((bytes) => {
    const json = JSON.parse(bytes.subarray('\0sigstore-json\n'.length).toString());
    const payload = Buffer.from(json.payload, 'base64');
    return { mediaType: json.mimeType, size: payload.length, digest: stub.addBlob(payload), annotations: json.annotations };
  });
  stub.addManifest(repository, cosignSigManifest(layers), [`${digest.replace(':', '-')}.sig`]);
  return digest;
}

const digests: Record<string, string> = {};

before(async () => {
  await stub.start();
  await down.start();
  await down.close();
  digests.valid = addDecodedCase('dir-img-cosign-valid', 'cosign/valid', 'v1');
  digests.validWithTag = addDecodedCase('dir-img-cosign-valid-with-tag', 'cosign/valid-with-tag', 'v1');
  digests.keyRekor = addDecodedCase('dir-img-cosign-key-rekor-valid', 'cosign/key-rekor', 'v1');
  digests.fulcio = addDecodedCase('dir-img-cosign-fulcio-rekor-valid', 'cosign/fulcio-rekor', 'v1');
  digests.pki = addDecodedCase('dir-img-cosign-pki-valid', 'cosign/pki', 'v1');
  const raw = path.join(F, 'raw-containers-image');
  for (const c of ['dir-img-cosign-manifest-digest-error', 'dir-img-cosign-mixed', 'dir-img-cosign-modified-manifest', 'dir-img-cosign-other-attachment', 'dir-img-cosign-valid-2']) {
    digests[c] = addRawCase(path.join(raw, c), `raw/${c.replace('dir-img-cosign-', '')}`);
  }
  // The valid image once more, with only the signature made by an unknown key.
  const unknownKeyDir = path.join(raw, 'dir-img-cosign-valid-2');
  const unknown = read(raw, 'unknown-cosign-key.signature');
  {
    const digest = stub.addManifest('raw/unknown-key', read(unknownKeyDir, 'manifest.json'), ['latest']);
    const json = JSON.parse(unknown.subarray('\0sigstore-json\n'.length).toString());
    const payload = Buffer.from(json.payload, 'base64');
    const layer = { mediaType: json.mimeType, size: payload.length, digest: stub.addBlob(payload), annotations: json.annotations };
    stub.addManifest('raw/unknown-key', cosignSigManifest([layer]), [`${digest.replace(':', '-')}.sig`]);
  }
  // The empty image, whole, with the real public-good attestation attached as an OCI 1.1 referrer.
  const emptyDir = path.join(F, 'oci-attestation-empty-image');
  stub.addBlob(read(emptyDir, 'config.json'));
  const emptyManifest = read(emptyDir, 'manifest.json');
  digests.empty = stub.addManifest('attest/empty', emptyManifest, ['latest']);
  const bundle = read(emptyDir, 'oci-attestation.sigstore.json');
  stub.addBlob('{}');
  const referrer = bundleReferrerManifest(stub.addBlob(bundle), bundle.length, {
    digest: digests.empty,
    size: emptyManifest.length,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
  });
  const referrerBytes = Buffer.from(JSON.stringify(referrer));
  const referrerDigest = stub.addManifest('attest/empty', referrerBytes);
  // The same for the referrers-tag fallback: an index at sha256-<hex>.
  stub.addManifest('attest/fallback', emptyManifest, ['latest']);
  stub.addManifest('attest/fallback', referrerBytes);
  stub.addManifest(
    'attest/fallback',
    {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: referrerDigest, size: referrerBytes.length, artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json' }],
    },
    [digests.empty.replace(':', '-')],
  );
  // Unsigned, broken, hostile.
  stub.addBlob('{"architecture":"amd64"}');
  digests.unsigned = stub.addManifest(
    'plain/unsigned',
    {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', size: 24, digest: sha256('{"architecture":"amd64"}') },
      layers: [],
    },
    ['latest'],
  );
  stub.misbehave(/^\/v2\/bad\/slow\//, { delayMs: 3000 });
  stub.misbehave(/^\/v2\/bad\/error\//, { status: 500 });
  stub.misbehave(/^\/v2\/bad\/garbage\//, { body: '<html>proxy error</html>', contentType: 'text/html' });
  stub.misbehave(/^\/v2\/bad\/huge\//, { oversizeTo: 8 * 1024 * 1024 });
  stub.manifests.set('bad/liar', new Map([['sha256:' + '0'.repeat(64), { bytes: Buffer.from('{"schemaVersion":2}'), mediaType: 'application/vnd.oci.image.manifest.v1+json' }]]));

  mock.timers.enable({ apis: ['Date'], now: FIXTURE_NOW });
  const upstream = await startUpstreamServer(FIXTURE);
  mirror = await startMirror(
    testConfig([{ upstream: upstream.url, anchor: path.join(FIXTURE, '1.root.json') }], {
      verifier: {
        listen: { host: '127.0.0.1', port: 0 },
        registries: [
          { host: stub.host, insecure: true, allowPrivateAddresses: true },
          { host: down.host, insecure: true, allowPrivateAddresses: true },
        ],
        requestTimeoutSeconds: 1,
        maxManifestBytes: 1024 * 1024,
        admission: {
          policies: [
            { image: `${stub.host}/cosign/**`, policy: keyPolicy(KEY1), mode: 'enforce' },
            { image: `${stub.host}/plain/*`, policy: keyPolicy(KEY1), mode: 'warn' },
            { image: `${stub.host}/raw/**`, policy: keyPolicy(KEY1), mode: 'enforce' },
          ],
        },
      },
    }),
  );
  closers.push(() => mirror.close());
  const [result] = await mirror.syncAll();
  assert.equal(result.outcome, 'updated');
  await upstream.close();
  mock.timers.reset();
});

after(async () => {
  for (const close of closers.reverse()) await close();
  await stub.close();
});

async function post(p: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${mirror.verifierUrl!}${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}
const verify = (image: string, policy: unknown, extra: object = {}): Promise<{ status: number; json: any }> => post('/api/v1/verify', { image, policy, ...extra });

describe('POST /api/v1/verify with the real cosign signatures of containers/image', () => {
  test('keyed (cosign.pub, no Rekor): verified, naming digest, key and trust root', async () => {
    const r = await verify(`${stub.host}/cosign/valid:v1`, keyPolicy(KEY1));
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, {
      verified: true,
      digest: 'sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00',
      image: `${stub.host}/cosign/valid@sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00`,
      signatures: [
        {
          entry: 'allOf[0]',
          kind: 'pubKey',
          source: 'cosign',
          location: 'sha256-634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00.sig layer 0',
          keyId: r.json.signatures[0].keyId,
          logIndex: null,
          integratedTime: null,
        },
      ],
      trustRoot: TRUST,
    });
    assert.match(r.json.signatures[0].keyId, /^[0-9a-f]{64}$/);
  });

  test('keyed, by digest, with the tag-signed variant', async () => {
    const r = await verify(`${stub.host}/cosign/valid-with-tag@${digests.validWithTag}`, keyPolicy(KEY1));
    assert.equal(r.json.verified, true, JSON.stringify(r.json));
  });

  test('keyed + public-good Rekor SET (cosign2.pub): log index and integrated time', async () => {
    const r = await verify(`${stub.host}/cosign/key-rekor:v1`, keyPolicy(KEY2));
    assert.equal(r.json.verified, true, JSON.stringify(r.json));
    assert.equal(r.json.signatures[0].logIndex, 11608800);
    assert.equal(r.json.signatures[0].integratedTime, '2023-01-20T21:57:39.000Z');
  });

  test('keyless public-good Fulcio + Rekor SET: issuer and exact identity', async () => {
    const policy = { apiVersion: 'v1', allOf: [{ kind: 'genericIssuer', issuer: 'https://github.com/login/oauth', subject: { equal: 'mitr@redhat.com' } }] };
    const r = await verify(`${stub.host}/cosign/fulcio-rekor:v1`, policy);
    assert.equal(r.json.verified, true, JSON.stringify(r.json));
    assert.deepEqual(r.json.signatures[0].identity, { subject: 'mitr@redhat.com', issuer: 'https://github.com/login/oauth' });
    assert.equal(r.json.signatures[0].logIndex, 11605770);
  });

  test('keyless with the wrong identity, a prefix of it, or the wrong issuer: verified false', async () => {
    for (const [issuer, subject] of [
      ['https://github.com/login/oauth', { equal: 'mitr@redhat.co' }],
      ['https://github.com/login/oauth', { equal: 'someone@redhat.com' }],
      ['https://accounts.google.com', { equal: 'mitr@redhat.com' }],
    ] as const) {
      const r = await verify(`${stub.host}/cosign/fulcio-rekor:v1`, { apiVersion: 'v1', allOf: [{ kind: 'genericIssuer', issuer, subject }] });
      assert.equal(r.status, 200);
      assert.equal(r.json.verified, false);
      assert.match(r.json.reasons[0], /^allOf\[0\] \(genericIssuer .*\): no verified signature matches$/);
    }
  });

  test('wrong key: verified false', async () => {
    const r = await verify(`${stub.host}/cosign/valid:v1`, keyPolicy(KEY2));
    assert.equal(r.json.verified, false);
    assert.ok(
      r.json.reasons.some((x: string) => x.includes('SIGNATURE_ERROR')),
      JSON.stringify(r.json.reasons),
    );
  });

  test('custom X.509 PKI as keyless (not public-good Fulcio, no Rekor): rejected with the reason', async () => {
    const r = await verify(`${stub.host}/cosign/pki:v1`, { apiVersion: 'v1', allOf: [{ kind: 'genericIssuer', issuer: 'x', subject: { equal: 'y' } }] });
    assert.equal(r.json.verified, false);
    assert.ok(
      r.json.reasons.some((x: string) => x.includes('layer 0: TIMESTAMP_ERROR: expected 1 timestamps, got 0')),
      JSON.stringify(r.json.reasons),
    );
  });

  test('custom X.509 PKI with a certificate policy (Kubewarden kind certificate): verified through the given chain', async () => {
    const pem = (f: string): string => read(F, f).toString();
    const entry = { kind: 'certificate', certificate: pem('dir-img-cosign-pki-valid/cert.pem'), certificateChain: [pem('pki_intermediate_crts.pem'), pem('pki_root_crts.pem')] };
    const r = await verify(`${stub.host}/cosign/pki:v1`, { apiVersion: 'v1', allOf: [{ ...entry, requireRekorBundle: false }] });
    assert.equal(r.json.verified, true, JSON.stringify(r.json));
    assert.equal(r.json.signatures[0].kind, 'certificate');
    assert.match(r.json.signatures[0].keyId, /^[0-9a-f]{64}$/);
    const needsRekor = await verify(`${stub.host}/cosign/pki:v1`, { apiVersion: 'v1', allOf: [entry] });
    assert.equal(needsRekor.json.verified, false);
    assert.match(needsRekor.json.reasons[0], /^allOf\[0\] \(certificate .*Team A Cosign Certificate, Rekor bundle required\): no verified signature matches$/);
    const otherImage = await verify(`${stub.host}/cosign/valid:v1`, { apiVersion: 'v1', allOf: [{ ...entry, requireRekorBundle: false }] });
    assert.equal(otherImage.json.verified, false);
    const broken = await verify(`${stub.host}/cosign/pki:v1`, { apiVersion: 'v1', allOf: [{ ...entry, certificateChain: [pem('pki_root_crts.pem')] }] });
    assert.equal(broken.status, 400);
    assert.equal(broken.json.error.field, 'policy.allOf[0].certificate');
    assert.match(broken.json.error.message, /is not issued by any certificate of certificateChain/);
  });

  test('negative containers/image cases fail as labelled, the mixed and double ones pass', async () => {
    const expect: Record<string, RegExp | true> = {
      'manifest-digest-error': /DIGEST_MISMATCH: the signature is for sha256:634a8f35/,
      'modified-manifest': /DIGEST_MISMATCH: the signature is for sha256:634a8f35/,
      'other-attachment': /not a simple-signing payload \(text\/plain\)/,
      mixed: true,
      'valid-2': true,
      'unknown-key': /SIGNATURE_ERROR/,
    };
    for (const [name, want] of Object.entries(expect)) {
      const r = await verify(`${stub.host}/raw/${name}`, keyPolicy(KEY1));
      assert.equal(r.status, 200, name);
      if (want === true) assert.equal(r.json.verified, true, `${name}: ${JSON.stringify(r.json)}`);
      else {
        assert.equal(r.json.verified, false, name);
        assert.ok(
          r.json.reasons.some((x: string) => want.test(x)),
          `${name}: ${JSON.stringify(r.json.reasons)}`,
        );
      }
    }
  });

  test('a real public-good DSSE attestation as an OCI 1.1 referrer, and through the referrers-tag fallback', async () => {
    const policy = { apiVersion: 'v1', allOf: [{ kind: 'genericIssuer', issuer: 'https://github.com/login/oauth', subject: { equal: 'cody@soyland.com' } }] };
    const r = await verify(`${stub.host}/attest/empty:latest`, policy);
    assert.equal(r.json.verified, true, JSON.stringify(r.json));
    assert.equal(r.json.digest, 'sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4');
    assert.equal(r.json.signatures[0].source, 'referrer');
    assert.equal(r.json.signatures[0].logIndex, 175508996);
    stub.referrersApi = false;
    try {
      const f = await verify(`${stub.host}/attest/fallback:latest`, policy);
      assert.equal(f.json.verified, true, JSON.stringify(f.json));
      assert.equal(f.json.signatures[0].source, 'referrer');
    } finally {
      stub.referrersApi = true;
    }
    const wrong = await verify(`${stub.host}/attest/empty:latest`, {
      apiVersion: 'v1',
      allOf: [{ kind: 'genericIssuer', issuer: 'https://github.com/login/oauth', subject: { equal: 'cody@soyland.co' } }],
    });
    assert.equal(wrong.json.verified, false);
  });

  test('unsigned: verified false, saying nothing was found', async () => {
    const r = await verify(`${stub.host}/plain/unsigned`, keyPolicy(KEY1));
    assert.deepEqual(r.json.reasons, [`no signatures found for ${digests.unsigned}: no ${digests.unsigned.replace(':', '-')}.sig tag and no Sigstore bundle referrers`]);
  });

  test('anyOf with minimumMatches counts distinct entries', async () => {
    const policy = {
      apiVersion: 'v1',
      anyOf: {
        minimumMatches: 2,
        signatures: [
          { kind: 'pubKey', key: KEY1 },
          { kind: 'pubKey', key: KEY2 },
        ],
      },
    };
    const r = await verify(`${stub.host}/cosign/valid:v1`, policy);
    assert.equal(r.json.verified, false);
    assert.match(r.json.reasons[0], /^anyOf: 1 of the required 2 matched/);
    const one = await verify(`${stub.host}/cosign/valid:v1`, { ...policy, anyOf: { ...policy.anyOf, minimumMatches: 1 } });
    assert.equal(one.json.verified, true);
    assert.equal(one.json.signatures[0].entry, 'anyOf.signatures[0]');
  });
});

describe('every failure is an answer', () => {
  test('bad policies: 400 naming the field', async () => {
    const cases: [unknown, string, RegExp][] = [
      [undefined, 'policy', /required/],
      [{ apiVersion: 'v1' }, 'policy', /needs allOf or anyOf/],
      [{ apiVersion: 'v2', allOf: [] }, 'policy.apiVersion', /must be "v1"/],
      [{ apiVersion: 'v1', allOf: [{ kind: 'pubKey', key: KEY1, extra: 1 }] }, 'policy.allOf[0]', /extra/],
      [{ apiVersion: 'v1', allOf: [{ kind: 'regex', pattern: '.*' }] }, 'policy.allOf[0].kind', /must be one of pubKey, genericIssuer, githubAction, certificate/],
      [{ apiVersion: 'v1', allOf: [{ kind: 'pubKey', key: 'not a key' }] }, 'policy.allOf[0].key', /not a PEM public key/],
      [{ apiVersion: 'v1', anyOf: { minimumMatches: 3, signatures: [{ kind: 'pubKey', key: KEY1 }] } }, 'policy.anyOf.minimumMatches', /is 3 but anyOf.signatures lists only 1/],
      [{ apiVersion: 'v1', allOf: [{ kind: 'genericIssuer', issuer: 'x', subject: { regexp: '.*' } }] }, 'policy.allOf[0].subject', /./],
    ];
    for (const [policy, field, message] of cases) {
      const r = await verify(`${stub.host}/cosign/valid:v1`, policy);
      assert.equal(r.status, 400, JSON.stringify(policy));
      assert.equal(r.json.error.field, field, JSON.stringify(r.json));
      assert.match(r.json.error.message, message);
    }
  });

  test('bad requests: 400 naming the field', async () => {
    assert.equal((await post('/api/v1/verify', '{not json')).json.error.field, 'body');
    assert.equal((await post('/api/v1/verify', { policy: keyPolicy(KEY1) })).json.error.field, 'image');
    const badRef = await verify('Not An Image!', keyPolicy(KEY1));
    assert.equal(badRef.status, 400);
    assert.equal(badRef.json.error.field, 'image');
    const repo = await verify(`${stub.host}/cosign/valid:v1`, keyPolicy(KEY1), { repository: 'nope' });
    assert.equal(repo.status, 404);
    assert.equal(repo.json.error.field, 'repository');
  });

  test('a registry outside the allowlist: 403 before any request', async () => {
    // Another port of the stub's address, one the allowlist does not name (it names the stub's and down's).
    const listed = [stub.host, down.host].map((host) => Number(host.split(':')[1]));
    const otherPort = [1, 2, 3].map((d) => listed[0] + (listed[0] < 65000 ? d : -d)).find((p) => !listed.includes(p));
    for (const image of ['169.254.169.254/latest/meta-data:x', 'localhost:8080/x', 'nginx', `127.0.0.1:${String(otherPort)}/x`]) {
      const before = stub.requests.length;
      const r = await verify(image, keyPolicy(KEY1));
      assert.equal(r.status, 403, image);
      assert.equal(r.json.error.code, 'REGISTRY_NOT_ALLOWED');
      assert.equal(stub.requests.length, before);
    }
  });

  test('registry trouble: 502/504 with the registry status and message', async () => {
    const cases: [string, number, string, number | undefined, string | undefined][] = [
      [`${down.host}/x:1`, 502, 'REGISTRY_UNREACHABLE', undefined, undefined],
      [`${stub.host}/bad/slow:1`, 504, 'REGISTRY_TIMEOUT', undefined, undefined],
      [`${stub.host}/bad/error:1`, 502, 'REGISTRY_HTTP_ERROR', 500, 'UNKNOWN'],
      [`${stub.host}/bad/garbage:1`, 502, 'REGISTRY_BAD_RESPONSE', 200, undefined],
      [`${stub.host}/bad/huge:1`, 502, 'RESPONSE_TOO_LARGE', 200, undefined],
      [`${stub.host}/bad/liar@sha256:${'0'.repeat(64)}`, 502, 'DIGEST_MISMATCH', undefined, undefined],
      [`${stub.host}/plain/missing:1`, 404, 'NOT_FOUND', 404, undefined],
    ];
    for (const [image, status, code, registryStatus, message] of cases) {
      const r = await verify(image, keyPolicy(KEY1));
      assert.equal(r.status, status, `${image}: ${JSON.stringify(r.json)}`);
      assert.equal(r.json.error.code, code, image);
      assert.equal(r.json.error.registryStatus, registryStatus, image);
      assert.equal(r.json.error.registryCode, message, image);
      assert.equal(r.json.error.registryMessage, undefined, 'nothing of the body but its code');
    }
  });
});

describe('POST /api/v1/verify/bundle', () => {
  const bundle = JSON.parse(read(CONFORMANCE, 'happy-path-v0.3', 'bundle.sigstore.json').toString());
  const artifactDigest = sha256(read(CONFORMANCE, 'a.txt'));
  const IDENTITY = 'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
  const GHA = 'https://token.actions.githubusercontent.com';

  test('identity: verified with the signer, log entry and trust root', async () => {
    const r = await post('/api/v1/verify/bundle', { bundle, artifactDigest, identity: { subject: IDENTITY, issuer: GHA } });
    assert.equal(r.status, 200);
    assert.equal(r.json.verified, true, JSON.stringify(r.json));
    assert.equal(r.json.signer.identity.subject, IDENTITY);
    assert.equal(r.json.signer.identity.githubRepository, 'sigstore-conformance/extremely-dangerous-public-oidc-beacon');
    assert.equal(typeof r.json.signer.logIndex, 'number');
    assert.deepEqual(r.json.trustRoot, TRUST);
  });

  test('policies: githubAction and urlPrefix, with typosquats refused', async () => {
    const ok = async (entry: object): Promise<boolean> => (await post('/api/v1/verify/bundle', { bundle, artifactDigest, policy: { apiVersion: 'v1', allOf: [entry] } })).json.verified;
    assert.equal(await ok({ kind: 'githubAction', owner: 'sigstore-conformance' }), true);
    assert.equal(await ok({ kind: 'githubAction', owner: 'sigstore-conformance', repo: 'extremely-dangerous-public-oidc-beacon' }), true);
    assert.equal(await ok({ kind: 'githubAction', owner: 'sigstore' }), false);
    assert.equal(await ok({ kind: 'githubAction', owner: 'sigstore-conformance', repo: 'extremely-dangerous' }), false);
    assert.equal(await ok({ kind: 'genericIssuer', issuer: GHA, subject: { urlPrefix: 'https://github.com/sigstore-conformance' } }), true);
    assert.equal(await ok({ kind: 'genericIssuer', issuer: GHA, subject: { urlPrefix: 'https://github.com/sigstore-conf' } }), false);
    assert.equal(await ok({ kind: 'genericIssuer', issuer: GHA, subject: { equal: IDENTITY.slice(0, -1) } }), false);
  });

  test('managed key bundle with key; wrong digest; bad fields', async () => {
    const keyed = JSON.parse(read(CONFORMANCE, 'managed-key-happy-path', 'bundle.sigstore.json').toString());
    const key = read(CONFORMANCE, 'managed-key-happy-path', 'key.pub').toString();
    assert.equal((await post('/api/v1/verify/bundle', { bundle: keyed, artifactDigest, key })).json.verified, true);
    const wrong = await post('/api/v1/verify/bundle', { bundle, artifactDigest: sha256('other'), identity: { subject: IDENTITY, issuer: GHA } });
    assert.equal(wrong.json.verified, false);
    assert.match(wrong.json.reasons[0], /^ARTIFACT_MISMATCH/);
    assert.equal((await post('/api/v1/verify/bundle', { bundle, artifactDigest: 'sha256:abc', key })).json.error.field, 'artifactDigest');
    assert.equal((await post('/api/v1/verify/bundle', { bundle, artifactDigest })).json.error.field, 'policy');
    assert.equal((await post('/api/v1/verify/bundle', { artifactDigest, key })).json.error.field, 'bundle');
    const malformed = await post('/api/v1/verify/bundle', { bundle: { mediaType: 'x' }, artifactDigest, key });
    assert.equal(malformed.json.verified, false);
    assert.match(malformed.json.reasons[0], /^MALFORMED_BUNDLE/);
  });
});

describe('POST /api/v1/admission/mutate and /api/v1/admission', () => {
  const review = (kind: string, object: object, uid = 'u-1', operation = 'CREATE', oldObject?: object): object => ({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid, kind: { group: kind === 'Pod' ? '' : 'apps', version: 'v1', kind }, operation, object, ...(oldObject ? { oldObject } : {}) },
  });
  const pod = (...images: string[]): { spec: { containers: { name: string; image: string }[] } } => ({ spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) } });
  /** The JSONPatch of a mutating answer, applied as the API server would (replace operations only). */
  const applyPatch = (object: any, answer: any): any => {
    const copy = structuredClone(object);
    for (const op of JSON.parse(Buffer.from(answer.response.patch, 'base64').toString())) {
      assert.equal(op.op, 'replace');
      const keys = op.path.split('/').slice(1);
      const last = keys.pop();
      keys.reduce((node: any, k: string) => node[k], copy)[last] = op.value;
    }
    return copy;
  };

  test('a Deployment of signed images: mutate pins each to the digest that verified, and the pinned Deployment is allowed', async () => {
    const deployment = { spec: { template: pod(`${stub.host}/cosign/valid:v1`, `${stub.host}/raw/valid-2`) } };
    const mutated = await post('/api/v1/admission/mutate', review('Deployment', deployment));
    assert.equal(mutated.json.response.allowed, true, JSON.stringify(mutated.json));
    assert.equal(mutated.json.response.patchType, 'JSONPatch');
    assert.deepEqual(JSON.parse(Buffer.from(mutated.json.response.patch, 'base64').toString()), [
      { op: 'replace', path: '/spec/template/spec/containers/0/image', value: `${stub.host}/cosign/valid@${digests.valid}` },
      { op: 'replace', path: '/spec/template/spec/containers/1/image', value: `${stub.host}/raw/valid-2@${digests['dir-img-cosign-valid-2']}` },
    ]);
    const pinned = applyPatch(deployment, mutated.json);
    const r = await post('/api/v1/admission', review('Deployment', pinned));
    assert.deepEqual(r.json, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u-1', allowed: true } });
    // Without the mutating webhook, a tag is refused in enforce mode: the tag could move.
    const unpinned = await post('/api/v1/admission', review('Deployment', deployment));
    assert.equal(unpinned.json.response.allowed, false);
    assert.match(unpinned.json.response.status.message, /cosign\/valid:v1: not pinned to a digest: the mutating webhook \(POST \/api\/v1\/admission\/mutate\) pins each verified image/);
  });

  test('an UPDATE that leaves an image as it was neither re-pins it nor refuses its tag', async () => {
    const running = pod(`${stub.host}/cosign/valid:v1`);
    const mutated = await post('/api/v1/admission/mutate', review('Pod', running, 'u-u', 'UPDATE', running));
    assert.equal(mutated.json.response.allowed, true);
    assert.equal(mutated.json.response.patch, undefined);
    assert.equal((await post('/api/v1/admission', review('Pod', running, 'u-u', 'UPDATE', running))).json.response.allowed, true);
  });

  test('enforce denies naming the image and the reason; warn allows with a warning', async () => {
    const denied = await post(
      '/api/v1/admission/mutate',
      review('Pod', { spec: { initContainers: [{ image: `${stub.host}/raw/modified-manifest` }], containers: [{ image: `${stub.host}/cosign/valid:v1` }] } }, 'u-2'),
    );
    assert.equal(denied.json.response.uid, 'u-2');
    assert.equal(denied.json.response.allowed, false);
    assert.equal(denied.json.response.status.code, 403);
    assert.equal(denied.json.response.patch, undefined, 'nothing is pinned in a denied object');
    assert.match(denied.json.response.status.message, new RegExp(`^image ${stub.host}/raw/modified-manifest: not verified \\(sha256:[0-9a-f]{64}\\): .*DIGEST_MISMATCH`));
    const warned = await post('/api/v1/admission', review('CronJob', { spec: { jobTemplate: { spec: { template: pod(`${stub.host}/plain/unsigned`) } } } }, 'u-3'));
    assert.equal(warned.json.response.allowed, true);
    assert.match(warned.json.response.warnings[0], /^image .*plain\/unsigned: not verified .*no signatures found/);
  });

  test('registry trouble under enforce denies (fails closed); unmatched images and non-workloads are allowed', async () => {
    const r = await post('/api/v1/admission/mutate', review('StatefulSet', { spec: { template: pod(`${stub.host}/cosign/missing:1`, 'nginx:1.27') } }));
    assert.equal(r.json.response.allowed, false);
    assert.match(r.json.response.status.message, /^image .*cosign\/missing:1: NOT_FOUND: .*\(registry status 404\)$/);
    const cm = await post('/api/v1/admission', review('ConfigMap', { data: {} }));
    assert.equal(cm.json.response.allowed, true);
    const bad = await post('/api/v1/admission', { kind: 'AdmissionReview' });
    assert.equal(bad.status, 400);
  });
});
