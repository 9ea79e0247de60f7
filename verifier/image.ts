import { asRejection, parseBundle, verifyBundle } from './bundle';
import { ResultCache } from './cache';
import { SIMPLE_SIGNING, verifyCosignSignature } from './cosign';
import { byteBudget, RegistryError, type RegistryClient, type RepositoryClient } from './oci';
import { evaluatePolicy, policyKeys, type Policy, type VerifiedSignatureFacts } from '../lib/policy';
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
  /** Bytes one verification may fetch from the registry (default: unbounded). */
  maxBytesPerVerification?: number;
  /** Cap on one simple-signing payload (default 64 KiB). */
  maxPayloadBytes?: number;
};

/** What the registry holds about one digest: fetched once per TTL, whatever the policy asking. */
type SignatureMaterial = {
  sigTag: string;
  cosign: { location: string; annotations: Record<string, string>; payload?: Buffer; failure?: string }[];
  referrers: { location: string; bundle?: unknown; failure?: string }[];
  /** Signatures that were listed but not looked at (too many, budget spent). */
  notes: string[];
};

/**
 * "Is this image signed by whom the policy requires, under the trust root we mirror, and which
 * digest was that?" Resolves the reference (tag → digest; an index is verified at the index
 * digest), finds cosign `.sig` signatures and Sigstore bundle referrers (OCI 1.1 API, else the
 * `sha256-<hex>` referrers tag), verifies each, applies the policy.
 *
 * Two caches: what the registry holds per digest (so no policy, however varied, fetches it twice
 * within the TTL), and answers per digest, normalized policy and trust root.
 */
/**
 * Failures of one signature's fetch, and whether the verification's byte budget is spent (after
 * which nothing more is fetched). A registry error other than those is fatal to the whole verification.
 */
class ByteBudget {
  spent = false;

  /** The failure to record for this signature; rethrows what is not one signature's failure. */
  failed(err: unknown): string {
    if (!(err instanceof RegistryError && (err.code === 'RESPONSE_TOO_LARGE' || err.code === 'DIGEST_MISMATCH' || err.code === 'NOT_FOUND'))) throw err;
    const failure = `${err.code}: ${err.message}`;
    this.spent ||= failure.includes('byte budget');
    return failure;
  }
}

/** One referrer's bundle: its manifest (for `subject`), then its first layer, parsed as JSON. */
async function fetchBundle(repo: RepositoryClient, referrer: string, subject: string): Promise<{ bundle: unknown } | { failure: string }> {
  const m = await repo.manifest(referrer);
  if (!m) throw new RegistryError('NOT_FOUND', `referrer ${referrer} is listed but missing`, 404);
  if (m.manifest.subject && m.manifest.subject.digest !== subject) return { failure: `its subject is ${m.manifest.subject.digest}, not ${subject}` };
  const layer = m.manifest.layers?.[0];
  if (!layer) return { failure: 'no bundle layer' };
  const bytes = await repo.blob(layer.digest, undefined, typeof layer.size === 'number' ? layer.size : undefined);
  try {
    return { bundle: JSON.parse(bytes.toString('utf8')) };
  } catch {
    return { failure: 'MALFORMED_BUNDLE: not JSON' };
  }
}

export class ImageVerifier {
  readonly cache: ResultCache<ImageAnswer>;
  private readonly material: ResultCache<SignatureMaterial>;

  constructor(private readonly options: ImageVerifierOptions) {
    this.cache = new ResultCache(options.cacheTtlSeconds * 1000);
    this.material = new ResultCache(options.cacheTtlSeconds * 1000, 1000);
  }

  async verify(image: string, policy: Policy, repository?: string): Promise<ImageAnswer> {
    const ref = parseReference(image);
    const budget = byteBudget(this.options.maxBytesPerVerification ?? Number.MAX_SAFE_INTEGER);
    const repo = this.options.registry.repository(ref, budget); // the allowlist, before any request
    const trustRoot = this.options.trustRoots(repository);
    const pinned = (digest: string): string => formatReference({ registry: ref.registry, repository: ref.repository, digest });
    const keyOf = (digest: string): string => [pinned(digest), policy.fingerprint, trustRoot.source.repository, trustRoot.source.generation, trustRoot.source.sha256].join('\u0000');
    const run = async (digest: string): Promise<ImageAnswer> => {
      const material = await this.material.get(pinned(digest), () => this.fetchMaterial(repo, digest));
      return this.evaluate(material, pinned(digest), digest, policy, trustRoot);
    };
    // Pinned by digest: a cached answer needs no request at all.
    if (ref.digest) {
      const digest = ref.digest;
      return this.cache.get(keyOf(digest), async () => run(await resolve(repo, ref)));
    }
    const digest = await resolve(repo, ref);
    return this.cache.get(keyOf(digest), () => run(digest));
  }

  /** Everything signature-shaped the registry holds for `digest`, within the caps and the byte budget. */
  private async fetchMaterial(repo: RepositoryClient, digest: string): Promise<SignatureMaterial> {
    const sigTag = `${digest.replace(':', '-')}.sig`;
    const out: SignatureMaterial = { sigTag, cosign: [], referrers: [], notes: [] };
    const budget = new ByteBudget();
    await this.fetchCosignLayers(repo, sigTag, out, budget);
    await this.fetchBundleReferrers(repo, digest, out, budget);
    return out;
  }

