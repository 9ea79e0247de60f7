/**
 * The real public-good repository (2026-08-21) bridged across an air gap: synced and bridged on
 * the connected side at 2026-08-22, exported, imported into an in-gap mirror anchored at the
 * site root, and read there on 2026-10-11, six weeks after the public timestamp expired, by
 * tuf-js and @sigstore/tuf, and by the verifier with Sigstore conformance bundles.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, mock, test } from 'node:test';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { getTrustedRoot } from '@sigstore/tuf';
import YAML from 'yaml';
import { PROVENANCE_KEY, checkBridge, provenanceOf } from '../../bridge/bridge';
import { packageRoot } from '../../lib/paths';
import { FORMAT_NAMES, renderTrustRoot } from '../../trust/formats';
import { loadTrustMaterial } from '../../trust/material';
import { uncompressMemFS } from '../helpers/trust-go-reader';
import { crdSchema, validateResource } from '../helpers/trust-schema';
import { FIXTURE, FIXTURE_NOW, get, tempDir } from '../helpers/mirror';
import { carry, initSite, sigstoreTufTrustedRoot, SITE, SOURCE, startConnected, startGap, tufJsTarget, type Connected, type Gap } from '../helpers/bridge';
import { startUpstreamServer, type UpstreamServer } from '../../testing/upstream-server';

const PUBLIC_TRUSTED_ROOT = fs.readFileSync(path.join(FIXTURE, 'targets', '6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66.trusted_root.json'));
const CASES = path.join(packageRoot(), 'test', 'fixtures', 'sigstore-conformance', 'bundle-verify');
const at = (iso: string) => mock.timers.setTime(Date.parse(iso));
const json = async (url: string) => JSON.parse((await get(url)).body.toString());

/** The public listener verifies only for holders of verifier.token. */
const VERIFY_TOKEN = 'bridge-test-verify-token';
let upstream: UpstreamServer;
let connected: Connected;
let gap: Gap;
/** How to close what before() started, in order: before() can stop half-way, and after() closes only what it got to. */
const closers: (() => Promise<unknown>)[] = [];

before(async () => {
  mock.timers.enable({ apis: ['Date'], now: FIXTURE_NOW });
  upstream = await startUpstreamServer(FIXTURE);
  closers.push(() => upstream.close());
  connected = await startConnected(upstream.url, path.join(FIXTURE, '1.root.json'), { timestampExpiry: '60d', promote: 'auto' }, { verifier: { token: VERIFY_TOKEN } });
  closers.push(() => connected.service.close());
  assert.equal((await connected.service.syncAll())[0].outcome, 'updated');
  await initSite(connected);
  gap = await startGap(connected.site.trustAnchor, { verifier: { token: VERIFY_TOKEN } });
  closers.push(() => gap.service.close());
  at('2026-08-25T09:00:00Z'); // carried across three days later
  const imported = await carry(connected, gap);
  assert.equal(imported.outcome, 'updated', imported.outcome === 'failed' ? imported.error.message : '');
});
after(async () => {
  for (const close of closers.reverse()) await close();
  mock.timers.reset();
});

