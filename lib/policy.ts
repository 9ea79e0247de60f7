import { canonicalize } from '@tufjs/canonical-json';
import { X509Certificate as NodeX509, type KeyObject } from 'node:crypto';
import YAML from 'yaml';
import { z } from 'zod';
import { TufMirrorError } from '../lib/errors';
import { describeMatcher, subjectMatches, urlPrefixWithSlash, type CertIdentity, type SubjectMatcher } from './identity';
import { keyId, parsePublicKey } from './signature';

/**
 * Kubewarden's verification config (apiVersion v1): `allOf` entries must all match, at least
 * `anyOf.minimumMatches` of `anyOf.signatures` must match. Identities are compared exactly or by
 * a `/`-terminated prefix, never by regular expression.
 */

export const GITHUB_ACTIONS_ISSUER = 'https://token.actions.githubusercontent.com';

const annotations = z.record(z.string(), z.string()).optional();

const pubKeyEntry = z.strictObject({
  kind: z.literal('pubKey'),
  owner: z.string().optional(),
  key: z.string().min(1, 'must be a PEM public key'),
  annotations,
});

const subject = z.union([z.strictObject({ equal: z.string().min(1, 'must not be empty') }), z.strictObject({ urlPrefix: z.string().min(1, 'must not be empty') })]);

const genericIssuerEntry = z.strictObject({
  kind: z.literal('genericIssuer'),
  issuer: z.string().min(1, 'must name the OIDC issuer'),
  subject,
  annotations,
});

const githubActionEntry = z.strictObject({
  kind: z.literal('githubAction'),
  owner: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'must be a GitHub user or organization name'),
  repo: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, 'must be a repository name (without the owner)')
    .optional(),
  annotations,
});

const certificateEntry = z.strictObject({
  kind: z.literal('certificate'),
  owner: z.string().optional(),
  /** The signer's certificate (PEM): signatures must verify with its key. */
  certificate: z.string().min(1, 'must be a PEM certificate'),
  /** CA certificates (PEM) the certificate must chain to, up to a self-signed root. */
  certificateChain: z.array(z.string().min(1)).optional(),
  /** Require a Rekor SET whose integrated time lies within the certificate's validity (default true); else the certificate must be valid now. */
  requireRekorBundle: z.boolean().default(true),
  annotations,
});

const KINDS = ['pubKey', 'genericIssuer', 'githubAction', 'certificate'] as const;

const entry = z.unknown().transform((value, ctx) => {
  // Any JSON value may come (null, a string): only an object can name a kind.
  const kind = typeof value === 'object' && value !== null && 'kind' in value ? value.kind : undefined;
  const schema = kind === 'pubKey' ? pubKeyEntry : kind === 'genericIssuer' ? genericIssuerEntry : kind === 'githubAction' ? githubActionEntry : kind === 'certificate' ? certificateEntry : undefined;
  if (!schema) {
    ctx.addIssue({ code: 'custom', path: ['kind'], message: `must be one of ${KINDS.join(', ')}${kind === undefined ? '' : ` (got ${JSON.stringify(kind)})`}` });
    return z.NEVER;
  }
  const r = schema.safeParse(value);
  if (!r.success) {
    for (const issue of r.error.issues) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
    return z.NEVER;
  }
  return r.data;
});

const policySchema = z
  .strictObject({
    apiVersion: z.literal('v1', { error: 'must be "v1"' }),
    allOf: z.array(entry).optional(),
    anyOf: z
      .strictObject({
        minimumMatches: z.number().int().min(1).default(1),
        signatures: z.array(entry).min(1, 'must list at least one signature'),
      })
      .optional(),
  })
  .superRefine((p, ctx) => {
    if (!p.allOf?.length && !p.anyOf) ctx.addIssue({ code: 'custom', path: [], message: 'needs allOf or anyOf (a policy that requires nothing verifies nothing)' });
    if (p.anyOf && p.anyOf.minimumMatches > p.anyOf.signatures.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['anyOf', 'minimumMatches'],
        message: `is ${p.anyOf.minimumMatches} but anyOf.signatures lists only ${p.anyOf.signatures.length}`,
      });
    }
  });

