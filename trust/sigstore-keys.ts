/**
 * `spec.sigstoreKeys` of a policy-controller TrustRoot, from the repository's trusted_root.json.
 *
 * Field facts (policy-controller pkg/apis/policy/v1alpha1/trustroot_types.go and
 * pkg/apis/config/sigstore_keys.go): certChain and publicKey are Go []byte, so the JSON/YAML value
 * is base64 of the PEM text; a chain ends with its root; hashAlgorithm is "sha-256"-style. The
 * CRD has no validity windows, so an entry put here is trusted forever: by default only entries
 * valid now go in. Its reconciler refuses a TrustRoot whose Rekor (tLogs) key is not ECDSA
 * ("public key N is not ecdsa.PublicKey"), so such logs are always left out.
 */
import { acceptsTlogKey, POLICY_CONTROLLER, spkiKeyType } from '../compat/consumers';
import { describeWindow, pem, validAt, type AuthorityEntry, type LogEntry, type TrustedRootEntries, type ValidFor } from '../lib/trusted-root';
import { TrustRootError } from './errors';

export type SigstoreKeysCA = {
  subject: { organization: string; commonName: string };
  uri: string;
  certChain: string;
};
export type SigstoreKeysLog = { baseURL: string; hashAlgorithm: string; publicKey: string };
export type SigstoreKeys = {
  certificateAuthorities?: SigstoreKeysCA[];
  tLogs?: SigstoreKeysLog[];
  ctLogs?: SigstoreKeysLog[];
  timestampAuthorities?: SigstoreKeysCA[];
};

const HASH_NAMES: Record<string, string> = { SHA2_256: 'sha-256', SHA2_384: 'sha-384', SHA2_512: 'sha-512' };

/** The public key type of a log's SPKI (`ec`, `ed25519`, `rsa`, …), or `unparseable`. */
export const logKeyType = (log: LogEntry): string => spkiKeyType(Buffer.from(log.publicKey, 'base64'));

/** Rekor logs policy-controller's TrustRoot reconciler rejects (compat/consumers.ts). */
export function nonEcdsaTlogs(root: TrustedRootEntries): LogEntry[] {
  return root.tlogs.filter((l) => !acceptsTlogKey(POLICY_CONTROLLER, logKeyType(l)));
}

const caEntry = (ca: AuthorityEntry): SigstoreKeysCA => ({
  subject: { ...ca.subject },
  uri: ca.uri,
  certChain: Buffer.from(ca.certificates.map((c) => pem('CERTIFICATE', c)).join('')).toString('base64'),
});

const logEntry = (log: LogEntry): SigstoreKeysLog => ({
  baseURL: log.baseUrl,
  hashAlgorithm: HASH_NAMES[log.hashAlgorithm] ?? log.hashAlgorithm.toLowerCase(),
  publicKey: Buffer.from(pem('PUBLIC KEY', log.publicKey)).toString('base64'),
});

export type SigstoreKeysResult = {
  keys: SigstoreKeys;
  leftOut: string[];
  /** The entries the keys were made from (what the output's validity is read from). */
  entries: (AuthorityEntry | LogEntry)[];
};

/** The sigstoreKeys of `root` at `now`; `all` keeps entries outside their validity windows. */
export function sigstoreKeysFrom(root: TrustedRootEntries, now: number, all: boolean): SigstoreKeysResult {
  const leftOut: string[] = [];
  const pick = <T extends { validFor: ValidFor }>(kind: string, items: T[], label: (t: T) => string, extra?: (t: T) => string | undefined): T[] =>
    items.filter((item) => {
      const problem = extra?.(item);
      if (problem) {
        leftOut.push(`${kind} ${label(item)}: ${problem}`);
        return false;
      }
      if (all || validAt(item.validFor, now)) return true;
      leftOut.push(`${kind} ${label(item)}: not valid now (${describeWindow(item.validFor)}); --all keeps it`);
      return false;
    });

  const cas = pick('certificateAuthorities', root.certificateAuthorities, (c) => c.uri || '?');
  const tsas = pick('timestampAuthorities', root.timestampAuthorities, (c) => c.uri || '?');
  const tlogs = pick(
    'tLogs',
    root.tlogs,
    (l) => l.baseUrl || '?',
    (l) => {
      const type = logKeyType(l);
      return acceptsTlogKey(POLICY_CONTROLLER, type) ? undefined : `key of type ${type}; policy-controller accepts only ECDSA Rekor keys in a TrustRoot (it would refuse the whole TrustRoot)`;
    },
  );
  const ctlogs = pick('ctLogs', root.ctlogs, (l) => l.baseUrl || '?');

  if (!cas.length && !tsas.length) {
    throw new TrustRootError('NOTHING_VALID', `no certificate or timestamp authority is valid now, and a TrustRoot needs one (left out: ${leftOut.join('; ')})`);
  }
  const keys: SigstoreKeys = {};
  if (cas.length) keys.certificateAuthorities = cas.map(caEntry);
  if (tlogs.length) keys.tLogs = tlogs.map(logEntry);
  if (ctlogs.length) keys.ctLogs = ctlogs.map(logEntry);
  if (tsas.length) keys.timestampAuthorities = tsas.map(caEntry);
  return { keys, leftOut, entries: [...cas, ...tlogs, ...ctlogs, ...tsas] };
}
