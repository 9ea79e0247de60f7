/**
 * The parts of a Sigstore `trusted_root.json` (protobuf-specs TrustedRoot, proto3 JSON) that the
 * serializers read, parsed from the verified target bytes. Only shape checks: the bytes were
 * verified against signed TUF metadata before they reached the store.
 */
import { TrustRootError } from './errors';
import type { TargetFile } from './material';

export type TimeRange = { start?: string; end?: string };
export type DistinguishedName = { organization?: string; commonName?: string };

export type CertificateAuthority = {
  subject?: DistinguishedName;
  uri?: string;
  certChain?: { certificates?: { rawBytes: string }[] };
  validFor?: TimeRange;
};

export type TransparencyLog = {
  baseUrl?: string;
  hashAlgorithm?: string;
  publicKey?: { rawBytes?: string; keyDetails?: string; validFor?: TimeRange };
  logId?: { keyId?: string };
};

export type TrustedRoot = {
  mediaType?: string;
  tlogs?: TransparencyLog[];
  ctlogs?: TransparencyLog[];
  certificateAuthorities?: CertificateAuthority[];
  timestampAuthorities?: CertificateAuthority[];
};

export function parseTrustedRoot(target: TargetFile): TrustedRoot {
  let parsed: unknown;
  try {
    parsed = JSON.parse(target.bytes.toString('utf8'));
  } catch (err) {
    throw new TrustRootError('TARGET_INVALID', `${target.name} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const root = parsed as TrustedRoot;
  if (!root || typeof root !== 'object' || !String(root.mediaType ?? '').startsWith('application/vnd.dev.sigstore.trustedroot')) {
    throw new TrustRootError('TARGET_INVALID', `${target.name} is not a Sigstore trusted root (mediaType ${JSON.stringify(root?.mediaType)})`);
  }
  return root;
}

/** A TimeRange holds `now` when it started at or before now and has not ended. */
export function validAt(range: TimeRange | undefined, now: number): boolean {
  const start = range?.start ? Date.parse(range.start) : -Infinity;
  const end = range?.end ? Date.parse(range.end) : Infinity;
  return start <= now && now < end;
}

export const describeRange = (range: TimeRange | undefined): string =>
  `${range?.start ?? 'always'} to ${range?.end ?? 'open'}`;

/** DER (base64) in PEM armour, 64 characters a line, as Go's encoding/pem writes it. */
export function pem(type: 'CERTIFICATE' | 'PUBLIC KEY', derBase64: string): string {
  const body = Buffer.from(derBase64, 'base64').toString('base64');
  const lines = body.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${type}-----\n${lines.join('\n')}\n-----END ${type}-----\n`;
}
