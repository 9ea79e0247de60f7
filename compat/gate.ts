/**
 * The compatibility gate: does a set of Sigstore trust targets (trusted_root.json,
 * signing_config*.json, the legacy PEM files) parse the way its consumers parse it, and does it
 * keep trusting what the previous set trusted? Pure: bytes in, findings out. A bridge holds a
 * candidate with a blocking finding; the watch reports the same findings for every repository.
 */
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { SigningConfig, type CertificateAuthority, type TransparencyLogInstance, type TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial } from '@sigstore/verify';
import type { ConsumerReport, Finding, FindingCode, GateReport } from '../lib/gate-report';
import { parseTrustedRoot, TrustedRootError } from '../lib/trusted-root';
import { acceptsTlogKey, CONSUMERS, spkiKeyType } from './consumers';

export type { ConsumerReport, Finding, FindingCode, GateReport };

export const TRUSTED_ROOT_TARGET = 'trusted_root.json';
const SIGNING_CONFIG = /^signing_config[^/]*\.json$/;
const SIGNING_CONFIG_MEDIA_TYPE = 'application/vnd.dev.sigstore.signingconfig';

export type GateInput = {
  /** The candidate's target files, by target name. */
  targets: ReadonlyMap<string, Buffer>;
  /** The targets trusted until now (a bridge's promoted content, a mirror's previous generation). */
  baseline?: ReadonlyMap<string, Buffer>;
};

export function checkCompatibility(input: GateInput): GateReport {
  const findings: Finding[] = [];
  const consumers: ConsumerReport[] = [];
  const trusted = input.targets.get(TRUSTED_ROOT_TARGET);
  const before = input.baseline?.get(TRUSTED_ROOT_TARGET);
  if (!trusted) {
    if (before) findings.push(blocking('TRUSTED_ROOT_MISSING', TRUSTED_ROOT_TARGET, 'the candidate has no trusted_root.json; the content trusted until now had one'));
  } else {
    const root = loadTrustedRoot(trusted, findings);
    if (root) {
      findings.push(...logIdFindings(root), ...keyTypeFindings(root, consumers));
      const previous = before && parseQuietly(before);
      if (previous) findings.push(...removedAuthorities(previous, root));
    }
  }
  for (const [name, bytes] of input.targets) {
    if (SIGNING_CONFIG.test(name)) findings.push(...signingConfigFindings(name, bytes));
  }
  findings.push(...legacyTargetFindings(input.targets));
  return { applicable: !!trusted || !!before, passed: !findings.some((f) => f.blocking), findings, consumers };
}

const blocking = (code: FindingCode, target: string, message: string, subject?: string): Finding => ({ code, blocking: true, target, message, ...(subject ? { subject } : {}) });
const notice = (code: FindingCode, target: string, message: string, extra: { subject?: string; consumer?: string } = {}): Finding => ({ code, blocking: false, target, message, ...extra });

function parseQuietly(bytes: Buffer): TrustedRoot | undefined {
  try {
    return parseTrustedRoot(bytes, TRUSTED_ROOT_TARGET).trustedRoot;
  } catch {
    return undefined;
  }
}

/**
 * Read by this service's one trusted_root.json parser (lib/trusted-root.ts: JSON, media type, every
 * field's shape, a `validFor.start` on every entry), then loaded as @sigstore/verify loads it
 * (every key and certificate): the check itself. Undefined, with the reason, when either refuses.
 */
function loadTrustedRoot(bytes: Buffer, findings: Finding[]): TrustedRoot | undefined {
  let root: TrustedRoot;
  try {
    root = parseTrustedRoot(bytes, TRUSTED_ROOT_TARGET).trustedRoot;
  } catch (err) {
    if (!(err instanceof TrustedRootError)) throw err;
    if (err.code === 'MALFORMED' && err.details.field?.endsWith('validFor.start')) {
      findings.push(blocking('VALIDITY_START_MISSING', TRUSTED_ROOT_TARGET, `${err.message}: a range open to the past is refused by this service's verifier`));
    } else {
      findings.push(blocking('TRUSTED_ROOT_UNLOADABLE', TRUSTED_ROOT_TARGET, err.message));
    }
    return undefined;
  }
  try {
    toTrustMaterial(root);
  } catch (err) {
    findings.push(blocking('TRUSTED_ROOT_UNLOADABLE', TRUSTED_ROOT_TARGET, `@sigstore/verify cannot load it: ${err instanceof Error ? err.message : String(err)}`));
    return undefined;
  }
  return root;
}

