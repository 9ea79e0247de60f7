/**
 * The whole path for a private Sigstore: its CA, CT log, Rekor log and TSA (@sigstore/mock's,
 * behind real HTTP) go into an origin repository signed here; a mirror syncs the origin over
 * HTTP; a keyless bundle made by @sigstore/sign against that instance verifies through the
 * mirror's verifier with the trust root that travelled origin → mirror → verifier.
 */
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { after, before, test } from 'node:test';
import { parseConfig } from '../../config/config';
import { silentLogger } from '../../lib/log';
import { initOrigin } from '../../origin/origin';
import { parseTrustMaterial } from '../../origin/trust-material';
import type { Service } from '../../server/service';
import { get, startMirror, tempDir, testConfig } from '../helpers/mirror';
import { GHA_ISSUER, SigstoreInfra } from '../../testing/sigstore-infra';

let infra: SigstoreInfra;
let origin: Service;
let mirror: Service;
/** How to close what before() started, in order: before() can stop half-way, and after() closes only what it got to. */
const closers: (() => Promise<unknown>)[] = [];

before(async () => {
  infra = await SigstoreInfra.start();
  closers.push(() => infra.close());
  const dataDir = tempDir();
  const config = parseConfig({ dataDir, server: { host: '127.0.0.1', port: 0 }, sync: { onStart: false }, repositories: [{ name: 'acme', kind: 'origin' }] }, 'test', dataDir);
  origin = await startMirror(config);
  closers.push(() => origin.close());
  // The instance's keys and certificates, as an operator would pass them to `origin init`.
  const material = parseTrustMaterial(Buffer.from(infra.trustedRoot()));
  material.oidcIssuers = [{ url: GHA_ISSUER, validFor: { start: '2020-01-01T00:00:00Z' } }];
  const keys = { root: { count: 1, threshold: 1 }, targets: { count: 1, threshold: 1 }, snapshot: { count: 1, threshold: 1 }, timestamp: { count: 1, threshold: 1 } };
  await initOrigin({ store: origin.store, repository: config.repositories[0], logger: silentLogger }, { material, operator: 'acme', keyType: 'ecdsa', keys });
  origin.index.reload();
  mirror = await startMirror(testConfig([{ name: 'acme', upstream: origin.url, anchor: config.repositories[0].trustAnchor }], { verifier: { token: TOKEN } }));
  closers.push(() => mirror.close());
  assert.equal((await mirror.syncAll())[0].outcome, 'updated');
});
after(async () => {
  for (const close of closers.reverse()) await close();
});

// On the public listener, verification is for holders of the verify token.
const TOKEN = 'origin-verify-token-0123456789';

async function verifyBundle(body: object, token = TOKEN): Promise<{ status: number; json: Record<string, any> }> {
  const res = await fetch(`${mirror.url}/api/v1/verify/bundle`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

test('a keyless bundle from the private instance verifies with the trust root mirrored from the origin', async () => {
  const digest = `sha256:${crypto.createHash('sha256').update('the artifact').digest('hex')}`;
  const bundle = await infra.attest(digest, 'registry.acme.example/app', 'acme/app');
  const identity = { subject: 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main', issuer: GHA_ISSUER };

  const ok = await verifyBundle({ bundle, artifactDigest: digest, identity });
  assert.equal(ok.status, 200);
  assert.equal(ok.json.verified, true, JSON.stringify(ok.json));
  assert.equal(ok.json.trustRoot.repository, 'acme');
  assert.equal(ok.json.trustRoot.generation, mirror.index.generationOf('acme'));

  // The same bundle under another identity, or for another artifact, is refused.
  const wrongIdentity = await verifyBundle({ bundle, artifactDigest: digest, identity: { ...identity, subject: 'https://github.com/acme-evil/app/.github/workflows/release.yml@refs/heads/main' } });
  assert.equal(wrongIdentity.json.verified, false);
  const otherArtifact = await verifyBundle({ bundle, artifactDigest: `sha256:${'0'.repeat(64)}`, identity });
  assert.equal(otherArtifact.json.verified, false);

  // Without the token: 401; a mirror with no verify token configured refuses verification on its public listener.
  const anonymous = await verifyBundle({ bundle, artifactDigest: digest, identity }, 'not-the-token');
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.json.error.code, 'UNAUTHORIZED');
  const closed = await fetch(`${origin.url}/api/v1/verify/bundle`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ bundle, artifactDigest: digest, identity }),
  });
  assert.equal(closed.status, 403);
  assert.equal(((await closed.json()) as { error: { code: string } }).error.code, 'VERIFY_DISABLED');

  // And the trust root really is the origin's, byte for byte through the mirror.
  assert.ok((await get(`${mirror.url}/targets/trusted_root.json`)).body.equals((await get(`${origin.url}/targets/trusted_root.json`)).body));
});