export type PolicyEntry =
  | { kind: 'pubKey'; owner?: string; key: KeyObject; keyId: string; annotations?: Record<string, string> }
  | { kind: 'genericIssuer'; issuer: string; subject: SubjectMatcher; annotations?: Record<string, string> }
  | { kind: 'githubAction'; owner: string; repo?: string; annotations?: Record<string, string> }
  | {
      kind: 'certificate';
      owner?: string;
      key: KeyObject;
      keyId: string;
      subject: string;
      notBefore: Date;
      notAfter: Date;
      requireRekorBundle: boolean;
      annotations?: Record<string, string>;
    };

export type Policy = {
  allOf: PolicyEntry[];
  anyOf?: { minimumMatches: number; signatures: PolicyEntry[] };
  /** Canonical JSON of the parsed policy (keys sorted, keys by id, dates as ISO): part of the cache key. */
  fingerprint: string;
};

export class PolicyError extends TufMirrorError<'BAD_POLICY'> {
  constructor(
    message: string,
    /** Every problem, `field: message`. */
    readonly issues: string[],
  ) {
    // The field at fault is the first problem's.
    super('BAD_POLICY', message, { details: { field: /^([^:]+):/.exec(issues[0] ?? '')?.[1] ?? 'policy', issues } });
  }
}

function formatPath(prefix: string, p: readonly PropertyKey[]): string {
  return p.reduce<string>((acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : `${acc}.${String(seg)}`), prefix);
}