const sha256 = (bytes: Uint8Array): Buffer => createHash('sha256').update(bytes).digest();

/**
 * The C2SP signed-note key id a Rekor v2 log is known by: sha256 of the log's origin (the host of
 * its URL), a newline, the signature type 0x01 (Ed25519) and the raw 32-byte key.
 */
function signedNoteKeyId(log: TransparencyLogInstance): Buffer | undefined {
  const der = log.publicKey?.rawBytes;
  if (!der || spkiKeyType(der) !== 'ed25519') return undefined;
  let origin: string;
  try {
    origin = new URL(log.baseUrl).host;
  } catch {
    return undefined;
  }
  return sha256(Buffer.concat([Buffer.from(`${origin}\n`), Buffer.from([0x01]), Buffer.from(der).subarray(-32)]));
}

function logIdFindings(root: TrustedRoot): Finding[] {
  const out: Finding[] = [];
  for (const [kind, logs] of [
    ['tlogs', root.tlogs],
    ['ctlogs', root.ctlogs],
  ] as const) {
    for (const log of logs) {
      const id = Buffer.from(log.logId?.keyId ?? []);
      const der = log.publicKey?.rawBytes ?? new Uint8Array();
      if (id.equals(sha256(der))) continue;
      const note = kind === 'tlogs' ? signedNoteKeyId(log) : undefined;
      if (note?.equals(id)) {
        out.push(
          notice(
            'LOG_ID_SIGNED_NOTE',
            TRUSTED_ROOT_TARGET,
            `tlog ${log.baseUrl}: its logId is the Rekor v2 checkpoint key id (C2SP signed note over the Ed25519 key), not the sha256 of the key; verifiers that derive a log's id from its key cannot match its entries (sigstore-js and sigstore-go read the logId as given)`,
            { subject: log.baseUrl },
          ),
        );
        continue;
      }
      out.push(
        blocking(
          'LOG_ID_MISMATCH',
          TRUSTED_ROOT_TARGET,
          `${kind === 'tlogs' ? 'tlog' : 'ctlog'} ${log.baseUrl}: logId ${id.toString('base64')} is not the sha256 of its key (${sha256(der).toString('base64')})`,
          log.baseUrl,
        ),
      );
    }
  }
  return out;
}

function keyTypeFindings(root: TrustedRoot, reports: ConsumerReport[]): Finding[] {
  const out: Finding[] = [];
  for (const consumer of CONSUMERS) {
    const leftOut: string[] = [];
    for (const log of root.tlogs) {
      const type = spkiKeyType(log.publicKey?.rawBytes);
      if (acceptsTlogKey(consumer, type)) continue;
      leftOut.push(`tlog ${log.baseUrl} (${type})`);
      out.push(
        notice('KEY_TYPE_UNSUPPORTED', TRUSTED_ROOT_TARGET, `tlog ${log.baseUrl} has a key of type ${type}: ${consumer.name}: ${consumer.refusal}`, { subject: log.baseUrl, consumer: consumer.name }),
      );
    }
    reports.push({ consumer: consumer.name, outputs: consumer.outputs, leftOut });
  }
  return out;
}

