import * as crypto from 'node:crypto';
import { z } from 'zod';
import { parseTrustedRoot, pem, type AuthorityEntry, type LogEntry } from '../lib/trusted-root';
import { OriginError } from './errors';

/**
 * What a private Sigstore instance trusts, as plain data, and the files that carry it:
 * trusted_root.json (protobuf-specs TrustedRoot v0.1 JSON), signing_config.v0.2.json, and the
 * legacy targets (fulcio_v1.crt.pem, rekor.pub, ctfe.pub, tsa_*.crt.pem) older clients read.
 */

export type Validity = { start: string; end?: string };
/** A CA or a TSA: its chain as PEM, intermediates first and the root last. */
export type AuthoritySpec = { url: string; chainPem: string; validFor: Validity };
/** A transparency or CT log: its public key as PEM (SubjectPublicKeyInfo). */
export type LogSpec = { url: string; keyPem: string; validFor: Validity };
export type TrustMaterial = {
  certificateAuthorities: AuthoritySpec[];
  tlogs: LogSpec[];
  ctlogs: LogSpec[];
  timestampAuthorities: AuthoritySpec[];
  oidcIssuers: { url: string; validFor: Validity }[];
};

export const TRUSTED_ROOT_MEDIA_TYPE = 'application/vnd.dev.sigstore.trustedroot+json;version=0.1';
export const SIGNING_CONFIG_MEDIA_TYPE = 'application/vnd.dev.sigstore.signingconfig.v0.2+json';

export type TargetFileSpec = { name: string; bytes: Buffer; custom?: Record<string, unknown> };

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export function certificates(pem: string, what: string): crypto.X509Certificate[] {
  const blocks = pem.match(PEM_CERT) ?? [];
  if (!blocks.length) throw new OriginError('BAD_INPUT', `${what}: no PEM certificate found`);
  try {
    return blocks.map((b) => new crypto.X509Certificate(b));
  } catch (err) {
    throw new OriginError('BAD_INPUT', `${what}: not a valid certificate: ${(err as Error).message}`);
  }
}

export function publicKey(pem: string, what: string): crypto.KeyObject {
  try {
    return crypto.createPublicKey(pem);
  } catch (err) {
    throw new OriginError('BAD_INPUT', `${what}: not a PEM public key: ${(err as Error).message}`);
  }
}

/** protobuf-specs PublicKeyDetails for a key. */
function keyDetails(key: crypto.KeyObject): string {
  const d = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'ec':
      if (d.namedCurve === 'prime256v1') return 'PKIX_ECDSA_P256_SHA_256';
      if (d.namedCurve === 'secp384r1') return 'PKIX_ECDSA_P384_SHA_384';
      if (d.namedCurve === 'secp521r1') return 'PKIX_ECDSA_P521_SHA_512';
      break;
    case 'ed25519':
      return 'PKIX_ED25519';
    case 'rsa':
      return `PKIX_RSA_PKCS1V15_${d.modulusLength ?? 2048}_SHA256`;
  }
  throw new OriginError('BAD_INPUT', `unsupported log key type ${String(key.asymmetricKeyType)} ${d.namedCurve ?? ''}`.trim());
}

const der = (key: crypto.KeyObject): Buffer => key.export({ format: 'der', type: 'spki' });
/** A log's id is the sha256 of its DER public key (RFC 6962 for CT; Rekor does the same). */
export const logId = (keyPem: string): string =>
  crypto
    .createHash('sha256')
    .update(der(publicKey(keyPem, 'log key')))
    .digest('base64');

function subjectOf(cert: crypto.X509Certificate): { organization?: string; commonName?: string } {
  const fields = Object.fromEntries(cert.subject.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  return { ...(fields.O ? { organization: fields.O } : {}), ...(fields.CN ? { commonName: fields.CN } : {}) };
}

const validity = (v: Validity) => ({ start: v.start, ...(v.end ? { end: v.end } : {}) });

function authority(a: AuthoritySpec, what: string) {
  const chain = certificates(a.chainPem, what);
  // certificates() refuses an empty chain; the subject is the chain's last (root) certificate's.
  const root = chain.at(-1);
  if (!root) throw new OriginError('BAD_INPUT', `${what}: no PEM certificate found`);
  return {
    subject: subjectOf(root),
    uri: a.url,
    certChain: { certificates: chain.map((c) => ({ rawBytes: c.raw.toString('base64') })) },
    validFor: validity(a.validFor),
  };
}

function log(l: LogSpec, what: string) {
  const key = publicKey(l.keyPem, what);
  return {
    baseUrl: l.url,
    hashAlgorithm: 'SHA2_256',
    publicKey: { rawBytes: der(key).toString('base64'), keyDetails: keyDetails(key), validFor: validity(l.validFor) },
    logId: { keyId: logId(l.keyPem) },
  };
}

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value, null, 2) + '\n');

