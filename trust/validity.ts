/**
 * Until when an output holds: the earliest expiry of what it embeds. An output that embeds TUF
 * metadata (a mirrorFS archive) stops working when the first of its roles expires; one that embeds
 * keys and certificates holds until the first of them ends (`validFor.end`, or a certificate's
 * notAfter). Outputs that hand over only a client's starting root have none: a TUF client starts
 * from an expired root as long as the mirror serves its successors.
 */
import { X509Certificate } from 'node:crypto';
import { validAt, type AuthorityEntry, type LogEntry, type TrustedRootEntries } from '../lib/trusted-root';
import type { TrustMaterial } from './material';

export type Validity = {
  /** RFC 3339. */
  expires: string;
  /** What expires then, e.g. `timestamp v762`, `certificate CN=sigstore-intermediate of https://fulcio.sigstore.dev`. */
  what: string;
};

const earliest = (candidates: Validity[]): Validity | undefined => candidates.reduce<Validity | undefined>((a, b) => (!a || Date.parse(b.expires) < Date.parse(a.expires) ? b : a), undefined);

/** `2031-10-05T13:56:58Z`: the form trusted_root.json and TUF metadata write times in. */
const rfc3339 = (ms: number): string => new Date(ms).toISOString().replace(/\.000Z$/, 'Z');

/** The metadata a mirrorFS archive client relies on, the supplied root included (the archive holds no newer one). */
export function tufValidity(m: TrustMaterial): Validity {
  const first = [m.timestamp, m.snapshot, m.targets, ...m.delegated, m.root].reduce((a, b) => (Date.parse(b.expires) < Date.parse(a.expires) ? b : a));
  return { expires: first.expires, what: `${first.role} v${first.version}` };
}

/** Each embedded entry's own end and, for an authority, every certificate's notAfter. */
export function entriesValidity(entries: (AuthorityEntry | LogEntry)[]): Validity | undefined {
  const candidates: Validity[] = [];
  for (const e of entries) {
    const label = 'baseUrl' in e ? `${e.kind === 'tlogs' ? 'tlog' : 'ctlog'} ${e.baseUrl}` : `${e.kind === 'certificateAuthorities' ? 'certificate authority' : 'timestamp authority'} ${e.uri}`;
    if (e.validFor.end) candidates.push({ expires: e.validFor.end, what: `${label} (validFor.end)` });
    if ('certificates' in e) {
      for (const der of e.certificates) {
        let cert: X509Certificate;
        try {
          cert = new X509Certificate(Buffer.from(der, 'base64'));
        } catch {
          continue; // the compatibility gate reports unloadable certificates; an expiry cannot be read from one
        }
        const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1] ?? cert.subject.replace(/\n/g, ', ');
        candidates.push({ expires: rfc3339(Date.parse(cert.validTo)), what: `certificate ${cn} of ${label}` });
      }
    }
  }
  return earliest(candidates);
}

/**
 * A verbatim trusted_root.json: the entries valid at `now` are what it is used for (retired ones
 * stay so old signatures verify, and ended long ago), so they decide.
 */
export function trustedRootValidity(root: TrustedRootEntries, now: number): Validity | undefined {
  const valid = [...root.certificateAuthorities, ...root.tlogs, ...root.ctlogs, ...root.timestampAuthorities].filter((e) => validAt(e.validFor, now));
  return entriesValidity(valid);
}

export const describeValidity = (v: Validity | undefined): string => (v ? `valid until ${v.expires} (${v.what})` : 'no expiry of its own');
