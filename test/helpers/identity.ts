/**
 * An identity for the policy outputs (cluster-image-policy, kyverno-cluster-policy, the Kubewarden
 * verification config): the Sigstore conformance suite's GitHub Actions signer. Loops over every
 * format pass it to the formats that read it, as options, CLI flags or query parameters.
 */
import { identityUse, type FormatName } from '../../trust/formats';
import type { IdentityOptions } from '../../trust/identity';

export const ISSUER = 'https://token.actions.githubusercontent.com';
export const SUBJECT = 'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
export const IMAGE = 'registry.example.com/team/**';

/** What `format` reads of ISSUER, SUBJECT and IMAGE (nothing for a format that reads no identity). */
export function identityFor(format: FormatName): IdentityOptions | undefined {
  const use = identityUse(format);
  if (!use.identity) return undefined;
  return { issuer: ISSUER, subjects: [SUBJECT], ...(use.images ? { images: [IMAGE] } : {}) };
}

/** The same as `tuf-mirror trustroot` flags. */
export function identityArgs(format: FormatName): string[] {
  const i = identityFor(format);
  return i ? ['--issuer', i.issuer!, '--subject', i.subjects![0], ...(i.images ? ['--image', i.images[0]] : [])] : [];
}

/** The same as query parameters (with a leading &), or ''. */
export function identityQuery(format: FormatName): string {
  const i = identityFor(format);
  if (!i) return '';
  const q = new URLSearchParams({ issuer: i.issuer!, subject: i.subjects![0], ...(i.images ? { image: i.images[0] } : {}) });
  return `&${q.toString()}`;
}
