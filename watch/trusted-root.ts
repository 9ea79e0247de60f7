/**
 * The validity windows inside a Sigstore trusted_root.json (TrustedRoot v0.1 JSON): which
 * certificate authorities, transparency logs, CT logs and timestamp authorities it trusts, and when.
 */

export type TrustKind = 'certificateAuthorities' | 'tlogs' | 'ctlogs' | 'timestampAuthorities';
export const TRUST_KINDS: TrustKind[] = ['certificateAuthorities', 'tlogs', 'ctlogs', 'timestampAuthorities'];

export type TrustEntry = {
  kind: TrustKind;
  /** Stable identity across versions: log id for logs, subject and URI for authorities. */
  id: string;
  url: string;
  start: string | null;
  end: string | null;
};

type ValidFor = { start?: string; end?: string };
type Authority = { subject?: { organization?: string; commonName?: string }; uri?: string; validFor?: ValidFor };
type Log = { baseUrl?: string; logId?: { keyId?: string }; publicKey?: { validFor?: ValidFor } };
type TrustedRootJson = Partial<Record<TrustKind, (Authority & Log)[]>>;

/** Entries of a trusted_root.json; throws on bytes that are not JSON. */
export function trustEntries(bytes: Buffer): TrustEntry[] {
  const json = JSON.parse(bytes.toString('utf8')) as TrustedRootJson;
  const out: TrustEntry[] = [];
  for (const kind of TRUST_KINDS) {
    for (const e of json[kind] ?? []) {
      const isLog = kind === 'tlogs' || kind === 'ctlogs';
      const validFor = (isLog ? e.publicKey?.validFor : e.validFor) ?? {};
      const url = (isLog ? e.baseUrl : e.uri) ?? '';
      const id = isLog ? (e.logId?.keyId ?? url) : `${e.subject?.organization ?? ''}/${e.subject?.commonName ?? ''} ${url}`.trim();
      out.push({ kind, id, url, start: validFor.start ?? null, end: validFor.end ?? null });
    }
  }
  return out;
}

export function isValidAt(entry: TrustEntry, now: Date): boolean {
  const t = now.getTime();
  return (!entry.start || Date.parse(entry.start) <= t) && (!entry.end || Date.parse(entry.end) > t);
}
