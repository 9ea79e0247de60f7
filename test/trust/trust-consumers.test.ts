/**
 * The consumer outputs of issue 17 — policy-controller Helm values, root ConfigMap and
 * ClusterImagePolicy; Kyverno ClusterPolicy, keys ConfigMap and environment values; Kubewarden
 * verification config and PolicyServer patch — from three kinds of repository: the real
 * public-good fixture (synced through a real mirror, clock pinned to 2026-08-22), an origin signed
 * here with its own PKI, and a bridge's site repository as an in-gap mirror holds it. Every YAML
 * object is validated as the API server would (the consumer's own CRD from ../shared/schemas, or
 * the Kubernetes OpenAPI schema via kubernetes-models), with no unknown field; what each holds is
 * checked against trusted_root.json with node:crypto, and the Kubewarden verification config with
 * tuf-mirror's own reader of that format.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, mock, test } from 'node:test';
import YAML from 'yaml';
import { EnvVar } from 'kubernetes-models/v1/EnvVar';
import { Volume } from 'kubernetes-models/v1/Volume';
import { VolumeMount } from 'kubernetes-models/v1/VolumeMount';
import { parseConfig, type Config } from '../../config/config';
import { silentLogger } from '../../lib/log';
import { packageRoot } from '../../lib/paths';
import { parseTrustedRoot } from '../../lib/trusted-root';
import { initOrigin, resignOrigin, updateOriginKeys, type OriginContext } from '../../origin/origin';
import type { TrustMaterial as OriginMaterial } from '../../origin/trust-material';
import type { Service } from '../../server/service';
import { TrustRootError } from '../../trust/errors';
import { FORMAT_NAMES, objectOf, OBJECT_FORMATS, renderTrustRoot, type FormatName } from '../../trust/formats';
import type { IdentityOptions } from '../../trust/identity';
import { loadTrustMaterial, type TrustMaterial } from '../../trust/material';
import type { TrustOptions } from '../../trust/options';
import { parsePolicy } from '../../lib/policy';
import { carry, initSite, SITE, startConnected, startGap, type Connected, type Gap } from '../helpers/bridge';
import { IMAGE, ISSUER, SUBJECT } from '../helpers/identity';
import { CRDS, objectProblems } from '../helpers/crds';
import { type Obj } from '../helpers/k8s-manifests';
import { FIXTURE, FIXTURE_NOW, get, ifStarted, startMirror, tempDir, testConfig } from '../helpers/mirror';
import { makePki, pkiMaterial } from '../helpers/pki';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';
import { validate } from '../helpers/trust-schema';

const ROOT = packageRoot();
const MIRROR = 'http://tuf-mirror.tuf-mirror.svc:8080';
const IDENTITY: IdentityOptions = { issuer: ISSUER, subjects: [SUBJECT], images: [IMAGE] };
const NEW_FORMATS: FormatName[] = [
  'cluster-image-policy',
  'policy-controller-values',
  'policy-controller-values-no-tuf',
  'policy-controller-root-configmap',
  'kubewarden-verification-config',
  'kubewarden-policy-server',
  'kyverno-cluster-policy',
  'kyverno-keys-configmap',
  'kyverno-env-values',
];
const yaml = (body: Buffer): Obj => YAML.parse(body.toString('utf8')) as Obj;
const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const annotations = (doc: Obj): Record<string, string> => doc.metadata?.annotations ?? {};

/** Everything every source must satisfy, for every object format and every new one. */
function checkAll(material: TrustMaterial, now: number): Map<FormatName, ReturnType<typeof renderTrustRoot>> {
  const outputs = new Map<FormatName, ReturnType<typeof renderTrustRoot>>();
  for (const format of FORMAT_NAMES) {
    const out = renderTrustRoot(material, format, { mirrorUrl: MIRROR, identity: identityOf(format), now });
    outputs.set(format, out);
    assert.match(out.contentSha256 ?? '', /^[0-9a-f]{64}$/, `${format}: a content digest`);
    if (!out.contentType.startsWith('application/yaml')) continue;
    const doc = yaml(out.body);
    const object = objectOf(format, material.repository, {});
    if (object) {
      assert.deepEqual(objectProblems(doc), [], `${format} validates against its schema`);
      // The object is exactly the one refresh-cluster and its RBAC expect.
      assert.deepEqual(
        { apiVersion: doc.apiVersion, kind: doc.kind, namespace: doc.metadata.namespace, name: doc.metadata.name },
        { apiVersion: object.apiVersion, kind: object.kind, namespace: object.namespace, name: object.name },
        format,
      );
      assert.equal(annotations(doc)['tuf-mirror.dev/expires'], out.validity?.expires, `${format}: the expiry annotation says what validity says`);
    } else if (out.validity) {
      assert.ok(out.body.toString().includes(out.validity.expires), `${format} says until when in a comment`);
    }
  }
  return outputs;
}

