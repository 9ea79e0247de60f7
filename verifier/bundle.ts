import { bundleFromJSON, type Bundle, type TransparencyLogEntry } from '@sigstore/bundle';
import { crypto as sigCrypto, dsse, X509Certificate } from '@sigstore/core';
import { toSignedEntity, Verifier, VerificationError, type SignedEntity, type TrustMaterial } from '@sigstore/verify';
import type { KeyObject } from 'node:crypto';
import { TufMirrorError } from '../lib/errors';
import { certIdentity, type CertIdentity } from '../lib/identity';
import { artifactDigest, keyId, sha256, verifyEcdsaOverDigest, type Artifact } from '../lib/signature';
import { withKeys, type TrustRoot } from './trust-root';

/** One transparency-log entry that vouched for a signature. */
export type LogEntry = { logIndex: number; logId: string; integratedTime: string | null; kind: string };

/** What a verified signature proves: who (a key or a certificate identity), when, where logged. */
export type VerifiedSigner = {
  kind: 'key' | 'certificate';
  /** sha256 of the signing key's SubjectPublicKeyInfo. */
  keyId: string;
  identity?: CertIdentity;
  tlogEntries: LogEntry[];
  /** Verified times (integrated times, RFC 3161 timestamps), ISO 8601. */
  timestamps: string[];
  /** For DSSE bundles: the verified payload. */
  dsse?: { payloadType: string; payload: Buffer };
};

/** The code is @sigstore/verify's (`TLOG_INCLUSION_PROOF_ERROR`, …) or one of ours for what it does not check. */
export class BundleRejected extends TufMirrorError {}

export type BundleCheck = {
  trustRoot: TrustRoot;
  artifact: Artifact;
  /**
   * `key`: the bundle must be signed by one of `keys` (managed keys, no certificate);
   * `certificate`: it must carry a Fulcio certificate chaining to the trust root.
   */
  expect: { kind: 'key'; keys: KeyObject[] } | { kind: 'certificate' };
  /** Defaults of @sigstore/verify: at least one tlog entry, one SCT, one verified timestamp. */
  tlogThreshold?: number;
  ctlogThreshold?: number;
  timestampThreshold?: number;
};

const IN_TOTO = 'application/vnd.in-toto+json';

/** Parse a serialized bundle (JSON object) with @sigstore/bundle's validation. */
export function parseBundle(json: unknown): Bundle {
  try {
    return bundleFromJSON(json);
  } catch (err) {
    throw new BundleRejected('MALFORMED_BUNDLE', `not a valid Sigstore bundle: ${(err as Error).message}`);
  }
}

/**
 * Verify a Sigstore bundle against a trust root, with @sigstore/verify doing the cryptography:
 * certificate chain to a CA valid at the signing time, SCTs against the CT logs, tlog inclusion
 * (SET or proof + checkpoint) against the transparency logs, RFC 3161 timestamps against the
 * TSAs, tlog body against the bundle, signature against the artifact. Identity policy is NOT
 * applied here (see policy.ts): the result says who signed, the caller decides whether it matters.
 *
 * Additions over @sigstore/verify 3: verification against a `sha256:` digest alone (ECDSA over
 * the digest), a check of the artifact against in-toto subjects for DSSE bundles, the explicit
 * messageDigest/artifact comparison, and Rekor v2's hashedrekord-over-DSSE encoding.
 */
export function verifyBundle(input: unknown, check: BundleCheck): VerifiedSigner {
  const bundle = isParsedBundle(input) ? input : parseBundle(input);
  const vm = bundle.verificationMaterial.content;
  if (check.expect.kind === 'key' && vm.$case !== 'publicKey') {
    throw new BundleRejected('WRONG_KEY_MATERIAL', 'a key was given but the bundle carries a certificate');
  }
  if (check.expect.kind === 'certificate' && vm.$case === 'publicKey') {
    throw new BundleRejected('WRONG_KEY_MATERIAL', 'the bundle is signed with a managed key; give the key (--key / a pubKey policy)');
  }
  if (vm.$case === 'x509CertificateChain') {
    if (vm.x509CertificateChain.certificates.length === 0) throw new BundleRejected('MALFORMED_BUNDLE', 'empty certificate chain');
    // A root must come from the trust root, never from the bundle (conformance: bundle-with-root-cert_fail).
    for (const c of vm.x509CertificateChain.certificates) {
      let cert: X509Certificate;
      try {
        cert = X509Certificate.parse(Buffer.from(c.rawBytes));
      } catch (err) {
        throw new BundleRejected('MALFORMED_BUNDLE', `unparseable certificate in the chain: ${(err as Error).message}`);
      }
      if (cert.isCA && cert.subject.equals(cert.issuer)) {
        throw new BundleRejected('CERTIFICATE_ERROR', "the bundle's certificate chain contains a root certificate");
      }
    }
  }

  const digest = artifactDigest(check.artifact);
  let dssePayload: VerifiedSigner['dsse'];
  if (bundle.content.$case === 'messageSignature') {
    const md = bundle.content.messageSignature.messageDigest;
    // The bundle's messageDigest is what the tlog entry is compared with: it must be the artifact's.
    // (bundleFromJSON refuses a message signature without one.)
    if (md.digest.length > 0 && !md.digest.equals(digest)) {
      throw new BundleRejected('ARTIFACT_MISMATCH', `the artifact's sha256 ${digest.toString('hex')} is not the bundle's messageDigest ${md.digest.toString('hex')}`);
    }
  } else {
    const env = bundle.content.dsseEnvelope;
    if (env.payloadType === IN_TOTO) {
      const subjects = inTotoSubjectDigests(env.payload);
      if (!subjects.includes(digest.toString('hex'))) {
        throw new BundleRejected('ARTIFACT_MISMATCH', `the artifact's sha256 ${digest.toString('hex')} is not a subject of the in-toto statement`);
      }
    } else if (check.artifact.kind === 'bytes' && !check.artifact.bytes.equals(env.payload)) {
      throw new BundleRejected('ARTIFACT_MISMATCH', 'the artifact is not the DSSE payload');
    }
    dssePayload = { payloadType: env.payloadType, payload: Buffer.from(env.payload) };
  }

  const keys = check.expect.kind === 'key' ? check.expect.keys : [undefined];
  if (keys.length === 0) throw new BundleRejected('NO_KEY', 'no key to verify the bundle with');
  let lastError: BundleRejected | undefined;
  for (const key of keys) {
    try {
      const entity = signedEntity(bundle, check.artifact);
      const material: TrustMaterial = key ? withKeys(check.trustRoot, () => ({ publicKey: key, validFor: () => true })) : check.trustRoot.material;
      const verifier = new Verifier(material, {
        tlogThreshold: check.tlogThreshold ?? 1,
        ctlogThreshold: check.ctlogThreshold ?? 1,
        timestampThreshold: check.timestampThreshold ?? 1,
      });
      const signer = verifier.verify(entity);
      const timestamps = verifiedTimes(entity);
      const result: VerifiedSigner = {
        kind: vm.$case === 'publicKey' ? 'key' : 'certificate',
        keyId: keyId(signer.key),
        tlogEntries: bundle.verificationMaterial.tlogEntries.map(logEntry),
        timestamps,
        ...(dssePayload ? { dsse: dssePayload } : {}),
      };
      if (entity.key.$case === 'certificate') result.identity = certIdentity(entity.key.certificate);
      return result;
    } catch (err) {
      lastError = asRejection(err);
    }
  }
  // Every key was tried (there is at least one), so lastError is set.
  throw lastError ?? new BundleRejected('NO_KEY', 'no key to verify the bundle with');
}

