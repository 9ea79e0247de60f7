import type { KeyObject } from 'node:crypto';
import { asRejection, BundleRejected, verifyBundle, type VerifiedSigner } from './bundle';
import { sha256 } from '../lib/signature';
import type { TrustRoot } from './trust-root';

/**
 * cosign's "simple signing" image signatures (the `sha256-<hex>.sig` tag scheme): each layer of
 * the `.sig` manifest is a JSON payload naming the image digest, with the signature, certificate,
 * chain, Rekor bundle (SET) and RFC 3161 timestamp in the layer's annotations. Each is converted
 * into the Sigstore bundle it is equivalent to (as cosign itself does) and verified with
 * @sigstore/verify; the payload's claims are checked here.
 */

export const ANNOTATION = {
  signature: 'dev.cosignproject.cosign/signature',
  certificate: 'dev.sigstore.cosign/certificate',
  chain: 'dev.sigstore.cosign/chain',
  bundle: 'dev.sigstore.cosign/bundle',
  rfc3161: 'dev.sigstore.cosign/rfc3161timestamp',
} as const;
export const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';

/** One `.sig` layer: the payload blob and its descriptor's annotations. */
export type CosignSignature = { payload: Buffer; annotations: Record<string, string> };

export type SimpleSigningPayload = {
  critical: { identity?: { 'docker-reference'?: string }; image: { 'docker-manifest-digest': string }; type: string };
  optional?: Record<string, unknown> | null;
};

export type VerifiedCosign = VerifiedSigner & { annotations: Record<string, string>; dockerReference?: string };

/** Parse and check a simple-signing payload against the digest being verified. */
export function checkPayload(payload: Buffer, digest: string): SimpleSigningPayload {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new BundleRejected('MALFORMED_PAYLOAD', 'the signed payload is not JSON');
  }
  // As signed: any JSON. Only the fields checked below are relied on.
  const p = parsed as { critical?: { image?: { 'docker-manifest-digest'?: unknown } | null; type?: unknown } | null } | null;
  const claimed = p?.critical?.image?.['docker-manifest-digest'];
  if (typeof claimed !== 'string') throw new BundleRejected('MALFORMED_PAYLOAD', 'the signed payload has no critical.image.docker-manifest-digest');
  const type = p?.critical?.type;
  if (type !== 'cosign container image signature') {
    throw new BundleRejected('MALFORMED_PAYLOAD', `the signed payload's critical.type is ${JSON.stringify(type)}, not "cosign container image signature"`);
  }
  if (claimed !== digest) throw new BundleRejected('DIGEST_MISMATCH', `the signature is for ${claimed}, not ${digest}`);
  return parsed as SimpleSigningPayload;
}

function pemToDer(pem: string): Buffer[] {
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) => Buffer.from(m[1].replace(/\s+/g, ''), 'base64'));
}

/** The Sigstore bundle (v0.1 JSON) equivalent to a cosign signature layer. */
export function toSigstoreBundle(sig: CosignSignature): Record<string, unknown> {
  const a = sig.annotations;
  const signature = a[ANNOTATION.signature];
  if (!signature) throw new BundleRejected('MALFORMED_SIGNATURE', `no ${ANNOTATION.signature} annotation`);
  let verificationMaterial: Record<string, unknown>;
  if (a[ANNOTATION.certificate]) {
    const leaf = pemToDer(a[ANNOTATION.certificate]).at(0);
    if (!leaf) throw new BundleRejected('MALFORMED_SIGNATURE', `${ANNOTATION.certificate} holds no PEM certificate`);
    // Only the leaf: the chain to a CA must come from the trust root, never from the signature.
    verificationMaterial = { x509CertificateChain: { certificates: [{ rawBytes: leaf.toString('base64') }] } };
  } else {
    verificationMaterial = { publicKey: { hint: '' } };
  }
  const tlogEntries: unknown[] = [];
  if (a[ANNOTATION.bundle]) {
    let rekor: { SignedEntryTimestamp?: string; Payload?: { body?: string; integratedTime?: number; logIndex?: number; logID?: string } };
    try {
      rekor = JSON.parse(a[ANNOTATION.bundle]) as typeof rekor;
    } catch {
      throw new BundleRejected('MALFORMED_SIGNATURE', `${ANNOTATION.bundle} is not JSON`);
    }
    const p = rekor.Payload;
    if (!rekor.SignedEntryTimestamp || !p?.body || p.integratedTime === undefined || p.logIndex === undefined || !p.logID) {
      throw new BundleRejected('MALFORMED_SIGNATURE', `${ANNOTATION.bundle} lacks SignedEntryTimestamp, body, integratedTime, logIndex or logID`);
    }
    let body: { kind?: string; apiVersion?: string };
    try {
      body = JSON.parse(Buffer.from(p.body, 'base64').toString('utf8')) as typeof body;
    } catch {
      throw new BundleRejected('MALFORMED_SIGNATURE', 'the Rekor entry body is not JSON');
    }
    tlogEntries.push({
      logIndex: String(p.logIndex),
      logId: { keyId: Buffer.from(p.logID, 'hex').toString('base64') },
      kindVersion: { kind: body.kind, version: body.apiVersion },
      integratedTime: String(p.integratedTime),
      inclusionPromise: { signedEntryTimestamp: rekor.SignedEntryTimestamp },
      canonicalizedBody: p.body,
    });
  }
  const timestamps: unknown[] = [];
  if (a[ANNOTATION.rfc3161]) {
    try {
      const ts = JSON.parse(a[ANNOTATION.rfc3161]) as { SignedRFC3161Timestamp?: string };
      if (ts.SignedRFC3161Timestamp) timestamps.push({ signedTimestamp: ts.SignedRFC3161Timestamp });
    } catch {
      throw new BundleRejected('MALFORMED_SIGNATURE', `${ANNOTATION.rfc3161} is not JSON`);
    }
  }
  return {
    mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
    verificationMaterial: { ...verificationMaterial, tlogEntries, ...(timestamps.length ? { timestampVerificationData: { rfc3161Timestamps: timestamps } } : {}) },
    messageSignature: {
      messageDigest: { algorithm: 'SHA2_256', digest: sha256(sig.payload).toString('base64') },
      signature,
    },
  };
}