const identityOf = (format: FormatName): IdentityOptions | undefined =>
  ['cluster-image-policy', 'kyverno-cluster-policy'].includes(format)
    ? IDENTITY
    : ['kubewarden-verification-config', 'kubewarden-policy-server'].includes(format)
      ? { issuer: ISSUER, subjects: [SUBJECT] }
      : undefined;

const pemBlocks = (text: string, type: string): string[] => text.match(new RegExp(`-----BEGIN ${type}-----\\n[\\s\\S]+?-----END ${type}-----\\n`, 'g')) ?? [];

/** The Kyverno attestor's keys, and the keys ConfigMap, hold exactly the given entries of trusted_root.json. */
function checkKeylessKeys(outputs: Map<FormatName, ReturnType<typeof renderTrustRoot>>, want: { cas: string[]; rekor: { url: string; key: string }; ctlog: string }): void {
  const policy = yaml(outputs.get('kyverno-cluster-policy')!.body);
  const keyless = policy.spec.rules[0].verifyImages[0].attestors[0].entries[0].keyless;
  const certs = pemBlocks(keyless.roots, 'CERTIFICATE').map((p) => new X509Certificate(p).raw.toString('base64'));
  assert.deepEqual(certs, want.cas);
  assert.equal(keyless.rekor.url, want.rekor.url);
  const der = (pemKey: string) => createPublicKey(pemKey).export({ format: 'der', type: 'spki' }).toString('base64');
  assert.equal(der(keyless.rekor.pubkey), want.rekor.key);
  assert.equal(der(keyless.ctlog.pubkey), want.ctlog);
  const cm = yaml(outputs.get('kyverno-keys-configmap')!.body);
  assert.equal(cm.data['rekor.pub'], keyless.rekor.pubkey);
  assert.equal(cm.data['ctfe.pub'], keyless.ctlog.pubkey);
  assert.equal(cm.data['fulcio.crt.pem'], keyless.roots);
  // The environment form points cosign's variables at files the ConfigMap holds, mounted where they say.
  const values = yaml(outputs.get('kyverno-env-values')!.body).admissionController;
  const mount = values.extraVolumeMounts[0];
  assert.equal(values.extraVolumes[0].configMap.name, cm.metadata.name);
  assert.equal(values.extraVolumes[0].name, mount.name);
  for (const v of values.extraVolumes) new Volume(v).validate();
  for (const m of values.extraVolumeMounts) new VolumeMount(m).validate();
  const env = Object.fromEntries((values.container.extraEnvVars as Obj[]).map((e) => (new EnvVar({ name: e.name, value: e.value }).validate(), [e.name, e.value])));
  assert.deepEqual(env, {
    SIGSTORE_REKOR_PUBLIC_KEY: `${String(mount.mountPath)}/rekor.pub`,
    SIGSTORE_CT_LOG_PUBLIC_KEY_FILE: `${String(mount.mountPath)}/ctfe.pub`,
    SIGSTORE_ROOT_FILE: `${String(mount.mountPath)}/fulcio.crt.pem`,
  });
}

/** The Kubewarden pair: a verification config tuf-mirror's own Kubewarden reader accepts, and a patch naming both ConfigMaps by content. */
function checkKubewarden(outputs: Map<FormatName, ReturnType<typeof renderTrustRoot>>): void {
  const vc = yaml(outputs.get('kubewarden-verification-config')!.body);
  const policy = parsePolicy(vc.data['verification-config'], 'verification-config');
  assert.equal(policy.allOf.length, 1);
  assert.deepEqual(policy.allOf[0], { kind: 'genericIssuer', issuer: ISSUER, subject: { equal: SUBJECT } });
  const patch = yaml(outputs.get('kubewarden-policy-server')!.body);
  const trustConfig = yaml(outputs.get('kubewarden-configmap')!.body);
  assert.equal(patch.spec.sigstoreTrustConfig, trustConfig.metadata.name);
  assert.equal(patch.spec.verificationConfig, vc.metadata.name);
  assert.equal(patch.spec.annotations['tuf-mirror.dev/sigstore-trust-config-sha256'], sha256(trustConfig.data['sigstore-trust-config']));
  assert.equal(patch.spec.annotations['tuf-mirror.dev/verification-config-sha256'], sha256(vc.data['verification-config']));
  assert.equal(vc.metadata.namespace, trustConfig.metadata.namespace, "both in the controller's namespace");
}

