import { asRejection, parseBundle, verifyBundle } from './bundle';
import { ResultCache } from './cache';
import { SIMPLE_SIGNING, verifyCosignSignature } from './cosign';
import { RegistryError, type RegistryClient, type RepositoryClient } from './oci';
import { evaluatePolicy, policyKeys, type Policy, type VerifiedSignatureFacts } from './policy';
import { formatReference, parseReference, type ImageReference } from './reference';
import type { TrustRoot, TrustRootProvider, TrustRootSource } from './trust-root';

export const BUNDLE_ARTIFACT_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** A registry cannot make one verification fetch without end: signatures beyond these are not looked at. */
export const MAX_SIGNATURE_LAYERS = 32;
export const MAX_REFERRERS = 32;

/** A signature that verified cryptographically, where it was found and what it proves. */
export type FoundSignature = VerifiedSignatureFacts & {
  source: 'cosign' | 'referrer';
  /** `sha256-<hex>.sig layer 0`, `referrer sha256:…`. */
  location: string;
  logIndex: number | null;
  integratedTime: string | null;
};

export type MatchedSignature = {
  /** The policy entry it satisfied: `allOf[0]`, `anyOf.signatures[1]`. */
  entry: string;
  kind: 'pubKey' | 'genericIssuer' | 'githubAction' | 'certificate';
  source: FoundSignature['source'];
  location: string;
  /** Certificate identity (keyless) … */
  identity?: { subject?: string; issuer?: string; githubRepository?: string };
  /** … or key id (sha256 of the SPKI). */
  keyId?: string;
  logIndex: number | null;
  integratedTime: string | null;
};

export type ImageAnswer =
  | { verified: true; digest: string; image: string; signatures: MatchedSignature[]; trustRoot: TrustRootSource }
  | { verified: false; digest: string; image: string; reasons: string[]; trustRoot: TrustRootSource };

export type ImageVerifierOptions = {
  registry: RegistryClient;
  trustRoots: TrustRootProvider;
  cacheTtlSeconds: number;
};

/**
 * "Is this image signed by whom the policy requires, under the trust root we mirror, and which
 * digest was that?" Resolves the reference (tag → digest; an index is verified at the index
 * digest), finds cosign `.sig` signatures and Sigstore bundle referrers (OCI 1.1 API, else the
 * `sha256-<hex>` referrers tag), verifies each, applies the policy.
 */
export class ImageVerifier {
  readonly cache: ResultCache<ImageAnswer>;

  constructor(private readonly options: ImageVerifierOptions) {
    this.cache = new ResultCache(options.cacheTtlSeconds * 1000);
  }

  async verify(image: string, policy: Policy, repository?: string): Promise<ImageAnswer> {
    const ref = parseReference(image);
    const repo = this.options.registry.repository(ref); // the allowlist, before any request
    const trustRoot = this.options.trustRoots(repository);
    const keyOf = (digest: string): string =>
      [formatReference({ registry: ref.registry, repository: ref.repository, digest }), policy.fingerprint, trustRoot.source.repository, trustRoot.source.generation, trustRoot.source.sha256].join('\u0000');
    const run = (digest: string): Promise<ImageAnswer> =>
      this.check(repo, formatReference({ registry: ref.registry, repository: ref.repository, digest }), digest, policy, trustRoot);
    // Pinned by digest: a cached answer needs no request at all.
    if (ref.digest) {
      const digest = ref.digest;
      return this.cache.get(keyOf(digest), async () => run(await resolve(repo, ref)));
    }
    const digest = await resolve(repo, ref);
    return this.cache.get(keyOf(digest), () => run(digest));
  }