/** A policy as YAML or JSON text, or as an already parsed object. `prefix` names it in messages. */
export function parsePolicy(input: unknown, prefix = 'policy'): Policy {
  let raw = input;
  if (typeof input === 'string') {
    try {
      raw = YAML.parse(input);
    } catch (err) {
      throw new PolicyError(`${prefix}: not valid YAML/JSON: ${(err as Error).message}`, [`${prefix}: not valid YAML/JSON`]);
    }
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new PolicyError(`${prefix}: must be an object with apiVersion: v1 and allOf and/or anyOf`, [`${prefix}: must be an object`]);
  }
  const r = policySchema.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${formatPath(prefix, i.path)}: ${i.message}`);
    throw new PolicyError(issues.join('; '), issues);
  }
  const issues: string[] = [];
  const toEntry = (e: z.output<typeof entry>, where: string): PolicyEntry | undefined => {
    if (e.kind === 'certificate') {
      try {
        const cert = new NodeX509(e.certificate);
        if (e.certificateChain) {
          const chain = e.certificateChain.map((pem, i) => {
            try {
              return new NodeX509(pem);
            } catch {
              throw new Error(`certificateChain[${i}] is not a PEM certificate`);
            }
          });
          chainsTo(cert, chain);
        }
        return {
          kind: 'certificate',
          ...(e.owner ? { owner: e.owner } : {}),
          key: cert.publicKey,
          keyId: keyId(cert.publicKey),
          subject: cert.subject.replace(/\n/g, ', '),
          notBefore: new Date(cert.validFrom),
          notAfter: new Date(cert.validTo),
          requireRekorBundle: e.requireRekorBundle,
          ...(e.annotations ? { annotations: e.annotations } : {}),
        };
      } catch (err) {
        issues.push(`${where}.certificate: ${(err as Error).message.replace(/^error:\S+\s*/, '')}`);
        return undefined;
      }
    }
    if (e.kind !== 'pubKey') return e;
    try {
      const key = parsePublicKey(e.key);
      return { kind: 'pubKey', ...(e.owner ? { owner: e.owner } : {}), key, keyId: keyId(key), ...(e.annotations ? { annotations: e.annotations } : {}) };
    } catch (err) {
      issues.push(`${where}.key: ${(err as Error).message}`);
      return undefined;
    }
  };
  // An entry that fails is undefined and has its issue: a policy with any issue is refused whole.
  const parsed = (e: PolicyEntry | undefined): e is PolicyEntry => e !== undefined;
  const allOf = (r.data.allOf ?? []).map((e, i) => toEntry(e, `${prefix}.allOf[${i}]`)).filter(parsed);
  const anyOf = r.data.anyOf && {
    minimumMatches: r.data.anyOf.minimumMatches,
    signatures: r.data.anyOf.signatures.map((e, i) => toEntry(e, `${prefix}.anyOf.signatures[${i}]`)).filter(parsed),
  };
  if (issues.length) throw new PolicyError(issues.join('; '), issues);
  // Whatever way a caller writes the same policy (key order, PEM line breaks, YAML or JSON), one
  // fingerprint: a cache a caller could miss at will would cost the registry and the CPU each time.
  const canonical = (e: PolicyEntry): unknown =>
    e.kind === 'pubKey' ? { ...e, key: undefined } : e.kind === 'certificate' ? { ...e, key: undefined, notBefore: e.notBefore.toISOString(), notAfter: e.notAfter.toISOString() } : e;
  const fingerprint = canonicalize(JSON.parse(JSON.stringify({ allOf: allOf.map(canonical), anyOf: anyOf && { ...anyOf, signatures: anyOf.signatures.map(canonical) } })));
  return { allOf, ...(anyOf ? { anyOf } : {}), fingerprint };
}

/** A policy sent over HTTP: a JSON object only (YAML text is for policy files, parsed from disk). */
export function parsePolicyObject(input: unknown, prefix = 'policy'): Policy {
  if (typeof input === 'string') {
    throw new PolicyError(`${prefix}: over HTTP a policy is a JSON object, not text (YAML is for policy files)`, [`${prefix}: must be a JSON object`]);
  }
  return parsePolicy(input, prefix);
}

/** Every key the policy names: signatures without a certificate are checked against these. */
export function policyKeys(policy: Policy): KeyObject[] {
  const entries = [...policy.allOf, ...(policy.anyOf?.signatures ?? [])];
  const seen = new Map<string, KeyObject>();
  for (const e of entries) if ((e.kind === 'pubKey' || e.kind === 'certificate') && !seen.has(e.keyId)) seen.set(e.keyId, e.key);
  return [...seen.values()];
}

/** A cryptographically verified signature, as the policy sees it. */
export type VerifiedSignatureFacts = {
  /** sha256 of the signing key's SPKI. */
  keyId: string;
  /** Present for certificate (keyless) signatures. */
  identity?: CertIdentity;
  kind: 'key' | 'certificate';
  /** Simple-signing `optional` annotations (cosign -a key=value); empty for bundles. */
  annotations: Record<string, string>;
  /** Integrated time of its (verified) Rekor entry, if any. */
  integratedTime?: string | null;
};

export function describeEntry(e: PolicyEntry): string {
  switch (e.kind) {
    case 'pubKey':
      return `pubKey${e.owner ? ` of ${e.owner}` : ''} (key sha256:${e.keyId.slice(0, 16)}…)`;
    case 'genericIssuer':
      return `genericIssuer ${e.issuer}, subject ${describeMatcher(e.subject)}`;
    case 'githubAction':
      return `githubAction ${e.owner}${e.repo ? `/${e.repo}` : '/*'}`;
    case 'certificate':
      return `certificate ${e.subject}${e.owner ? ` of ${e.owner}` : ''}${e.requireRekorBundle ? ', Rekor bundle required' : ''}`;
  }
}

function annotationsMatch(required: Record<string, string> | undefined, actual: Record<string, string>): boolean {
  return Object.entries(required ?? {}).every(([k, v]) => actual[k] === v);
}

/** Does one verified signature satisfy one policy entry? */
export function entryMatches(e: PolicyEntry, s: VerifiedSignatureFacts): boolean {
  if (!annotationsMatch(e.annotations, s.annotations)) return false;
  switch (e.kind) {
    case 'pubKey':
      return s.kind === 'key' && s.keyId === e.keyId;
    case 'genericIssuer':
      return s.kind === 'certificate' && s.identity?.issuer === e.issuer && subjectMatches(e.subject, s.identity.subject);
    case 'certificate': {
      if (s.kind !== 'key' || s.keyId !== e.keyId) return false;
      // Signed while the certificate was valid: proven by Rekor's integrated time, or else it must be valid now.
      const at = e.requireRekorBundle ? (s.integratedTime ? new Date(s.integratedTime) : undefined) : new Date();
      return at !== undefined && at >= e.notBefore && at <= e.notAfter;
    }
    case 'githubAction': {
      if (s.kind !== 'certificate' || s.identity?.issuer !== GITHUB_ACTIONS_ISSUER) return false;
      const repo = s.identity.githubRepository;
      // Both the certificate extension and the SAN must point into the repository.
      const prefix = urlPrefixWithSlash(`https://github.com/${e.owner}${e.repo ? `/${e.repo}` : ''}`);
      const san = s.identity.subject ?? '';
      if (!san.startsWith(prefix)) return false;
      if (!repo) return false;
      const [owner, name] = repo.split('/');
      return owner === e.owner && (e.repo === undefined || name === e.repo);
    }
  }
}