/** policy-controller: values that mount the root ConfigMap where -tuf-root looks, and a ClusterImagePolicy bound to the TrustRoot. */
function checkPolicyController(outputs: Map<FormatName, ReturnType<typeof renderTrustRoot>>, material: TrustMaterial, want: { fulcio: string; rekor: string }): void {
  const cm = yaml(outputs.get('policy-controller-root-configmap')!.body);
  assert.equal(cm.data['root.json'], material.root.bytes.toString('utf8'));
  const webhook = yaml(outputs.get('policy-controller-values')!.body).webhook;
  assert.equal(webhook.extraArgs['tuf-mirror'], MIRROR);
  const volume = webhook.volumes[0];
  const mount = webhook.volumeMounts.find((m: Obj) => m.name === volume.name);
  new Volume(volume).validate();
  new VolumeMount(mount).validate();
  assert.equal(volume.configMap.name, cm.metadata.name);
  assert.equal(webhook.extraArgs['tuf-root'], `${String(mount.mountPath)}/${String(volume.configMap.items[0].path)}`);
  assert.equal(volume.configMap.items[0].key, 'root.json');
  assert.deepEqual(yaml(outputs.get('policy-controller-values-no-tuf')!.body), { webhook: { extraArgs: { 'disable-tuf': true } } });

  const cip = yaml(outputs.get('cluster-image-policy')!.body);
  const trustRoot = yaml(outputs.get('remote')!.body);
  const [authority] = cip.spec.authorities;
  assert.deepEqual(cip.spec.images, [{ glob: IMAGE }]);
  assert.equal(authority.keyless.trustRootRef, trustRoot.metadata.name);
  assert.equal(authority.ctlog.trustRootRef, trustRoot.metadata.name);
  assert.equal(authority.keyless.url, want.fulcio);
  assert.equal(authority.ctlog.url, want.rekor);
  assert.deepEqual(authority.keyless.identities, [{ issuer: ISSUER, subject: SUBJECT }]);
}

let upstream: UpstreamServer;
let mirror: Service;
let publicGood: TrustMaterial;

before(async () => {
  mock.timers.enable({ apis: ['Date'], now: FIXTURE_NOW });
  upstream = await startUpstreamServer(FIXTURE);
  mirror = await startMirror(testConfig([{ upstream: upstream.url, anchor: path.join(FIXTURE, '14.root.json') }]));
  assert.equal((await mirror.syncAll())[0].outcome, 'updated');
  publicGood = loadTrustMaterial(mirror.store, 'sigstore');
});
after(async () => {
  await ifStarted(mirror)?.close();
  await ifStarted(upstream)?.close();
  mock.timers.reset();
});