/** What identifies an entry across versions: a log by its id, an authority by its URI and exact chain. */
function identities(root: TrustedRoot): Map<string, { label: string; end: Date | undefined }> {
  const out = new Map<string, { label: string; end: Date | undefined }>();
  const log = (kind: string) => (l: TransparencyLogInstance) =>
    out.set(`${kind} ${Buffer.from(l.logId?.keyId ?? []).toString('base64')}`, { label: `${kind} ${l.baseUrl}`, end: l.publicKey?.validFor?.end });
  const authority = (kind: string) => (a: CertificateAuthority) => {
    const chain = sha256(Buffer.concat((a.certChain?.certificates ?? []).map((c) => c.rawBytes))).toString('hex');
    out.set(`${kind} ${a.uri} ${chain}`, { label: `${kind} ${a.uri} (${a.subject?.commonName ?? 'no subject'})`, end: a.validFor?.end });
  };
  root.tlogs.forEach(log('tlog'));
  root.ctlogs.forEach(log('ctlog'));
  root.certificateAuthorities.forEach(authority('certificate authority'));
  root.timestampAuthorities.forEach(authority('timestamp authority'));
  return out;
}

/**
 * An entry may leave trusted_root.json only after it was given an end: signatures made while it
 * was valid must keep verifying until then, and a client holding the old set was told.
 */
function removedAuthorities(previous: TrustedRoot, next: TrustedRoot): Finding[] {
  const after = identities(next);
  const out: Finding[] = [];
  for (const [key, entry] of identities(previous)) {
    if (after.has(key) || entry.end) continue;
    out.push(blocking('AUTHORITY_REMOVED', TRUSTED_ROOT_TARGET, `${entry.label} was trusted with no end and is gone: retire it with a validFor.end first`, entry.label));
  }
  return out;
}

function signingConfigFindings(name: string, bytes: Buffer): Finding[] {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    return [blocking('SIGNING_CONFIG_UNPARSEABLE', name, `not JSON: ${(err as Error).message}`)];
  }
  const mediaType = json && typeof json === 'object' && 'mediaType' in json ? json.mediaType : undefined;
  if (typeof mediaType !== 'string' || !mediaType.startsWith(SIGNING_CONFIG_MEDIA_TYPE)) {
    return [blocking('SIGNING_CONFIG_UNPARSEABLE', name, `mediaType ${JSON.stringify(mediaType)} is not a Sigstore signing config`)];
  }
  // v0.1 (caUrl, tlogUrls) predates the protobuf message; the JSON parse and media type are all it has.
  if (mediaType.includes('v0.1')) return [];
  try {
    const config = SigningConfig.fromJSON(json);
    const services = [...config.caUrls, ...config.oidcUrls, ...config.rekorTlogUrls, ...config.tsaUrls];
    const bad = services.find((s) => !s.url || !s.validFor?.start);
    if (bad) return [blocking('SIGNING_CONFIG_UNPARSEABLE', name, `a service ${bad.url ? `(${bad.url}) ` : ''}has no url or no validFor.start`)];
  } catch (err) {
    return [blocking('SIGNING_CONFIG_UNPARSEABLE', name, (err as Error).message)];
  }
  return [];
}

/** The `{"sigstore": {"usage"}}` targets older cosign reads: each must be the PEM its usage says. */
function legacyTargetFindings(targets: ReadonlyMap<string, Buffer>): Finding[] {
  const out: Finding[] = [];
  for (const [name, bytes] of targets) {
    const kind = /\.(crt\.)?pem$/.test(name) ? 'certificate' : name.endsWith('.pub') ? 'key' : undefined;
    if (!kind) continue;
    try {
      if (kind === 'certificate') new X509Certificate(bytes);
      else createPublicKey(bytes);
    } catch (err) {
      out.push(blocking('LEGACY_TARGET_UNPARSEABLE', name, `not a PEM ${kind}: ${(err as Error).message}`));
    }
  }
  return out;
}

/** One line per finding, blocking ones first: what status, webhooks and the CLI print. */
export function describeFindings(findings: Finding[]): string[] {
  return [...findings].sort((a, b) => Number(b.blocking) - Number(a.blocking)).map((f) => `${f.blocking ? 'BLOCKING ' : ''}${f.code} ${f.target}: ${f.message}`);
}
