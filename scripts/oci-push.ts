/**
 * A minimal OCI distribution push client (blobs, manifests, a Sigstore bundle as a referrer) for a
 * registry on plain HTTP: the demo image of the README walkthrough and the registry tests use it.
 */
import { createHash } from 'node:crypto';

export const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export type Descriptor = { digest: string; size: number; mediaType: string };

export async function pushBlob(registry: string, repository: string, bytes: Buffer | string): Promise<{ digest: string; size: number }> {
  const body = Buffer.from(bytes);
  const digest = sha256(body);
  const start = await fetch(`${registry}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
  if (start.status !== 202) throw new Error(`blob upload start: ${start.status} ${await start.text()}`);
  const location = new URL(start.headers.get('location') ?? '', registry);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body });
  if (put.status !== 201) throw new Error(`blob upload: ${put.status} ${await put.text()}`);
  return { digest, size: body.length };
}

/** Push the exact bytes given (or the JSON of an object); the digest is of those bytes. */
export async function pushManifest(registry: string, repository: string, reference: string, manifest: object | Buffer): Promise<Descriptor> {
  const body = Buffer.isBuffer(manifest) ? manifest : Buffer.from(JSON.stringify(manifest));
  const mediaType = (JSON.parse(body.toString()) as { mediaType: string }).mediaType;
  const res = await fetch(`${registry}/v2/${repository}/manifests/${reference}`, { method: 'PUT', headers: { 'content-type': mediaType }, body });
  if (res.status !== 201) throw new Error(`manifest push ${repository}:${reference}: ${res.status} ${await res.text()}`);
  return { digest: sha256(body), size: body.length, mediaType };
}

/**
 * A Sigstore bundle as an OCI 1.1 referrer of `subject`, plus the referrers-tag fallback index
 * at `sha256-<hex>` (registries without the referrers API, Docker's distribution 2.8 among them).
 */
export async function pushBundleReferrer(registry: string, repository: string, subject: Descriptor, bundle: object | Buffer): Promise<string> {
  const empty = await pushBlob(registry, repository, '{}');
  const blob = await pushBlob(registry, repository, Buffer.isBuffer(bundle) ? bundle : JSON.stringify(bundle));
  const artifactType = 'application/vnd.dev.sigstore.bundle.v0.3+json';
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType,
    config: { mediaType: 'application/vnd.oci.empty.v1+json', ...empty },
    layers: [{ mediaType: artifactType, ...blob }],
    subject,
  };
  const pushed = await pushManifest(registry, repository, sha256(JSON.stringify(manifest)), manifest);
  await pushManifest(registry, repository, subject.digest.replace(':', '-'), {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: pushed.mediaType, digest: pushed.digest, size: pushed.size, artifactType }],
  });
  return pushed.digest;
}