describe('the public-good repository (2026-08-22)', () => {
  const trustedRoot = () => parseTrustedRoot(publicGood.targetFiles.find((t) => t.name === 'trusted_root.json')!.bytes);

  test('every object validates against its CRD or schema, is the object refresh-cluster expects, and says until when', () => {
    const outputs = checkAll(publicGood, FIXTURE_NOW);
    for (const format of NEW_FORMATS) assert.ok(outputs.get(format)!.body.length > 0, format);
    assert.deepEqual(
      OBJECT_FORMATS.filter((f) => outputs.get(f)!.validity).map((f) => [f, outputs.get(f)!.validity!.expires]),
      [
        ['repository', '2026-08-28T19:25:56Z'],
        ['sigstore-keys', '2031-10-05T13:56:58Z'],
        ['kubewarden-configmap', '2031-10-05T13:56:58Z'],
        ['kyverno-policy-trusted-root', '2031-10-05T13:56:58Z'],
        ['kyverno-cluster-policy', '2031-10-05T13:56:58Z'],
        ['kyverno-keys-configmap', '2031-10-05T13:56:58Z'],
        ['flux-secret', '2031-10-05T13:56:58Z'],
      ],
    );
    // The Fulcio intermediate's notAfter: the first of the embedded keys and certificates to end.
    assert.equal(outputs.get('kyverno-cluster-policy')!.validity!.what, 'certificate sigstore-intermediate of certificate authority https://fulcio.sigstore.dev');
    // TUF-bound: the archive's timestamp; a starting root alone carries none.
    assert.equal(outputs.get('repository')!.validity!.what, 'timestamp v762');
    for (const f of ['remote', 'policy-controller-values', 'cluster-image-policy', 'kyverno-policy', 'cosign', 'root'] as const) assert.equal(outputs.get(f)!.validity, undefined, f);
  });

  test('policy-controller: values, root ConfigMap, and a ClusterImagePolicy whose URLs come from trusted_root.json', () => {
    const outputs = checkAll(publicGood, FIXTURE_NOW);
    checkPolicyController(outputs, publicGood, { fulcio: 'https://fulcio.sigstore.dev', rekor: 'https://rekor.sigstore.dev' });
    // The Ed25519 Rekor v2 log: policy-controller cannot take it, and the output says so.
    assert.deepEqual(outputs.get('cluster-image-policy')!.warnings, ['left out: tlog https://log2025-1.rekor.sigstore.dev: key of type ed25519; policy-controller accepts only ECDSA Rekor keys']);
  });

  test('Kyverno keyless: the valid Fulcio chain, the Rekor v1 key and the current CT log key; the Rekor v2 log named as left out', () => {
    const outputs = checkAll(publicGood, FIXTURE_NOW);
    const root = trustedRoot();
    checkKeylessKeys(outputs, {
      cas: root.certificateAuthorities[1].certificates,
      rekor: { url: 'https://rekor.sigstore.dev', key: root.tlogs[0].publicKey },
      ctlog: root.ctlogs[1].publicKey,
    });
    for (const f of ['kyverno-cluster-policy', 'kyverno-keys-configmap', 'kyverno-env-values'] as const) {
      assert.ok(
        outputs.get(f)!.warnings.some((w) => w.startsWith('left out: tlog https://log2025-1.rekor.sigstore.dev: its logId is not the sha256 of its key')),
        f,
      );
    }
    const rule = yaml(outputs.get('kyverno-cluster-policy')!.body).spec.rules[0];
    assert.deepEqual(rule.match, { any: [{ resources: { kinds: ['Pod'] } }] });
    assert.deepEqual(rule.verifyImages[0].imageReferences, [IMAGE]);
    assert.equal(rule.verifyImages[0].failureAction, 'Audit');
  });

  test('Kubewarden: a verification config its reader accepts, and a PolicyServer patch naming both ConfigMaps by content', () => {
    checkKubewarden(checkAll(publicGood, FIXTURE_NOW));
  });

  test('the validators are not rubber stamps: a misspelt field, a wrong enum, a missing field are caught', () => {
    const out = (f: FormatName, o: TrustOptions = {}) => yaml(renderTrustRoot(publicGood, f, { mirrorUrl: MIRROR, identity: identityOf(f), ...o }).body);
    const policy = out('kyverno-cluster-policy');
    policy.spec.rules[0].verifyImages[0].attestors[0].entries[0].keyless.rekor.pubKey = 'x';
    policy.spec.rules[0].verifyImages[0].failureAction = 'Deny';
    assert.deepEqual(objectProblems(policy), [
      'spec.rules[0].verifyImages[0].failureAction: "Deny" is not one of ["Audit","Enforce"]',
      'spec.rules[0].verifyImages[0].attestors[0].entries[0].keyless.rekor.pubKey: unknown field',
    ]);
    const cip = out('cluster-image-policy');
    cip.spec.authorities[0].keyless.trustRoot = 'x';
    assert.deepEqual(objectProblems(cip), ['spec.authorities[0].keyless.trustRoot: unknown field']);
    const patch = out('kubewarden-policy-server');
    patch.spec.verificationConfigMap = 'x';
    assert.deepEqual(objectProblems(patch), ['spec.verificationConfigMap: unknown field']);
    assert.deepEqual(validate({ spec: { replicas: 1 } }, CRDS.PolicyServer.schema), ['spec: missing required field image']);
    const cm = out('kyverno-keys-configmap');
    cm.datas = {};
    assert.deepEqual(objectProblems(cm), ['ConfigMap.datas']);
  });

  test('several subjects: any one admits (identities, attestor count 1, Kubewarden anyOf); URL prefixes become githubAction or an anchored RE2 pattern', () => {
    const identity = { issuer: ISSUER, subjects: [SUBJECT], subjectUrlPrefixes: ['https://github.com/acme/app'], images: [IMAGE, 'ghcr.io/acme/*'] };
    const cip = yaml(renderTrustRoot(publicGood, 'cluster-image-policy', { identity }).body);
    assert.deepEqual(cip.spec.authorities[0].keyless.identities, [
      { issuer: ISSUER, subject: SUBJECT },
      { issuer: ISSUER, subjectRegExp: '^https://github\\.com/acme/app/.*$' },
    ]);
    assert.deepEqual(cip.spec.images, [{ glob: IMAGE }, { glob: 'ghcr.io/acme/*' }]);
    assert.deepEqual(objectProblems(cip), []);
    const kyverno = yaml(renderTrustRoot(publicGood, 'kyverno-cluster-policy', { identity, failureAction: 'Enforce' }).body);
    const attestor = kyverno.spec.rules[0].verifyImages[0].attestors[0];
    assert.equal(attestor.count, 1);
    assert.deepEqual(
      attestor.entries.map((e: Obj) => e.keyless.subject ?? e.keyless.subjectRegExp),
      [SUBJECT, '^https://github\\.com/acme/app/.*$'],
    );
    assert.equal(kyverno.spec.rules[0].verifyImages[0].failureAction, 'Enforce');
    assert.deepEqual(objectProblems(kyverno), []);
    const re = new RegExp(attestor.entries[1].keyless.subjectRegExp);
    assert.ok(re.test('https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1'));
    assert.ok(!re.test('https://github.com/acme/app-evil/.github/workflows/x.yml@refs/heads/main'));
    const vc = parsePolicy(yaml(renderTrustRoot(publicGood, 'kubewarden-verification-config', { identity: { ...identity, images: undefined } }).body).data['verification-config']);
    assert.equal(vc.allOf.length, 0);
    assert.equal(vc.anyOf?.minimumMatches, 1);
    assert.deepEqual(vc.anyOf.signatures, [
      { kind: 'genericIssuer', issuer: ISSUER, subject: { equal: SUBJECT } },
      { kind: 'githubAction', owner: 'acme', repo: 'app' },
    ]);
    const other = parsePolicy(
      yaml(renderTrustRoot(publicGood, 'kubewarden-verification-config', { identity: { issuer: 'https://accounts.example', subjectUrlPrefixes: ['https://ci.example/acme'] } }).body).data[
        'verification-config'
      ],
    );
    assert.deepEqual(other.allOf, [{ kind: 'genericIssuer', issuer: 'https://accounts.example', subject: { urlPrefix: 'https://ci.example/acme/' } }]);
  });
});