  /** cosign's signatures: the layers of `sha256-<hex>.sig`, each payload within maxPayloadBytes. */
  private async fetchCosignLayers(repo: RepositoryClient, sigTag: string, out: SignatureMaterial, budget: ByteBudget): Promise<void> {
    const maxPayload = this.options.maxPayloadBytes ?? 64 * 1024;
    const sigManifest = await repo.manifest(sigTag);
    const layers = sigManifest?.manifest.layers ?? [];
    if (layers.length > MAX_SIGNATURE_LAYERS) out.notes.push(`${sigTag}: ${layers.length} layers, only the first ${MAX_SIGNATURE_LAYERS} were checked`);
    for (const [i, layer] of layers.slice(0, MAX_SIGNATURE_LAYERS).entries()) {
      const location = `${sigTag} layer ${i}`;
      const annotations = layer.annotations ?? {};
      if (budget.spent) {
        out.notes.push(`${location}: not examined: the verification's byte budget is spent`);
        continue;
      }
      if (layer.mediaType !== SIMPLE_SIGNING) {
        out.cosign.push({ location, annotations, failure: `not a simple-signing payload (${layer.mediaType})` });
        continue;
      }
      if (typeof layer.size === 'number' && layer.size > maxPayload) {
        out.cosign.push({ location, annotations, failure: `TOO_LARGE: ${layer.size} bytes, larger than the ${maxPayload} bytes a signature payload may have (verifier.maxPayloadBytes); not fetched` });
        continue;
      }
      try {
        out.cosign.push({ location, annotations, payload: await repo.blob(layer.digest, maxPayload, typeof layer.size === 'number' ? layer.size : undefined) });
      } catch (err) {
        out.cosign.push({ location, annotations, failure: budget.failed(err) });
      }
    }
  }

  /** Sigstore bundles as OCI 1.1 referrers of `digest` (or the referrers tag fallback). */
  private async fetchBundleReferrers(repo: RepositoryClient, digest: string, out: SignatureMaterial, budget: ByteBudget): Promise<void> {
    let referrers = budget.spent ? [] : await repo.referrers(digest, BUNDLE_ARTIFACT_TYPE);
    if (referrers === undefined) {
      const fallback = await repo.manifest(digest.replace(':', '-'));
      referrers = (fallback?.manifest.manifests ?? []).filter((d) => d.artifactType === BUNDLE_ARTIFACT_TYPE);
    }
    referrers = referrers.filter((d) => d.artifactType === undefined || d.artifactType === BUNDLE_ARTIFACT_TYPE);
    if (referrers.length > MAX_REFERRERS) out.notes.push(`${referrers.length} bundle referrers, only the first ${MAX_REFERRERS} were checked`);
    for (const d of referrers.slice(0, MAX_REFERRERS)) {
      const location = `referrer ${d.digest}`;
      if (budget.spent) {
        out.notes.push(`${location}: not examined: the verification's byte budget is spent`);
        continue;
      }
      try {
        out.referrers.push({ location, ...(await fetchBundle(repo, d.digest, digest)) });
      } catch (err) {
        out.referrers.push({ location, failure: budget.failed(err) });
      }
    }
  }

  /** The policy applied to what was fetched: pure, no request. */
  private evaluate(material: SignatureMaterial, image: string, digest: string, policy: Policy, trustRoot: TrustRoot): ImageAnswer {
    const found: FoundSignature[] = [];
    const failures: string[] = [];
    const keys = policyKeys(policy);
    for (const sig of material.cosign) {
      if (!sig.payload) {
        failures.push(`${sig.location}: ${String(sig.failure)}`);
        continue;
      }
      try {
        for (const v of verifyCosignSignature({ payload: sig.payload, annotations: sig.annotations }, digest, trustRoot, keys)) {
          const log = v.tlogEntries.at(0);
          found.push({
            source: 'cosign',
            location: sig.location,
            keyId: v.keyId,
            identity: v.identity,
            kind: v.kind,
            annotations: v.annotations,
            logIndex: log?.logIndex ?? null,
            integratedTime: log?.integratedTime ?? null,
          });
        }
      } catch (err) {
        const r = asRejection(err);
        failures.push(`${sig.location}: ${r.code}: ${r.message}`);
      }
    }
    for (const ref of material.referrers) {
      if (ref.bundle === undefined) {
        failures.push(`${ref.location}: ${String(ref.failure)}`);
        continue;
      }
      try {
        const bundle = parseBundle(ref.bundle);
        const managed = bundle.verificationMaterial.content.$case === 'publicKey';
        const v = verifyBundle(bundle, {
          trustRoot,
          artifact: { kind: 'digest', algorithm: 'sha256', digest: Buffer.from(digest.slice('sha256:'.length), 'hex') },
          expect: managed ? { kind: 'key', keys } : { kind: 'certificate' },
        });
        const log = v.tlogEntries.at(0);
        found.push({
          source: 'referrer',
          location: ref.location,
          keyId: v.keyId,
          identity: v.identity,
          kind: v.kind,
          annotations: {},
          logIndex: log?.logIndex ?? null,
          integratedTime: log?.integratedTime ?? null,
        });
      } catch (err) {
        const r = asRejection(err);
        failures.push(`${ref.location}: ${r.code}: ${r.message}`);
      }
    }
    failures.push(...material.notes);

    const trust = trustRoot.source;
    if (material.cosign.length + material.referrers.length === 0) {
      return { verified: false, digest, image, reasons: [`no signatures found for ${digest}: no ${material.sigTag} tag and no Sigstore bundle referrers`, ...material.notes], trustRoot: trust };
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
  // parseReference gives a reference without a digest the tag latest.
  const reference = ref.digest ?? ref.tag ?? 'latest';
  const m = await repo.manifest(reference);
  if (!m) throw new RegistryError('NOT_FOUND', `${formatReference(ref)}: no such manifest in ${ref.registry}`, 404);
  return m.digest;
}