/** `cert` must chain through `chain` to a self-signed certificate of `chain`; throws why not. */
function chainsTo(cert: NodeX509, chain: NodeX509[]): void {
  let current = cert;
  for (let depth = 0; depth <= chain.length; depth++) {
    const issuer = chain.find((c) => current.checkIssued(c) && current.verify(c.publicKey));
    if (!issuer) throw new Error(`${depth === 0 ? 'the certificate' : `"${current.subject.replace(/\n/g, ', ')}"`} is not issued by any certificate of certificateChain`);
    if (!issuer.ca) throw new Error(`"${issuer.subject.replace(/\n/g, ', ')}" is not a CA certificate`);
    if (issuer.checkIssued(issuer) && issuer.verify(issuer.publicKey)) return;
    current = issuer;
  }
  throw new Error('certificateChain does not end at a self-signed root');
}

export type PolicyMatch<S> = { entry: string; kind: PolicyEntry['kind']; signature: S };
export type PolicyOutcome<S> = { verified: boolean; matches: PolicyMatch<S>[]; reasons: string[] };

/** Apply a policy to the signatures that verified cryptographically. */
export function evaluatePolicy<S extends VerifiedSignatureFacts>(policy: Policy, signatures: S[]): PolicyOutcome<S> {
  const matches: PolicyMatch<S>[] = [];
  const reasons: string[] = [];
  policy.allOf.forEach((e, i) => {
    const hit = signatures.find((s) => entryMatches(e, s));
    if (hit) matches.push({ entry: `allOf[${i}]`, kind: e.kind, signature: hit });
    else reasons.push(`allOf[${i}] (${describeEntry(e)}${e.annotations ? ` with annotations ${JSON.stringify(e.annotations)}` : ''}): no verified signature matches`);
  });
  if (policy.anyOf) {
    const { minimumMatches, signatures: entries } = policy.anyOf;
    let count = 0;
    entries.forEach((e, i) => {
      const hit = signatures.find((s) => entryMatches(e, s));
      if (hit) {
        count++;
        matches.push({ entry: `anyOf.signatures[${i}]`, kind: e.kind, signature: hit });
      }
    });
    if (count < minimumMatches) {
      reasons.push(`anyOf: ${count} of the required ${minimumMatches} matched (${entries.map(describeEntry).join('; ')})`);
    }
  }
  return { verified: reasons.length === 0, matches, reasons };
}