describe('2026-10-11: the public timestamp expired 2026-08-28; the site timestamp has not', () => {
  before(() => at('2026-10-11T12:00:00Z'));

  test('tuf-js from the site root, through the in-gap mirror, gets public-good trusted_root.json byte for byte', async () => {
    const bytes = await tufJsTarget(gap.service.url, gap.anchor);
    assert.ok(bytes.equals(PUBLIC_TRUSTED_ROOT));
    // The public repository itself is refused by the same client now: that is the problem solved.
    await assert.rejects(tufJsTarget(upstream.url, path.join(FIXTURE, '1.root.json')), /expired/i);
  });

  test('@sigstore/tuf from the site root gets it too, raw and parsed', async () => {
    assert.equal(await sigstoreTufTrustedRoot(gap.service.url, gap.anchor), PUBLIC_TRUSTED_ROOT.toString('utf8'));
    const parsed = await getTrustedRoot({ mirrorURL: gap.service.url, rootPath: gap.anchor, cachePath: tempDir(), forceInit: true });
    assert.deepEqual(parsed, TrustedRoot.fromJSON(JSON.parse(PUBLIC_TRUSTED_ROOT.toString('utf8'))));
  });

  test('conformance bundles answer the same through the in-gap repository as through the source', async () => {
    const IDENTITY = 'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
    const ISSUER = 'https://token.actions.githubusercontent.com';
    // The cases that use the public-good trust root (the others bring their own trusted_root.json).
    const names = [
      'happy-path-v0.1',
      'happy-path-v0.2',
      'happy-path-v0.3',
      'happy-path-v0.3-new-mediaType',
      'happy-path-intoto-in-dsse-v3',
      'managed-key-happy-path',
      'signature-mismatch_fail',
      'bundle-from-wrong-instance_fail',
      'checkpoint-wrong-roothash_fail',
      'invalid-inclusion-proof_fail',
      'set-invalid-signature_fail',
      'integrated-time-in-future_fail',
    ];
    const read = (name: string, file: string): Buffer | undefined => {
      const p = path.join(CASES, name, file);
      return fs.existsSync(p) ? fs.readFileSync(p) : undefined;
    };
    for (const name of names) {
      assert.equal(read(name, 'trusted_root.json'), undefined, `${name} brings its own trusted root: not a test of the mirrored one`);
      const artifact = read(name, 'artifact') ?? fs.readFileSync(path.join(CASES, 'a.txt'));
      const key = read(name, 'key.pub');
      const body = {
        bundle: JSON.parse(read(name, 'bundle.sigstore.json')!.toString('utf8')),
        artifactDigest: `sha256:${createHash('sha256').update(artifact).digest('hex')}`,
        ...(key ? { key: key.toString('utf8') } : { identity: { subject: read(name, 'identity')?.toString().trim() ?? IDENTITY, issuer: read(name, 'issuer')?.toString().trim() ?? ISSUER } }),
      };
      const answer = async (url: string, repository: string) => {
        const res = await fetch(`${url}/api/v1/verify/bundle`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${VERIFY_TOKEN}` },
          body: JSON.stringify({ ...body, repository }),
        });
        const j = (await res.json()) as { verified: boolean; reasons?: string[]; signer?: unknown; trustRoot: { repository: string; sha256: string } };
        return { status: res.status, verified: j.verified, reasons: j.reasons, signer: j.signer, trustRoot: j.trustRoot };
      };
      const [viaSource, viaGap] = [await answer(connected.service.url, SOURCE), await answer(gap.service.url, SITE)];
      assert.equal(viaGap.verified, !name.endsWith('_fail'), `${name}: ${JSON.stringify(viaGap)}`);
      assert.deepEqual({ ...viaGap, trustRoot: undefined }, { ...viaSource, trustRoot: undefined }, name);
      // The same trusted_root.json, reached through the site's root of trust.
      assert.equal(viaGap.trustRoot.repository, SITE);
      assert.equal(viaGap.trustRoot.sha256, viaSource.trustRoot.sha256);
    }
  });
});

describe('2026-10-11: every output of the in-gap mirror, from the site root', () => {
  const MIRROR = 'http://tuf-mirror.site.svc:8080';
  const trustRootCrd = crdSchema(path.join(packageRoot(), 'test', 'fixtures', 'policy-controller', '300-trustroot.yaml'), 'v1alpha1');
  const yaml = (body: Buffer) => YAML.parse(body.toString('utf8'));
  before(() => at('2026-10-11T12:00:00Z'));

  test('TrustRoots, Kubewarden, Kyverno, cosign, Flux: the site root and public-good trust material', async () => {
    const site = loadTrustMaterial(gap.service.store, SITE);
    const siteRoot = fs.readFileSync(gap.anchor);
    assert.ok(site.root.bytes.equals(siteRoot), 'the newest site root is the one the gap was anchored at');
    const render = (format: (typeof FORMAT_NAMES)[number]) => renderTrustRoot(site, format, { mirrorUrl: MIRROR });

    for (const format of ['remote', 'repository', 'sigstore-keys'] as const) assert.deepEqual(validateResource(yaml(render(format).body), trustRootCrd), [], format);
    assert.ok(Buffer.from(yaml(render('remote').body).spec.remote.root, 'base64').equals(siteRoot));
    const fromSource = renderTrustRoot(loadTrustMaterial(connected.service.store, SOURCE), 'sigstore-keys', {});
    assert.deepEqual(yaml(render('sigstore-keys').body).spec, yaml(fromSource.body).spec, 'the same keys, through the site');
    assert.deepEqual(render('sigstore-keys').warnings, fromSource.warnings);

    // mirrorFS: the repository inside the TrustRoot, read as policy-controller reads it, lasts the site's timestamp.
    const repo = render('repository');
    const doc = yaml(repo.body);
    const expires = Date.parse(doc.metadata.annotations['tuf-mirror.dev/expires']);
    assert.equal(expires, Date.parse('2026-10-21T00:00:00Z'), 'init on 2026-08-22 + timestampExpiry 60d');
    const files = uncompressMemFS(Buffer.from(doc.spec.repository.mirrorFS, 'base64')).files;
    const server = await startUpstreamServer(files);
    try {
      assert.ok((await tufJsTarget(server.url, gap.anchor)).equals(PUBLIC_TRUSTED_ROOT), 'tuf-js reads the mirrorFS tree from the site root on 2026-10-11');
    } finally {
      await server.close();
    }

    const ctc = JSON.parse(render('client-trust-config').body.toString('utf8'));
    assert.deepEqual(ctc.trustedRoot, JSON.parse(PUBLIC_TRUSTED_ROOT.toString('utf8')));
    assert.equal(JSON.parse(yaml(render('kubewarden-configmap').body).data['sigstore-trust-config']).trustedRoot.mediaType, ctc.trustedRoot.mediaType);
    assert.ok(Buffer.from(yaml(render('kyverno-values').body).features.tuf.rootRaw, 'base64').equals(siteRoot));
    assert.ok(Buffer.from(yaml(render('kyverno-policy').body).spec.attestors[0].cosign.tuf.root.data, 'base64').equals(siteRoot));
    assert.equal(yaml(render('kyverno-policy-trusted-root').body).spec.attestors[0].cosign.trustedRoot.value, PUBLIC_TRUSTED_ROOT.toString('utf8'));
    assert.ok(Buffer.from(yaml(render('flux-secret').body).data['trusted_root.json'], 'base64').equals(PUBLIC_TRUSTED_ROOT));
    const cosign = render('cosign');
    assert.ok(cosign.body.includes(siteRoot), 'the cosign script writes the site root');
    assert.match(cosign.body.toString('utf8'), new RegExp(`--root-checksum ${createHash('sha256').update(siteRoot).digest('hex')}`));
  });
});

describe('provenance and the gate', () => {
  test('every bridged target: the source bytes, the source custom, and provenance matching the source generation', async () => {
    const source = connected.service.store.currentGeneration(SOURCE)!;
    const sourceTargets = JSON.parse(fs.readFileSync(path.join(FIXTURE, '14.targets.json'), 'utf8')).signed.targets;
    // Read through the in-gap mirror: what clusters see, signed by the site's keys.
    const site = (await json(`${gap.service.url}/targets.json`)).signed.targets;
    assert.deepEqual(Object.keys(site).sort(), Object.keys(sourceTargets).sort(), 'every top-level target of the source, and only those');
    for (const [name, info] of Object.entries<{ length: number; hashes: Record<string, string>; custom: Record<string, unknown> }>(site)) {
      const upstreamInfo = sourceTargets[name];
      assert.equal(info.hashes.sha256, upstreamInfo.hashes.sha256, name);
      assert.equal(info.length, upstreamInfo.length, name);
      const { [PROVENANCE_KEY]: ours, ...custom } = info.custom;
      assert.deepEqual(custom, upstreamInfo.custom ?? {}, `${name}: custom metadata kept`);
      assert.deepEqual(
        provenanceOf(ours),
        {
          source: SOURCE,
          url: upstream.url,
          generation: source.id,
          root: 15,
          targets: 14,
          snapshot: 165,
          timestamp: 762,
          trustedRootSha256: '6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66',
          verifiedAt: source.createdAt,
        },
        name,
      );
      assert.deepEqual([source.rootVersion, source.targetsVersion, source.snapshotVersion, source.timestampVersion], [15, 14, 165, 762]);
      const served = (await get(`${gap.service.url}/targets/${info.hashes.sha512}.${name}`)).body;
      assert.equal(createHash('sha256').update(served).digest('hex'), upstreamInfo.hashes.sha256, `${name}: the bytes under the site's sha512 name`);
    }
  });

  test('the gate reports the Ed25519 Rekor v2 log of public-good, on the source, the bridge and in the gap', async () => {
    at('2026-08-25T09:00:00Z');
    const decision = await checkBridge(connected.ctx);
    assert.equal(decision.outcome, 'current');
    for (const [url, name] of [
      [connected.service.url, SOURCE],
      [connected.service.url, SITE],
      [gap.service.url, SITE],
    ]) {
      const status = await json(`${url}/api/v1/repositories/${name}`);
      const item = status.items.find((i: { item: string }) => i.item === 'compatibility');
      assert.equal(item.state, 'ok', `${name}: notices do not degrade the state`);
      const codes = item.findings.map((f: { code: string; subject?: string; consumer?: string }) => `${f.code} ${String(f.subject)} ${f.consumer ?? ''}`.trim());
      assert.deepEqual(codes.sort(), ['KEY_TYPE_UNSUPPORTED https://log2025-1.rekor.sigstore.dev policy-controller', 'LOG_ID_SIGNED_NOTE https://log2025-1.rekor.sigstore.dev']);
      assert.deepEqual(item.consumers, [{ consumer: 'policy-controller', outputs: ['remote', 'repository', 'sigstore-keys'], leftOut: ['tlog https://log2025-1.rekor.sigstore.dev (ed25519)'] }]);
      assert.match(item.message, /policy-controller leaves out tlog https:\/\/log2025-1\.rekor\.sigstore\.dev \(ed25519\)/);
    }
    const bridgeItem = (await json(`${connected.service.url}/api/v1/repositories/${SITE}`)).items.find((i: { item: string }) => i.item === 'bridge');
    assert.equal(bridgeItem.state, 'ok');
    const metrics = (await get(`${gap.service.url}/metrics`)).body.toString();
    assert.match(metrics, /tuf_mirror_watch_state\{repository="sigstore-site",item="compatibility"\} 0/);
  });
});
