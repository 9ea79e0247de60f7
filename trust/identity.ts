/**
 * Who may sign, as the identity flags say it (`--issuer`, `--subject`, `--subject-regexp`,
 * `--subject-url-prefix`, `--image`), checked once and then written in each consumer's words:
 * a ClusterImagePolicy's `identities`, a Kyverno keyless attestor, a Kubewarden verification
 * config. A missing or malformed identity is the caller's to fix (usage, exit 2, HTTP 400): an
 * output that admits the wrong signer, or nobody, is worse than none.
 */
import { TrustRootError } from './errors';

/** The flags as given (CLI options, repeated query parameters). */
export type IdentityOptions = {
  issuer?: string;
  subjects?: string[];
  subjectRegexps?: string[];
  subjectUrlPrefixes?: string[];
  images?: string[];
};

/** How a certificate's subject (its SAN) must match. */
export type SubjectMatch = { kind: 'equal'; value: string } | { kind: 'regexp'; value: string } | { kind: 'urlPrefix'; value: string };

export type Identity = {
  /** The OIDC issuer, exactly as the certificate carries it (compared byte for byte). */
  issuer: string;
  /** Any one of them admits a signature. */
  subjects: SubjectMatch[];
};

// Printable, no spaces: what lands in YAML and in policy engines' string comparisons.
const PRINTABLE = /^[\x21-\x7e]+$/;
const MAX_LENGTH = 1024;
/** Registry, repository, tag and digest characters, and the glob characters consumers know. */
const IMAGE_GLOB = /^[A-Za-z0-9._:@/*?[\]-]+$/;

const invalid = (message: string): TrustRootError => new TrustRootError('INVALID_IDENTITY', message);

function checkUrl(value: string, flag: string): string {
  if (!PRINTABLE.test(value) || value.length > MAX_LENGTH) throw invalid(`${flag} "${value}" must be printable, without spaces, at most ${MAX_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(`${flag} "${value}" is not an absolute URL`);
  }
  if (!/^https?:$/.test(url.protocol)) throw invalid(`${flag} "${value}" must be an https:// (or http://) URL`);
  if (url.username || url.password) throw invalid(`${flag} must not carry credentials`);
  // Kept as given, not normalised: the certificate's issuer or subject is compared as a string.
  return value;
}

/** 1 to MAX_LENGTH characters, none of them a C0 control or DEL (compared per UTF-16 code unit). */
function isPrintable(value: string): boolean {
  if (!value || value.length > MAX_LENGTH) return false;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return false;
  }
  return true;
}

/**
 * Go's RE2 (policy-controller, Kyverno, cosign) has no lookaround and no backreferences: a
 * pattern using them would be refused, or read differently, by the consumer.
 */
function checkRegexp(value: string): string {
  if (!isPrintable(value)) throw invalid(`--subject-regexp must be 1 to ${MAX_LENGTH} printable characters`);
  try {
    new RegExp(value, 'u');
  } catch (err) {
    throw invalid(`--subject-regexp "${value}" is not a regular expression: ${(err as Error).message}`);
  }
  if (/\(\?<?[=!]/.test(value) || /\\[1-9]|\\k</.test(value)) throw invalid(`--subject-regexp "${value}" uses lookaround or a backreference, which Go's RE2 (every consumer) does not support`);
  return value;
}

function checkSubject(value: string): string {
  if (!isPrintable(value)) throw invalid(`--subject must be 1 to ${MAX_LENGTH} printable characters`);
  return value;
}

/** The identity an output needs; IDENTITY_REQUIRED without one, INVALID_IDENTITY for a malformed one. */
export function requireIdentity(options: IdentityOptions, format: string): Identity {
  const subjects: SubjectMatch[] = [
    ...(options.subjects ?? []).map((v): SubjectMatch => ({ kind: 'equal', value: checkSubject(v) })),
    ...(options.subjectRegexps ?? []).map((v): SubjectMatch => ({ kind: 'regexp', value: checkRegexp(v) })),
    ...(options.subjectUrlPrefixes ?? []).map((v): SubjectMatch => ({ kind: 'urlPrefix', value: checkUrl(v, '--subject-url-prefix') })),
  ];
  if (!options.issuer || !subjects.length) {
    throw new TrustRootError(
      'IDENTITY_REQUIRED',
      `--format ${format} admits signatures of one identity: give --issuer (HTTP: issuer=) and at least one --subject, --subject-regexp or --subject-url-prefix (subject=, subjectRegexp=, subjectUrlPrefix=)`,
    );
  }
  return { issuer: checkUrl(options.issuer, '--issuer'), subjects };
}

/** The image globs a policy applies to; IDENTITY_REQUIRED without any. */
export function requireImages(options: IdentityOptions, format: string): string[] {
  const images = options.images ?? [];
  if (!images.length) throw new TrustRootError('IDENTITY_REQUIRED', `--format ${format} applies to images: give at least one --image GLOB (HTTP: image=), e.g. registry.example.com/team/**`);
  for (const image of images) {
    if (image.length > MAX_LENGTH || !IMAGE_GLOB.test(image)) throw invalid(`--image "${image}" is not an image reference glob (registry/repository[:tag], with * ? [ ])`);
  }
  return images;
}

/** Whether any identity flag was given at all (an output that ignores them says so). */
export const hasIdentityFlags = (o: IdentityOptions): boolean => !!o.issuer || [o.subjects, o.subjectRegexps, o.subjectUrlPrefixes, o.images].some((list) => !!list?.length);

/** A Kubewarden-style URL prefix (it must end at a `/`, so `…/acme` never admits `…/acme-evil`). */
export const urlPrefixWithSlash = (prefix: string): string => (prefix.endsWith('/') ? prefix : `${prefix}/`);

const escapeRegexp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The RE2 pattern a URL prefix means, for consumers that match subjects by regular expression. */
export const urlPrefixRegexp = (prefix: string): string => `^${escapeRegexp(urlPrefixWithSlash(prefix))}.*$`;

/** Warnings a well-formed identity still deserves. */
export function identityWarnings(identity: Identity): string[] {
  return identity.subjects
    .filter((s) => s.kind === 'regexp' && !(s.value.startsWith('^') && s.value.endsWith('$')))
    .map((s) => `--subject-regexp "${s.value}" is not anchored (^…$): consumers match it anywhere in the certificate's subject`);
}

export const describeSubject = (s: SubjectMatch): string => (s.kind === 'equal' ? `= ${s.value}` : s.kind === 'regexp' ? `~ ${s.value}` : `starts with ${urlPrefixWithSlash(s.value)}`);
