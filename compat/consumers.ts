/**
 * What each consumer of the trust material is known to accept, as data: the gate (compat/gate.ts),
 * the watch and the trust-root outputs (trust/) all read it here, so they say the same thing.
 *
 * Sources: policy-controller's TrustRoot reconciler (pkg/reconciler/trustroot, main as of
 * 2026-08) turns every shape of TrustRoot (remote, repository, sigstoreKeys) into its
 * SigstoreKeys and refuses the whole TrustRoot when a Rekor (tlog) key is not an
 * `*ecdsa.PublicKey` ("public key N is not ecdsa.PublicKey"); its CT log keys may be any PKIX key.
 * sigstore-js (@sigstore/verify, this service's own verifier) and sigstore-go (cosign 2.4+,
 * Kyverno) load ECDSA, Ed25519 and RSA log keys.
 */
import { createPublicKey } from 'node:crypto';

/** Node's name for a key type: `ec`, `ed25519`, `rsa` …; `unparseable` for bytes that are no SPKI key. */
export function spkiKeyType(der: Uint8Array | undefined): string {
  try {
    return createPublicKey({ key: Buffer.from(der ?? []), format: 'der', type: 'spki' }).asymmetricKeyType ?? 'unknown';
  } catch {
    return 'unparseable';
  }
}

export type Consumer = {
  name: string;
  /** The tuf-mirror outputs (trustroot --format) made for it. */
  outputs: string[];
  /** Rekor key types it accepts; undefined: every type Sigstore uses. */
  tlogKeyTypes?: string[];
  /** What happens to a log it cannot take, in its own words. */
  refusal: string;
};

export const CONSUMERS: Consumer[] = [
  {
    name: 'policy-controller',
    outputs: ['remote', 'repository', 'sigstore-keys'],
    tlogKeyTypes: ['ec'],
    refusal:
      'its TrustRoot reconciler takes ECDSA Rekor keys only and refuses the whole TrustRoot otherwise ("public key N is not ecdsa.PublicKey"): --format sigstore-keys leaves the log out, remote and repository TrustRoots will not become Ready',
  },
];

/** Whether `consumer` takes a Rekor log whose key is of `keyType`. */
export const acceptsTlogKey = (consumer: Consumer, keyType: string): boolean => !consumer.tlogKeyTypes || consumer.tlogKeyTypes.includes(keyType);

export const POLICY_CONTROLLER = CONSUMERS[0];