  private async check(repo: RepositoryClient, image: string, digest: string, policy: Policy, trustRoot: TrustRoot): Promise<ImageAnswer> {
    const found: FoundSignature[] = [];
    const failures: string[] = [];
    const keys = policyKeys(policy);
    let seen = 0;

    // cosign: sha256-<hex>.sig
    const sigTag = `${digest.replace(':', '-')}.sig`;
    const sigManifest = await repo.manifest(sigTag);
    const layers = sigManifest?.manifest.layers ?? [];
    if (layers.length > MAX_SIGNATURE_LAYERS) failures.push(`${sigTag}: ${layers.length} layers, only the first ${MAX_SIGNATURE_LAYERS} were checked`);
    for (const [i, layer] of layers.slice(0, MAX_SIGNATURE_LAYERS).entries()) {
      const location = `${sigTag} layer ${i}`;
      seen++;
      if (layer.mediaType !== SIMPLE_SIGNING) {
        failures.push(`${location}: not a simple-signing payload (${layer.mediaType})`);
        continue;
      }
      try {
        const payload = await repo.blob(layer.digest);
        for (const v of verifyCosignSignature({ payload, annotations: layer.annotations ?? {} }, digest, trustRoot, keys)) {
          const log = v.tlogEntries[0];
          found.push({ source: 'cosign', location, keyId: v.keyId, identity: v.identity, kind: v.kind, annotations: v.annotations, logIndex: log?.logIndex ?? null, integratedTime: log?.integratedTime ?? null });
        }
      } catch (err) {
        if (err instanceof RegistryError) throw err;
        const r = asRejection(err);
        failures.push(`${location}: ${r.code}: ${r.message}`);
      }
    }

    // Sigstore bundles as OCI 1.1 referrers (or the referrers tag fallback).
    let referrers = await repo.referrers(digest, BUNDLE_ARTIFACT_TYPE);
    if (referrers === undefined) {
      const fallback = await repo.manifest(digest.replace(':', '-'));
      referrers = (fallback?.manifest.manifests ?? []).filter((d) => d.artifactType === BUNDLE_ARTIFACT_TYPE);
    }
    referrers = referrers.filter((d) => d.artifactType === undefined || d.artifactType === BUNDLE_ARTIFACT_TYPE);
    if (referrers.length > MAX_REFERRERS) failures.push(`${referrers.length} bundle referrers, only the first ${MAX_REFERRERS} were checked`);
    for (const d of referrers.slice(0, MAX_REFERRERS)) {
      const location = `referrer ${d.digest}`;
      seen++;
      try {
        const m = await repo.manifest(d.digest);
        if (!m) throw new RegistryError('NOT_FOUND', `referrer ${d.digest} is listed but missing`, 404);
        if (m.manifest.subject && m.manifest.subject.digest !== digest) {
          failures.push(`${location}: its subject is ${m.manifest.subject.digest}, not ${digest}`);
          continue;
        }
        const layer = m.manifest.layers?.[0];
        if (!layer) {
          failures.push(`${location}: no bundle layer`);
          continue;
        }
        const bytes = await repo.blob(layer.digest);
        let json: unknown;
        try {
          json = JSON.parse(bytes.toString('utf8'));
        } catch {
          failures.push(`${location}: MALFORMED_BUNDLE: not JSON`);
          continue;
        }
        const bundle = parseBundle(json);
        const managed = bundle.verificationMaterial.content.$case === 'publicKey';
        const v = verifyBundle(bundle, {
          trustRoot,
          artifact: { kind: 'digest', algorithm: 'sha256', digest: Buffer.from(digest.slice('sha256:'.length), 'hex') },
          expect: managed ? { kind: 'key', keys } : { kind: 'certificate' },
        });
        const log = v.tlogEntries[0];
        found.push({ source: 'referrer', location, keyId: v.keyId, identity: v.identity, kind: v.kind, annotations: {}, logIndex: log?.logIndex ?? null, integratedTime: log?.integratedTime ?? null });
      } catch (err) {
        if (err instanceof RegistryError) throw err;
        const r = asRejection(err);
        failures.push(`${location}: ${r.code}: ${r.message}`);
      }
    }

    const trust = trustRoot.source;
    if (seen === 0) {
      return { verified: false, digest, image, reasons: [`no signatures found for ${digest}: no ${sigTag} tag and no Sigstore bundle referrers`], trustRoot: trust };
    }
    const outcome = evaluatePolicy(policy, found);
    if (!outcome.verified) {
      return { verified: false, digest, image, reasons: [...outcome.reasons, ...failures], trustRoot: trust };
    }
    const signatures: MatchedSignature[] = outcome.matches.map((m) => ({
      entry: m.entry,
      kind: m.kind,
      source: m.signature.source,
      location: m.signature.location,
      ...(m.signature.kind === 'certificate'
        ? {
            identity: {
              subject: m.signature.identity?.subject,
              issuer: m.signature.identity?.issuer,
              ...(m.signature.identity?.githubRepository ? { githubRepository: m.signature.identity.githubRepository } : {}),
            },
          }
        : { keyId: m.signature.keyId }),
      logIndex: m.signature.logIndex,
      integratedTime: m.signature.integratedTime,
    }));
    return { verified: true, digest, image, signatures, trustRoot: trust };
  }
}

async function resolve(repo: RepositoryClient, ref: ImageReference): Promise<string> {
  const reference = ref.digest ?? ref.tag!;
  const m = await repo.manifest(reference);
  if (!m) throw new RegistryError('NOT_FOUND', `${formatReference(ref)}: no such manifest in ${ref.registry}`, 404);
  return m.digest;
}