describe("identity flags: a missing or malformed identity is the caller's to fix", () => {
  const fails = (format: FormatName, identity: IdentityOptions | undefined, code: string, message: RegExp) =>
    assert.throws(
      () => renderTrustRoot(publicGood, format, { identity }),
      (e: unknown) => e instanceof TrustRootError && e.code === code && message.test(e.message),
      `${format} ${JSON.stringify(identity)}`,
    );

  test('IDENTITY_REQUIRED without an issuer, a subject or an image', () => {
    for (const format of ['cluster-image-policy', 'kyverno-cluster-policy', 'kubewarden-verification-config'] as const) {
      fails(format, undefined, 'IDENTITY_REQUIRED', /--issuer .*--subject/);
      fails(format, { subjects: [SUBJECT], images: [IMAGE] }, 'IDENTITY_REQUIRED', /--issuer/);
      fails(format, { issuer: ISSUER, images: [IMAGE] }, 'IDENTITY_REQUIRED', /--subject/);
    }
    fails('cluster-image-policy', { issuer: ISSUER, subjects: [SUBJECT] }, 'IDENTITY_REQUIRED', /--image/);
    fails('kyverno-cluster-policy', { issuer: ISSUER, subjects: [SUBJECT] }, 'IDENTITY_REQUIRED', /--image/);
  });

  test('INVALID_IDENTITY for what a consumer would misread', () => {
    const bad: [IdentityOptions, RegExp][] = [
      [{ issuer: 'token.actions.githubusercontent.com', subjects: [SUBJECT], images: [IMAGE] }, /not an absolute URL/],
      [{ issuer: 'ftp://issuer.example', subjects: [SUBJECT], images: [IMAGE] }, /https:\/\//],
      [{ issuer: 'https://user:pw@issuer.example', subjects: [SUBJECT], images: [IMAGE] }, /credentials/],
      [{ issuer: `${ISSUER} `, subjects: [SUBJECT], images: [IMAGE] }, /printable/],
      [{ issuer: ISSUER, subjects: ['line\nbreak'], images: [IMAGE] }, /--subject/],
      [{ issuer: ISSUER, subjectRegexps: ['^https://github.com/(acme'], images: [IMAGE] }, /not a regular expression/],
      [{ issuer: ISSUER, subjectRegexps: ['^https://github\\.com/(?!evil).*$'], images: [IMAGE] }, /lookaround or a backreference/],
      [{ issuer: ISSUER, subjectRegexps: ['^(a)\\1$'], images: [IMAGE] }, /backreference/],
      [{ issuer: ISSUER, subjectUrlPrefixes: ['github.com/acme'], images: [IMAGE] }, /--subject-url-prefix/],
      [{ issuer: ISSUER, subjects: [SUBJECT], images: ['registry.example.com/team/** ; rm'] }, /--image/],
    ];
    for (const [identity, message] of bad) fails('cluster-image-policy', identity, 'INVALID_IDENTITY', message);
    // Each consumer's own limits.
    fails('kubewarden-verification-config', { issuer: ISSUER, subjectRegexps: ['^https://github\\.com/acme/.*$'] }, 'INVALID_IDENTITY', /never by regular expression/);
    fails('kyverno-cluster-policy', { issuer: ISSUER, subjects: ['https://github.com/acme/*'], images: [IMAGE] }, 'INVALID_IDENTITY', /wildcards/);
    assert.throws(
      () => renderTrustRoot(publicGood, 'kyverno-cluster-policy', { identity: IDENTITY, failureAction: 'Deny' }),
      (e: unknown) => e instanceof TrustRootError && e.code === 'INVALID_IDENTITY',
    );
  });

  test('an unanchored pattern is allowed, with a warning; identity flags on a format that ignores them are named', () => {
    const out = renderTrustRoot(publicGood, 'cluster-image-policy', { identity: { issuer: ISSUER, subjectRegexps: ['github\\.com/acme/'], images: [IMAGE] } });
    assert.ok(out.warnings.some((w) => w.includes('not anchored')));
    assert.ok(renderTrustRoot(publicGood, 'remote', { mirrorUrl: MIRROR, identity: IDENTITY }).warnings.some((w) => w.includes('ignores them')));
    assert.ok(renderTrustRoot(publicGood, 'kubewarden-verification-config', { identity: IDENTITY }).warnings.some((w) => w.includes('--image does not apply')));
  });
});

describe('an origin repository signed here, with its own PKI', () => {
  const pki = makePki();
  const START = Date.parse('2026-09-01T00:00:00Z');
  const material: OriginMaterial = pkiMaterial(pki);
  let config: Config;
  let origin: Service;
  let ctx: OriginContext;
  const keys = { root: { count: 1, threshold: 1 }, targets: { count: 1, threshold: 1 }, snapshot: { count: 1, threshold: 1 }, timestamp: { count: 1, threshold: 1 } };

  before(async () => {
    mock.timers.setTime(START);
    const dataDir = tempDir();
    config = parseConfig(
      { dataDir, server: { host: '127.0.0.1', port: 0, publicUrl: MIRROR }, sync: { onStart: false }, repositories: [{ name: 'acme', kind: 'origin', origin: { timestampExpiry: '2d' } }] },
      'test',
      dataDir,
    );
    origin = await startMirror(config);
    ctx = { store: origin.store, repository: config.repositories[0], logger: silentLogger };
    await initOrigin(ctx, { material, operator: 'acme', keyType: 'ecdsa', keys, now: new Date() });
    origin.index.reload();
  });
  after(async () => {
    await ifStarted(origin)?.close();
    mock.timers.setTime(FIXTURE_NOW);
  });

  test('every output from the origin validates, holds its PKI, and lasts as long as its certificates', () => {
    const m = loadTrustMaterial(origin.store, 'acme');
    const outputs = checkAll(m, START);
    const root = parseTrustedRoot(m.targetFiles.find((t) => t.name === 'trusted_root.json')!.bytes);
    checkPolicyController(outputs, m, { fulcio: 'https://fulcio.acme.example', rekor: 'https://rekor.acme.example' });
    checkKeylessKeys(outputs, { cas: root.certificateAuthorities[0].certificates, rekor: { url: 'https://rekor.acme.example', key: root.tlogs[0].publicKey }, ctlog: root.ctlogs[0].publicKey });
    checkKubewarden(outputs);
    // openssl made the certificates valid for 3650 days: the first of them to end bounds the outputs.
    const notAfter = [pki.fulcio, pki.tsa]
      .map((f) => new X509Certificate(fs.readFileSync(f)).validTo)
      .map((d) => Date.parse(d))
      .sort()[0];
    assert.equal(Date.parse(outputs.get('kyverno-cluster-policy')!.validity!.expires), Date.parse(new X509Certificate(fs.readFileSync(pki.fulcio)).validTo));
    assert.equal(Date.parse(outputs.get('kubewarden-configmap')!.validity!.expires), notAfter);
    for (const f of ['cluster-image-policy', 'kyverno-cluster-policy'] as const) assert.deepEqual(outputs.get(f)!.warnings, [], f);
  });

  test('the content digest moves with the content, not with the generation: a re-signing changes only what embeds the timestamp; a key update changes the rest', async () => {
    const digests = (): Record<string, string> => {
      const m = loadTrustMaterial(origin.store, 'acme');
      return Object.fromEntries(OBJECT_FORMATS.map((f) => [f, renderTrustRoot(m, f, { mirrorUrl: MIRROR, identity: identityOf(f), now: Date.now() }).contentSha256!]));
    };
    const before1 = digests();
    mock.timers.setTime(START + 86400_000);
    await resignOrigin(ctx, { force: true });
    const resigned = digests();
    assert.deepEqual(
      OBJECT_FORMATS.filter((f) => before1[f] !== resigned[f]),
      ['repository'],
      'a new timestamp moves only the mirrorFS archive',
    );
    const rekor2 = pki.logKey('rekor2');
    await updateOriginKeys(ctx, {
      add: { tlogs: [{ url: 'https://rekor2.acme.example', keyPem: pki.read(rekor2), validFor: { start: '2026-09-02T00:00:00Z' } }] },
      operator: 'acme',
      keysDir: config.repositories[0].origin!.keysDir,
    });
    const updated = digests();
    const moved = OBJECT_FORMATS.filter((f) => resigned[f] !== updated[f]);
    // The remote TrustRoot's spec does not change, but its trusted-root annotation does: applying it is the nudge.
    for (const f of [
      'remote',
      'repository',
      'sigstore-keys',
      'cluster-image-policy',
      'kyverno-cluster-policy',
      'kyverno-keys-configmap',
      'kubewarden-configmap',
      'kubewarden-policy-server',
      'flux-secret',
    ] as const)
      assert.ok(moved.includes(f), f);
    for (const f of ['policy-controller-root-configmap', 'kubewarden-verification-config', 'kyverno-policy'] as const) assert.ok(!moved.includes(f), f);
    const m = loadTrustMaterial(origin.store, 'acme');
    const cip = yaml(renderTrustRoot(m, 'cluster-image-policy', { identity: IDENTITY }).body);
    assert.equal(cip.spec.authorities[0].ctlog.url, 'https://rekor2.acme.example', 'the newest Rekor log valid now');
  });

  test('over HTTP: the output with its content digest and expiry; 400 for a missing or malformed identity; the CLI exits 2', async () => {
    const q = new URLSearchParams({ format: 'kyverno-cluster-policy', issuer: ISSUER, subject: SUBJECT, image: IMAGE });
    q.append('subject', 'https://github.com/acme/app/.github/workflows/x.yml@refs/heads/main');
    const res = await get(`${origin.url}/api/v1/repositories/acme/trustroot?${q.toString()}`);
    assert.equal(res.status, 200, res.body.toString());
    const m = loadTrustMaterial(origin.store, 'acme');
    const want = renderTrustRoot(m, 'kyverno-cluster-policy', {
      identity: { issuer: ISSUER, subjects: [SUBJECT, 'https://github.com/acme/app/.github/workflows/x.yml@refs/heads/main'], images: [IMAGE] },
    });
    assert.ok(res.body.equals(want.body));
    assert.equal(res.headers.get('x-tuf-mirror-content-sha256'), want.contentSha256);
    assert.equal(res.headers.get('x-tuf-mirror-expires'), want.validity!.expires);
    assert.match(res.headers.get('x-tuf-mirror-expires-what')!, /^certificate /);
    assert.equal(yaml(res.body).spec.rules[0].verifyImages[0].attestors[0].entries.length, 2, 'repeated subject= parameters');
    for (const [query, code] of [
      ['format=cluster-image-policy', 'IDENTITY_REQUIRED'],
      [`format=cluster-image-policy&issuer=${encodeURIComponent(ISSUER)}&subjectRegexp=${encodeURIComponent('(?=x)')}&image=x`, 'INVALID_IDENTITY'],
    ]) {
      const bad = await get(`${origin.url}/api/v1/repositories/acme/trustroot?${query}`);
      assert.equal(bad.status, 400);
      assert.equal(JSON.parse(bad.body.toString()).error.code, code);
    }
    const file = path.join(tempDir(), 'acme.yaml'); // not beside dataDir: that is the system's temp dir
    fs.writeFileSync(file, YAML.stringify({ dataDir: config.dataDir, server: { publicUrl: MIRROR }, repositories: [{ name: 'acme', kind: 'origin', origin: { timestampExpiry: '2d' } }] }));
    const cli = (...args: string[]) =>
      new Promise<{ status: number; stderr: string }>((resolve) =>
        execFile(process.execPath, [path.join(ROOT, 'dist', 'cli', 'main.js'), 'trustroot', 'acme', ...args, '--config', file], (err, _o, stderr) =>
          resolve({ status: err ? Number(err.code) : 0, stderr }),
        ),
      );
    const missing = await cli('--format', 'kubewarden-verification-config');
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /^tuf-mirror: IDENTITY_REQUIRED: /);
    const malformed = await cli('--format', 'kubewarden-verification-config', '--issuer', ISSUER, '--subject-regexp', '^x$');
    assert.equal(malformed.status, 2);
    assert.match(malformed.stderr, /^tuf-mirror: INVALID_IDENTITY: Kubewarden matches subjects exactly or by URL prefix/);
    const ok = await cli('--format', 'kubewarden-verification-config', '--issuer', ISSUER, '--subject', SUBJECT, '--subject', 'https://github.com/acme/x');
    assert.equal(ok.status, 0, ok.stderr);
  });
});