export function trustedRootJson(m: TrustMaterial): Buffer {
  return json({
    mediaType: TRUSTED_ROOT_MEDIA_TYPE,
    tlogs: m.tlogs.map((l, i) => log(l, `tlogs[${i}]`)),
    certificateAuthorities: m.certificateAuthorities.map((a, i) => authority(a, `certificateAuthorities[${i}]`)),
    ctlogs: m.ctlogs.map((l, i) => log(l, `ctlogs[${i}]`)),
    timestampAuthorities: m.timestampAuthorities.map((a, i) => authority(a, `timestampAuthorities[${i}]`)),
  });
}

export function signingConfigJson(m: TrustMaterial, operator: string): Buffer {
  const service = (url: string, v: Validity) => ({ url, majorApiVersion: 1, validFor: validity(v), operator });
  return json({
    mediaType: SIGNING_CONFIG_MEDIA_TYPE,
    caUrls: m.certificateAuthorities.map((a) => service(a.url, a.validFor)),
    oidcUrls: m.oidcIssuers.map((o) => service(o.url, o.validFor)),
    rekorTlogUrls: m.tlogs.map((l) => service(l.url, l.validFor)),
    tsaUrls: m.timestampAuthorities.map((t) => service(t.url, t.validFor)),
    rekorTlogConfig: { selector: 'ANY' },
    tsaConfig: { selector: 'ANY' },
  });
}

/** The part of a signing config we read back: its OIDC issuers (the trusted root has none). */
const signingConfigIssuers = z.object({
  oidcUrls: z.array(z.object({ url: z.string(), validFor: z.object({ start: z.string(), end: z.string().optional() }) })).default([]),
});

/** Read the material back from a trusted_root.json and signing config we published. */
export function parseTrustMaterial(trustedRoot: Buffer, signingConfig?: Buffer): TrustMaterial {
  const t = parseTrustedRoot(trustedRoot);
  const auth = (a: AuthorityEntry): AuthoritySpec => ({ url: a.uri, chainPem: a.certificates.map((c) => pem('CERTIFICATE', c)).join(''), validFor: a.validFor });
  const lg = (l: LogEntry): LogSpec => ({ url: l.baseUrl, keyPem: pem('PUBLIC KEY', l.publicKey), validFor: l.validFor });
  const oidc = signingConfig ? signingConfigIssuers.parse(JSON.parse(signingConfig.toString('utf8'))).oidcUrls : [];
  return {
    certificateAuthorities: t.certificateAuthorities.map(auth),
    tlogs: t.tlogs.map(lg),
    ctlogs: t.ctlogs.map(lg),
    timestampAuthorities: t.timestampAuthorities.map(auth),
    oidcIssuers: oidc,
  };
}

/**
 * The targets an origin publishes: the two JSON documents, plus the legacy files with the
 * `{"sigstore": {usage, status, uri}}` custom metadata cosign and older clients select by.
 * Retired entries keep their files (status Expired) so old signatures still verify.
 */
export function trustTargets(m: TrustMaterial, operator: string, now: Date): TargetFileSpec[] {
  const status = (v: Validity) => (v.end && Date.parse(v.end) <= now.getTime() ? 'Expired' : 'Active');
  const custom = (usage: string, url: string, v: Validity) => ({ sigstore: { usage, status: status(v), uri: url } });
  const numbered = (base: string, i: number, ext: string) => (i === 0 ? `${base}${ext}` : `${base}_${i + 1}${ext}`);
  const targets: TargetFileSpec[] = [
    { name: 'trusted_root.json', bytes: trustedRootJson(m) },
    { name: 'signing_config.v0.2.json', bytes: signingConfigJson(m, operator) },
  ];
  m.certificateAuthorities.forEach((a, i) =>
    targets.push({
      name: numbered('fulcio_v1', i, '.crt.pem'),
      bytes: Buffer.from(
        certificates(a.chainPem, 'ca')
          .map((c) => c.toString())
          .join(''),
      ),
      custom: custom('Fulcio', a.url, a.validFor),
    }),
  );
  m.tlogs.forEach((l, i) => targets.push({ name: numbered('rekor', i, '.pub'), bytes: Buffer.from(spkiPem(l.keyPem)), custom: custom('Rekor', l.url, l.validFor) }));
  m.ctlogs.forEach((l, i) => targets.push({ name: numbered('ctfe', i, '.pub'), bytes: Buffer.from(spkiPem(l.keyPem)), custom: custom('CTFE', l.url, l.validFor) }));
  m.timestampAuthorities.forEach((t, i) =>
    targets.push({
      name: `tsa_${i + 1}.crt.pem`,
      bytes: Buffer.from(
        certificates(t.chainPem, 'tsa')
          .map((c) => c.toString())
          .join(''),
      ),
      custom: custom('TSA', t.url, t.validFor),
    }),
  );
  return targets;
}

const spkiPem = (pem: string): string => publicKey(pem, 'key').export({ format: 'pem', type: 'spki' }).toString();