function isParsedBundle(x: unknown): x is Bundle {
  return !!x && typeof x === 'object' && 'content' in x && typeof (x as { content?: { $case?: unknown } }).content?.$case === 'string';
}

export function asRejection(err: unknown): BundleRejected {
  if (err instanceof BundleRejected) return err;
  if (err instanceof VerificationError) return new BundleRejected(err.code, err.message);
  return new BundleRejected('VERIFICATION_ERROR', err instanceof Error ? err.message : String(err));
}

function inTotoSubjectDigests(payload: Buffer): string[] {
  try {
    const statement = JSON.parse(payload.toString('utf8')) as { subject?: ({ digest?: { sha256?: string } | null } | null)[] | null };
    return (statement.subject ?? []).map((s) => s?.digest?.sha256?.toLowerCase()).filter((d): d is string => typeof d === 'string');
  } catch {
    throw new BundleRejected('MALFORMED_BUNDLE', 'the DSSE payload is not an in-toto statement');
  }
}

function signedEntity(bundle: Bundle, artifact: Artifact): SignedEntity {
  const entity = toSignedEntity(bundle, artifact.kind === 'bytes' ? artifact.bytes : undefined);
  if (bundle.content.$case === 'messageSignature' && artifact.kind === 'digest') {
    const base = entity.signature;
    entity.signature = {
      signature: base.signature,
      compareSignature: (s) => base.compareSignature(s),
      compareDigest: (d) => base.compareDigest(d),
      verifySignature: (key) => verifyEcdsaOverDigest(key, artifact.digest, base.signature).ok,
    };
  }
  if (bundle.content.$case === 'dsseEnvelope' && bundle.verificationMaterial.tlogEntries.some(isHashedRekordV2)) {
    // Rekor v2's hashedrekord-over-DSSE: the entry holds sha256(PAE(payloadType, payload)).
    const env = bundle.content.dsseEnvelope;
    const base = entity.signature;
    const paeDigest = sha256(dsse.preAuthEncoding(env.payloadType, env.payload));
    entity.signature = {
      signature: base.signature,
      compareSignature: (s) => base.compareSignature(s),
      compareDigest: (d) => sigCrypto.bufferEqual(d, paeDigest),
      verifySignature: (key) => base.verifySignature(key),
    };
  }
  return entity;
}

function isHashedRekordV2(entry: TransparencyLogEntry): boolean {
  return entry.kindVersion.kind === 'hashedrekord' && entry.kindVersion.version === '0.0.2';
}

function logEntry(entry: TransparencyLogEntry): LogEntry {
  const t = entry.integratedTime;
  return {
    logIndex: Number(entry.logIndex),
    logId: entry.logId.keyId.toString('base64'),
    integratedTime: t && t !== '0' ? new Date(Number(t) * 1000).toISOString() : null,
    kind: `${entry.kindVersion.kind}/${entry.kindVersion.version}`,
  };
}

function verifiedTimes(entity: SignedEntity): string[] {
  const out: string[] = [];
  for (const t of entity.timestamps) {
    if (t.$case === 'transparency-log') out.push(new Date(Number(t.tlogEntry.integratedTime) * 1000).toISOString());
    else out.push(t.timestamp.signingTime.toISOString());
  }
  return out;
}

/** The leaf certificate of a bundle, if it has one. */
export function leafCertificate(bundle: Bundle): X509Certificate | undefined {
  const vm = bundle.verificationMaterial.content;
  if (vm.$case === 'certificate') return X509Certificate.parse(Buffer.from(vm.certificate.rawBytes));
  if (vm.$case === 'x509CertificateChain' && vm.x509CertificateChain.certificates[0]) {
    return X509Certificate.parse(Buffer.from(vm.x509CertificateChain.certificates[0].rawBytes));
  }
  return undefined;
}
