/**
 * The one reader of Sigstore's `trusted_root.json` (protobuf-specs TrustedRoot, proto3 JSON).
 * The watch, the trust-root outputs, the verifier and origin all take what it returns, so a file
 * that one of them accepts is a file every one of them accepts.
 *
 * Two views of the same bytes: protobuf-specs' `TrustedRoot` (what @sigstore/verify takes), and
 * the entries with their text as written (times, ids, base64), because outputs and events repeat
 * that text verbatim: protobuf-specs turns `2021-03-07T03:20:29Z` into a Date and a log id into
 * bytes, and writing either back would change what an operator sees and what origin re-signs.
 */
import { HashAlgorithm, hashAlgorithmToJSON, TrustedRoot } from '@sigstore/protobuf-specs';
import { z } from 'zod';
import { TufMirrorError } from './errors';

export const TRUSTED_ROOT_MEDIA_TYPE_PREFIX = 'application/vnd.dev.sigstore.trustedroot';

export type TrustedRootErrorCode =
  | 'NOT_JSON'
  | 'NOT_A_TRUSTED_ROOT' // not an object, or another media type (a signing config under the wrong name)
  | 'MALFORMED'; // a field of the wrong shape, a validity window without a start, an unknown enum value

/** MALFORMED: `details.field` is the field at fault, e.g. `tlogs[0].publicKey.validFor.start`, when one is. */
export class TrustedRootError extends TufMirrorError<TrustedRootErrorCode> {}

export const TRUST_KINDS = ['certificateAuthorities', 'tlogs', 'ctlogs', 'timestampAuthorities'] as const;
export type TrustKind = (typeof TRUST_KINDS)[number];

/** A validity window as the file writes it (RFC 3339). An entry without a start is refused. */
export type ValidFor = { start: string; end?: string };

/** A certificate authority (Fulcio) or a timestamp authority. */
export type AuthorityEntry = {
  kind: 'certificateAuthorities' | 'timestampAuthorities';
  uri: string;
  subject: { organization: string; commonName: string };
  /** The chain, DER in base64 as written, its trust anchor last. */
  certificates: string[];
  validFor: ValidFor;
};

/** A transparency log (Rekor) or a certificate transparency log. */
export type LogEntry = {
  kind: 'tlogs' | 'ctlogs';
  baseUrl: string;
  /** The enum name, e.g. `SHA2_256` ('' when unspecified). */
  hashAlgorithm: string;
  /** SubjectPublicKeyInfo, DER in base64 as written. */
  publicKey: string;
  /** The enum name, e.g. `PKIX_ECDSA_P256_SHA_256`, as written ('' when absent). */
  keyDetails: string;
  /** base64 as written ('' when absent). */
  logId: string;
  validFor: ValidFor;
};

export type TrustedRootEntries = {
  certificateAuthorities: AuthorityEntry[];
  tlogs: LogEntry[];
  ctlogs: LogEntry[];
  timestampAuthorities: AuthorityEntry[];
};

export type ParsedTrustedRoot = TrustedRootEntries & {
  mediaType: string;
  /** The same file as protobuf-specs reads it: what @sigstore/verify's toTrustMaterial takes. */
  trustedRoot: TrustedRoot;
};

// proto3 JSON: an absent field and `null` both mean the default ('' for strings, [] for lists).
const text = z
  .string()
  .nullish()
  .transform((v) => v ?? '');
const list = <T extends z.ZodType>(item: T) =>
  z
    .array(item)
    .nullish()
    .transform((v) => v ?? []);
const time = z.iso.datetime({ offset: true });
const validFor = z.object({ start: time, end: time.nullish() }).transform(({ start, end }): ValidFor => (end ? { start, end } : { start }));

const authority = z.object({
  subject: z.object({ organization: text, commonName: text }).nullish(),
  uri: text,
  certChain: z.object({ certificates: list(z.object({ rawBytes: text })) }).nullish(),
  validFor,
});
const log = z.object({
  baseUrl: text,
  publicKey: z.object({ rawBytes: text, keyDetails: text, validFor }),
  logId: z.object({ keyId: text }).nullish(),
});
const document = z.object({
  mediaType: z.string({ error: 'is missing' }).startsWith(TRUSTED_ROOT_MEDIA_TYPE_PREFIX, { error: 'is not a Sigstore trusted root media type' }),
  certificateAuthorities: list(authority),
  tlogs: list(log),
  ctlogs: list(log),
  timestampAuthorities: list(authority),
});

const hashName = (h: HashAlgorithm): string => (h === HashAlgorithm.HASH_ALGORITHM_UNSPECIFIED ? '' : hashAlgorithmToJSON(h));

/** `tlogs[0].publicKey.validFor.start` */
function where(path: PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
}

/** One message per kind of issue, worded for an operator reading a log line. */
const issueMessage = (issue: z.core.$ZodRawIssue): string => {
  if (issue.code === 'invalid_type') {
    if (issue.input === undefined) return 'is missing';
    return issue.expected === 'array' ? 'is not a list' : `is not ${issue.expected === 'object' ? 'an object' : `a ${issue.expected}`}`;
  }
  if (issue.code === 'invalid_format') return 'is not an RFC 3339 time';
  return issue.message ?? 'is malformed';
};