/**
 * Verify one cosign signature of `digest`. A signature with a certificate is checked as keyless
 * (Fulcio chain + SCT from the trust root, and a verified time: Rekor SET or RFC 3161); every
 * signature is also checked against `keys` (the policy's pubKey and certificate keys), as
 * `cosign verify --key` does. A Rekor SET, when present, must verify either way. Returns what
 * verified (keyless and/or keyed); throws the reason when nothing did.
 */
export function verifyCosignSignature(sig: CosignSignature, digest: string, trustRoot: TrustRoot, keys: KeyObject[]): VerifiedCosign[] {
  const payload = checkPayload(sig.payload, digest);
  const bundle = toSigstoreBundle(sig);
  const keyless = 'x509CertificateChain' in (bundle.verificationMaterial as object);
  if (!keyless && keys.length === 0) throw new BundleRejected('NO_KEY', 'signed with a key, and the policy names no pubKey');
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(payload.optional ?? {})) annotations[k] = typeof v === 'string' ? v : JSON.stringify(v);
  const extra = { annotations, dockerReference: payload.critical.identity?.['docker-reference'] };
  const out: VerifiedCosign[] = [];
  let keylessError: BundleRejected | undefined;
  let keyedError: BundleRejected | undefined;
  if (keyless) {
    try {
      out.push({ ...verifyBundle(bundle, { trustRoot, artifact: { kind: 'bytes', bytes: sig.payload }, expect: { kind: 'certificate' }, tlogThreshold: 0, timestampThreshold: 1 }), ...extra });
    } catch (err) {
      keylessError = asRejection(err);
    }
  }
  if (keys.length) {
    const keyed = { ...bundle, verificationMaterial: { ...(bundle.verificationMaterial as object), x509CertificateChain: undefined, publicKey: { hint: '' } } };
    try {
      out.push({
        ...verifyBundle(keyed, { trustRoot, artifact: { kind: 'bytes', bytes: sig.payload }, expect: { kind: 'key', keys }, tlogThreshold: 0, timestampThreshold: 0 }),
        kind: 'key',
        identity: undefined,
        ...extra,
      });
    } catch (err) {
      keyedError = asRejection(err);
    }
  }
  if (out.length) return out;
  // The most telling reason: the keyless one for a certificate signature, else the keyed one.
  // Each way tried left its error; a keyless signature with no keys was tried keyless only.
  throw (keyless ? keylessError : keyedError) ?? keyedError ?? new BundleRejected('VERIFICATION_ERROR', 'no signature verified');
}

/** The `\x00sigstore-json\n` + JSON form containers/image stores signatures in (its `dir:` layout). */
export function fromContainersImageSignature(bytes: Buffer): CosignSignature {
  const prefix = Buffer.from('\x00sigstore-json\n');
  if (!bytes.subarray(0, prefix.length).equals(prefix)) throw new BundleRejected('MALFORMED_SIGNATURE', 'not a containers/image sigstore-json signature');
  const json = JSON.parse(bytes.subarray(prefix.length).toString('utf8')) as { mimeType?: string; payload: string; annotations?: Record<string, string> };
  return { payload: Buffer.from(json.payload, 'base64'), annotations: json.annotations ?? {} };
}
