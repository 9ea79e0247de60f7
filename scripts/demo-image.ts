/**
 * `node dist/scripts/demo-image.js REGISTRY/REPOSITORY:TAG`: put a really signed image into a
 * local registry, for the README's offline walkthrough (there is no cosign here, and nothing may
 * be fetched). The image is the empty image of test/fixtures/cosign-image-signatures, with its
 * real public-good Sigstore attestation (signed by cody@soyland.com through GitHub's OIDC
 * issuer, logged in public Rekor) attached as an OCI 1.1 referrer and through the referrers-tag
 * fallback. The registry must be on plain HTTP (a local one); the script waits for it to answer.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../lib/paths';
import { pushBlob, pushBundleReferrer, pushManifest } from './oci-push';

export const DEMO_IMAGE_DIR = (): string => path.join(packageRoot(), 'test', 'fixtures', 'cosign-image-signatures', 'oci-attestation-empty-image');
export const DEMO_SIGNER = { subject: 'cody@soyland.com', issuer: 'https://github.com/login/oauth' };

/** Wait for `registry` to answer /v2/ (it may just have been started in the background). */
async function registryUp(registry: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(`${registry}/v2/`);
      await res.body?.cancel();
      if (res.status === 200 || res.status === 401) return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`no registry answers at ${registry}/v2/ (${(err as Error).message})`);
    }
    if (Date.now() > deadline) throw new Error(`the registry at ${registry} does not answer /v2/ with 200`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Push the demo image as `reference` (host:port/repository[:tag]); returns its digest. */
export async function pushDemoImage(reference: string, timeoutMs = 30_000): Promise<string> {
  const m = /^([^/]+)\/([^:@]+)(?::([^@]+))?$/.exec(reference);
  if (!m) throw new Error(`${reference}: expected HOST:PORT/REPOSITORY[:TAG]`);
  const [, host, repository, tag = 'latest'] = m;
  const registry = `http://${host}`;
  await registryUp(registry, timeoutMs);
  const dir = DEMO_IMAGE_DIR();
  await pushBlob(registry, repository, fs.readFileSync(path.join(dir, 'config.json')));
  const image = await pushManifest(registry, repository, tag, fs.readFileSync(path.join(dir, 'manifest.json')));
  await pushBundleReferrer(registry, repository, image, fs.readFileSync(path.join(dir, 'oci-attestation.sigstore.json')));
  return image.digest;
}

if (require.main === module) {
  const reference = process.argv[2];
  if (!reference || process.argv.length > 3) {
    process.stderr.write('usage: node dist/scripts/demo-image.js HOST:PORT/REPOSITORY[:TAG]\n');
    process.exit(2);
  }
  pushDemoImage(reference).then(
    (digest) => process.stdout.write(`pushed ${reference} (${digest}) with its public-good attestation as a referrer: signed by ${DEMO_SIGNER.subject}, issuer ${DEMO_SIGNER.issuer}\n`),
    (err: unknown) => {
      process.stderr.write(`demo-image: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
