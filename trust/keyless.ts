/**
 * The keys of a keyless verification taken from trusted_root.json for consumers that hold one
 * Rekor key, one CT log key and a pool of Fulcio certificates (a ClusterImagePolicy's URLs,
 * Kyverno's `rekor`/`ctlog`/`roots`, cosign's SIGSTORE_* files). What cannot go in is named, as
 * every output does.
 */
import { createHash } from 'node:crypto';
import { acceptsTlogKey, POLICY_CONTROLLER } from '../compat/consumers';
import { pem, validAt, type AuthorityEntry, type LogEntry, type TrustedRootEntries } from '../lib/trusted-root';
import { TrustRootError } from './errors';
import { logKeyType } from './sigstore-keys';

export type KeylessMaterial = {
  /** Certificate authorities valid now, newest first. */
  fulcio: AuthorityEntry[];
  /** The newest Rekor log valid now that the consumer can take, if any. */
  rekor?: LogEntry;
  /** The newest CT log valid now, if any. */
  ctlog?: LogEntry;
  /** What the consumer leaves out, and why. */
  leftOut: string[];
};

/** Who takes which Rekor log: a reason to leave `log` out, or undefined to keep it. */
export type RekorFilter = (log: LogEntry) => string | undefined;

/**
 * Consumers that look a Rekor entry up by the sha256 of the log's key (cosign's classic
 * verification, which Kyverno's verifyImages and the SIGSTORE_* files use) cannot take a Rekor v2
 * log, whose logId is its signed-note key id.
 */
export const classicRekorOnly: RekorFilter = (log) => {
  const keyId = createHash('sha256').update(Buffer.from(log.publicKey, 'base64')).digest('base64');
  return log.logId && log.logId !== keyId ? 'its logId is not the sha256 of its key (a Rekor v2 log): cosign-style verification looks entries up by that hash and reads Rekor v1 only' : undefined;
};

/** policy-controller takes ECDSA Rekor keys only (compat/consumers.ts). */
export const policyControllerRekor: RekorFilter = (log) => {
  const type = logKeyType(log);
  return acceptsTlogKey(POLICY_CONTROLLER, type) ? undefined : `key of type ${type}; policy-controller accepts only ECDSA Rekor keys`;
};

const newestFirst = <T extends { validFor: { start: string } }>(items: T[]): T[] => [...items].sort((a, b) => Date.parse(b.validFor.start) - Date.parse(a.validFor.start));

export function keylessMaterial(root: TrustedRootEntries, now: number, rekorFilter: RekorFilter): KeylessMaterial {
  const leftOut: string[] = [];
  const fulcio = newestFirst(root.certificateAuthorities.filter((c) => validAt(c.validFor, now)));
  if (!fulcio.length) throw new TrustRootError('NOTHING_VALID', 'no certificate authority in trusted_root.json is valid now: keyless verification has nothing to chain to');
  const rekors = newestFirst(root.tlogs.filter((l) => validAt(l.validFor, now))).filter((l) => {
    const reason = rekorFilter(l);
    if (reason) leftOut.push(`tlog ${l.baseUrl}: ${reason}`);
    return !reason;
  });
  const ctlogs = newestFirst(root.ctlogs.filter((l) => validAt(l.validFor, now)));
  // One key each: the newest, the one a log being rotated in is meant to replace the old with.
  for (const l of rekors.slice(1)) leftOut.push(`tlog ${l.baseUrl}: the consumer holds one Rekor key; ${rekors[0].baseUrl} (newer) is used`);
  for (const l of ctlogs.slice(1)) leftOut.push(`ctlog ${l.baseUrl}: the consumer holds one CT log key; ${ctlogs[0].baseUrl} (newer) is used`);
  return { fulcio, ...(rekors[0] ? { rekor: rekors[0] } : {}), ...(ctlogs[0] ? { ctlog: ctlogs[0] } : {}), leftOut };
}

/** Every certificate of the given authorities, PEM, each chain in its order. */
export const certificatesPem = (authorities: AuthorityEntry[]): string => authorities.flatMap((a) => a.certificates.map((c) => pem('CERTIFICATE', c))).join('');

export const logKeyPem = (log: LogEntry): string => pem('PUBLIC KEY', log.publicKey);

/** The entries a keyless output embeds (what its validity is read from). */
export const embeddedEntries = (k: KeylessMaterial): (AuthorityEntry | LogEntry)[] => [...k.fulcio, ...(k.rekor ? [k.rekor] : []), ...(k.ctlog ? [k.ctlog] : [])];
