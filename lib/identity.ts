import type { X509Certificate } from '@sigstore/core';

/** Who a Fulcio certificate was issued to, read from its SAN and Fulcio extensions. */
export type CertIdentity = {
  /** The SAN: a URI (workflows, SPIFFE ids) or an email address. */
  subject: string | undefined;
  issuer: string | undefined;
  /** `owner/repo` from the GitHub extensions (Source Repository URI, or the legacy Workflow Repository). */
  githubRepository?: string;
  githubWorkflowRef?: string;
  githubSha?: string;
};

// Fulcio's OIDs: the first generation holds raw strings, the second DER UTF8Strings.
const OID = {
  issuerV1: '1.3.6.1.4.1.57264.1.1',
  workflowShaV1: '1.3.6.1.4.1.57264.1.3',
  workflowRepositoryV1: '1.3.6.1.4.1.57264.1.5',
  workflowRefV1: '1.3.6.1.4.1.57264.1.6',
  issuerV2: '1.3.6.1.4.1.57264.1.8',
  sourceRepositoryUri: '1.3.6.1.4.1.57264.1.12',
  sourceRepositoryDigest: '1.3.6.1.4.1.57264.1.13',
  sourceRepositoryRef: '1.3.6.1.4.1.57264.1.14',
};

function rawExtension(cert: X509Certificate, oid: string): string | undefined {
  return cert.extension(oid)?.value.toString('utf8');
}

function derExtension(cert: X509Certificate, oid: string): string | undefined {
  const ext = cert.extension(oid);
  if (!ext) return undefined;
  try {
    return ext.valueObj.subs[0]?.value.toString('utf8');
  } catch {
    return undefined;
  }
}

export function certIdentity(cert: X509Certificate): CertIdentity {
  const issuer = derExtension(cert, OID.issuerV2) ?? rawExtension(cert, OID.issuerV1);
  const sourceUri = derExtension(cert, OID.sourceRepositoryUri);
  const fromUri = sourceUri ? /^https:\/\/github\.com\/([^/]+\/[^/]+)$/.exec(sourceUri)?.[1] : undefined;
  const githubRepository = fromUri ?? rawExtension(cert, OID.workflowRepositoryV1);
  return {
    subject: cert.subjectAltName,
    issuer,
    ...(githubRepository ? { githubRepository } : {}),
    ...(() => {
      const ref = derExtension(cert, OID.sourceRepositoryRef) ?? rawExtension(cert, OID.workflowRefV1);
      return ref ? { githubWorkflowRef: ref } : {};
    })(),
    ...(() => {
      const sha = derExtension(cert, OID.sourceRepositoryDigest) ?? rawExtension(cert, OID.workflowShaV1);
      return sha ? { githubSha: sha } : {};
    })(),
  };
}

/** Exact comparison, or a prefix that must end at a `/` (so `…/acme/` never matches `…/acme-evil/`). */
export type SubjectMatcher = { equal: string } | { urlPrefix: string };

export function urlPrefixWithSlash(prefix: string): string {
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

export function subjectMatches(matcher: SubjectMatcher, subject: string | undefined): boolean {
  if (subject === undefined) return false;
  if ('equal' in matcher) return subject === matcher.equal;
  return subject.startsWith(urlPrefixWithSlash(matcher.urlPrefix));
}

export function describeMatcher(matcher: SubjectMatcher): string {
  return 'equal' in matcher ? `= ${matcher.equal}` : `starts with ${urlPrefixWithSlash(matcher.urlPrefix)}`;
}