/**
 * Parse trusted_root.json bytes. Refuses, beyond what protobuf-specs refuses (an unknown enum
 * value): bytes that are not a JSON object, another media type, a list that is not a list (which
 * protobuf-specs would read as empty), and a CA, TSA, log or CT log whose `validFor` has no
 * `start` or holds a time that is not RFC 3339 (@sigstore/verify 3 would take an open start as
 * "always"; the conformance case trust-root-tlog-missing-validity-start_fail).
 * `name` is how messages name the file.
 */
export function parseTrustedRoot(bytes: Buffer | string, name = 'trusted_root.json'): ParsedTrustedRoot {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString());
  } catch (err) {
    throw new TrustedRootError('NOT_JSON', `${name} is not JSON: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new TrustedRootError('NOT_A_TRUSTED_ROOT', `${name} is not a JSON object`);
  const parsed = document.safeParse(json, { error: issueMessage });
  if (!parsed.success) {
    const mediaType = parsed.error.issues.find((i) => i.path[0] === 'mediaType');
    if (mediaType) {
      const value = 'mediaType' in json ? json.mediaType : undefined;
      throw new TrustedRootError('NOT_A_TRUSTED_ROOT', `${name} is not a Sigstore trusted root (mediaType ${JSON.stringify(value)})`);
    }
    const [first] = parsed.error.issues;
    throw new TrustedRootError('MALFORMED', `${name}: ${where(first.path)} ${first.message}`, { details: { field: where(first.path) } });
  }
  let trustedRoot: TrustedRoot;
  try {
    trustedRoot = TrustedRoot.fromJSON(json);
  } catch (err) {
    throw new TrustedRootError('MALFORMED', `${name} is not a Sigstore trusted root: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const doc = parsed.data;
  const authorities = (kind: AuthorityEntry['kind']): AuthorityEntry[] =>
    doc[kind].map((a) => ({
      kind,
      uri: a.uri,
      subject: { organization: a.subject?.organization ?? '', commonName: a.subject?.commonName ?? '' },
      certificates: (a.certChain?.certificates ?? []).map((c) => c.rawBytes),
      validFor: a.validFor,
    }));
  const logs = (kind: LogEntry['kind']): LogEntry[] =>
    doc[kind].map((l, i) => ({
      kind,
      baseUrl: l.baseUrl,
      // protobuf-specs reads an enum from its name or its number.
      hashAlgorithm: hashName(trustedRoot[kind][i].hashAlgorithm),
      publicKey: l.publicKey.rawBytes,
      keyDetails: l.publicKey.keyDetails,
      logId: l.logId?.keyId ?? '',
      validFor: l.publicKey.validFor,
    }));
  return {
    mediaType: doc.mediaType,
    trustedRoot,
    certificateAuthorities: authorities('certificateAuthorities'),
    tlogs: logs('tlogs'),
    ctlogs: logs('ctlogs'),
    timestampAuthorities: authorities('timestampAuthorities'),
  };
}

/** One entry of any kind, as the watch compares and reports them. */
export type TrustEntry = {
  kind: TrustKind;
  /** Stable identity across versions: the log id for logs, subject and URI for authorities. */
  id: string;
  url: string;
  start: string;
  end: string | null;
};

/** Every entry of every kind, in kind order. */
export function trustEntries(root: TrustedRootEntries): TrustEntry[] {
  const window = (v: ValidFor) => ({ start: v.start, end: v.end ?? null });
  return TRUST_KINDS.flatMap((kind): TrustEntry[] =>
    kind === 'tlogs' || kind === 'ctlogs'
      ? root[kind].map((l) => ({ kind, id: l.logId || l.baseUrl, url: l.baseUrl, ...window(l.validFor) }))
      : root[kind].map((a) => ({ kind, id: `${a.subject.organization}/${a.subject.commonName} ${a.uri}`.trim(), url: a.uri, ...window(a.validFor) })),
  );
}

/** A window holds `now` (ms) when it started at or before now and has not ended. */
export function validAt(window: { start: string; end?: string | null } | undefined, now: number): boolean {
  const start = window?.start ? Date.parse(window.start) : -Infinity;
  const end = window?.end ? Date.parse(window.end) : Infinity;
  return start <= now && now < end;
}

export const describeWindow = (window: { start: string; end?: string | null } | undefined): string => `${window?.start ?? 'always'} to ${window?.end ?? 'open'}`;

/** DER (base64) in PEM armour, 64 characters a line, as Go's encoding/pem writes it. */
export function pem(type: 'CERTIFICATE' | 'PUBLIC KEY', derBase64: string): string {
  const body = Buffer.from(derBase64, 'base64').toString('base64');
  const lines = body.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${type}-----\n${lines.join('\n')}\n-----END ${type}-----\n`;
}