describe("a bridge's site repository, as the in-gap mirror holds it (2026-10-11)", () => {
  let connected: Connected;
  let gap: Gap;
  before(async () => {
    mock.timers.setTime(FIXTURE_NOW);
    connected = await startConnected(upstream.url, path.join(FIXTURE, '1.root.json'), { timestampExpiry: '60d', promote: 'auto' });
    assert.equal((await connected.service.syncAll())[0].outcome, 'updated');
    await initSite(connected);
    gap = await startGap(connected.site.trustAnchor);
    mock.timers.setTime(Date.parse('2026-08-25T09:00:00Z'));
    const imported = await carry(connected, gap);
    assert.equal(imported.outcome, 'updated');
    mock.timers.setTime(Date.parse('2026-10-11T12:00:00Z'));
  });
  after(async () => {
    await ifStarted(gap)?.service.close();
    await ifStarted(connected)?.service.close();
    mock.timers.setTime(FIXTURE_NOW);
  });

  test("every output validates; the keys are public-good's, through the site root; the mirrorFS TrustRoot lasts the site timestamp", () => {
    const site = loadTrustMaterial(gap.service.store, SITE);
    const now = Date.now();
    const outputs = checkAll(site, now);
    const source = checkAll(publicGood, now);
    // The same consumers' content, but the TUF-bound ones start from the site root.
    for (const f of ['cluster-image-policy', 'kyverno-cluster-policy', 'kyverno-keys-configmap', 'kubewarden-verification-config', 'sigstore-keys'] as const) {
      const site = yaml(outputs.get(f)!.body);
      const pg = yaml(source.get(f)!.body);
      const norm = (doc: Obj, repository: string) => JSON.stringify(doc.spec ?? doc.data).replaceAll(`tuf-mirror-${repository}`, 'tuf-mirror-<repository>');
      assert.equal(norm(site, SITE), norm(pg, 'sigstore'), f);
    }
    assert.equal(yaml(outputs.get('policy-controller-root-configmap')!.body).data['root.json'], fs.readFileSync(gap.anchor, 'utf8'));
    assert.equal(outputs.get('repository')!.validity!.expires, '2026-10-21T00:00:00Z', 'init on 2026-08-22 + timestampExpiry 60d');
    checkPolicyController(outputs, site, { fulcio: 'https://fulcio.sigstore.dev', rekor: 'https://rekor.sigstore.dev' });
    checkKubewarden(outputs);
    assert.equal(yaml(outputs.get('kubewarden-configmap')!.body).metadata.annotations['tuf-mirror.dev/repository'], SITE);
  });
});

describe('every format has a description and every object format a target object', () => {
  test('objectOf names each object format and no other', () => {
    for (const f of FORMAT_NAMES) {
      const o = objectOf(f, 'sigstore', {});
      if (!OBJECT_FORMATS.includes(f)) assert.equal(o, undefined, f);
      else assert.match(`${o!.apiVersion} ${o!.kind} ${o!.resource}`, /^\S+ [A-Z]\w+ [a-z]+$/, f);
    }
    assert.deepEqual(objectOf('kubewarden-configmap', 'site', { name: 'tc', namespace: 'kw' }), { apiVersion: 'v1', kind: 'ConfigMap', resource: 'configmaps', namespace: 'kw', name: 'tc' });
    assert.throws(
      () => objectOf('remote', 'sigstore', { name: 'Bad_Name' }),
      (e: unknown) => e instanceof TrustRootError && e.code === 'INVALID_NAME',
    );
  });
});
