import { p256, p384, p521 } from '@noble/curves/nist';
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';

/** What was signed: the bytes themselves, or only their sha256 digest. */
export type Artifact = { kind: 'bytes'; bytes: Buffer } | { kind: 'digest'; algorithm: 'sha256'; digest: Buffer };

export const sha256 = (bytes: Uint8Array | string): Buffer => createHash('sha256').update(bytes).digest();

/** `sha256:<64 hex>` → digest bytes, else undefined. */
export function parseDigest(value: string): Buffer | undefined {
  const m = /^sha256:([0-9a-f]{64})$/.exec(value);
  return m ? Buffer.from(m[1], 'hex') : undefined;
}

export function artifactDigest(artifact: Artifact): Buffer {
  return artifact.kind === 'bytes' ? sha256(artifact.bytes) : artifact.digest;
}

const CURVES = { prime256v1: p256, secp384r1: p384, secp521r1: p521 } as const;

/**
 * ECDSA verification over a digest someone else computed: node:crypto only verifies over a
 * message it hashes itself, so the curve arithmetic comes from @noble/curves. Ed25519 and RSA
 * keys cannot be checked this way; false with a reason is returned then.
 */
export function verifyEcdsaOverDigest(key: KeyObject, digest: Buffer, signature: Buffer): { ok: boolean; reason?: string } {
  if (key.asymmetricKeyType !== 'ec') {
    return { ok: false, reason: `a ${String(key.asymmetricKeyType)} key cannot be checked against a digest alone; give the artifact itself` };
  }
  const curveName = key.asymmetricKeyDetails?.namedCurve as keyof typeof CURVES | undefined;
  const curve = curveName && CURVES[curveName];
  if (!curve) return { ok: false, reason: `unsupported curve ${curveName ?? 'unknown'}` };
  const { x, y } = key.export({ format: 'jwk' });
  if (x === undefined || y === undefined) return { ok: false, reason: 'the EC key exports no public point' };
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(x, 'base64url'), Buffer.from(y, 'base64url')]);
  try {
    return { ok: curve.verify(signature, digest, point, { prehash: false, lowS: false, format: 'der' }) };
  } catch {
    return { ok: false };
  }
}

/** A PEM public key → KeyObject, or a reason. */
export function parsePublicKey(pem: string): KeyObject {
  try {
    return createPublicKey(pem);
  } catch (err) {
    throw new Error(`not a PEM public key (${(err as Error).message})`);
  }
}

/** sha256 of the DER SubjectPublicKeyInfo, hex: a stable key id. */
export function keyId(key: KeyObject): string {
  return sha256(key.export({ format: 'der', type: 'spki' })).toString('hex');
}
