import type { KeyObject } from 'node:crypto';
import { asRejection, parseBundle, verifyBundle, type VerifiedSigner } from './bundle';
import { describeMatcher, subjectMatches, type SubjectMatcher } from '../lib/identity';
import { evaluatePolicy, policyKeys, type Policy } from '../lib/policy';
import type { Artifact } from '../lib/signature';
import type { TrustRoot, TrustRootSource } from './trust-root';

/** What a bundle must prove beyond its own validity. */
export type Requirement = { kind: 'key'; keys: KeyObject[] } | { kind: 'identity'; subject: SubjectMatcher; issuer: string } | { kind: 'policy'; policy: Policy };

export type SignerSummary = {
  kind: 'key' | 'certificate';
  keyId: string;
  identity?: { subject?: string; issuer?: string; githubRepository?: string };
  logIndex: number | null;
  integratedTime: string | null;
  timestamps: string[];
};

export type BundleAnswer = { verified: true; signer: SignerSummary; matched?: string[]; trustRoot: TrustRootSource } | { verified: false; reasons: string[]; trustRoot: TrustRootSource };

export function summarize(s: VerifiedSigner): SignerSummary {
  const log = s.tlogEntries.at(0);
  return {
    kind: s.kind,
    keyId: s.keyId,
    ...(s.identity
      ? {
          identity: {
            subject: s.identity.subject,
            issuer: s.identity.issuer,
            ...(s.identity.githubRepository ? { githubRepository: s.identity.githubRepository } : {}),
          },
        }
      : {}),
    logIndex: log ? log.logIndex : null,
    integratedTime: log?.integratedTime ?? null,
    timestamps: s.timestamps,
  };
}

/** Verify one Sigstore bundle for a blob and apply the requirement. Every failure is an answer. */
export function verifyBlobBundle(bundleJson: unknown, artifact: Artifact, trustRoot: TrustRoot, requirement: Requirement): BundleAnswer {
  const trust = trustRoot.source;
  let signer: VerifiedSigner;
  try {
    const bundle = parseBundle(bundleJson);
    const managedKey = bundle.verificationMaterial.content.$case === 'publicKey';
    let expect: { kind: 'key'; keys: KeyObject[] } | { kind: 'certificate' };
    if (requirement.kind === 'key') expect = { kind: 'key', keys: requirement.keys };
    else if (requirement.kind === 'policy' && managedKey) expect = { kind: 'key', keys: policyKeys(requirement.policy) };
    else expect = { kind: 'certificate' };
    if (expect.kind === 'key' && expect.keys.length === 0) {
      return { verified: false, reasons: ['the bundle is signed with a managed key and the policy names no pubKey'], trustRoot: trust };
    }
    signer = verifyBundle(bundle, { trustRoot, artifact, expect });
  } catch (err) {
    const r = asRejection(err);
    return { verified: false, reasons: [`${r.code}: ${r.message}`], trustRoot: trust };
  }
  const summary = summarize(signer);
  switch (requirement.kind) {
    case 'key':
      return { verified: true, signer: summary, trustRoot: trust };
    case 'identity': {
      const reasons: string[] = [];
      if (!subjectMatches(requirement.subject, signer.identity?.subject)) {
        reasons.push(`certificate identity ${signer.identity?.subject ?? '(none)'} does not match: expected ${describeMatcher(requirement.subject)}`);
      }
      if (signer.identity?.issuer !== requirement.issuer) {
        reasons.push(`certificate OIDC issuer ${signer.identity?.issuer ?? '(none)'} is not ${requirement.issuer}`);
      }
      return reasons.length ? { verified: false, reasons, trustRoot: trust } : { verified: true, signer: summary, trustRoot: trust };
    }
    case 'policy': {
      const outcome = evaluatePolicy(requirement.policy, [
        { keyId: signer.keyId, identity: signer.identity, kind: signer.kind, annotations: {}, integratedTime: signer.tlogEntries[0]?.integratedTime ?? null },
      ]);
      return outcome.verified ? { verified: true, signer: summary, matched: outcome.matches.map((m) => m.entry), trustRoot: trust } : { verified: false, reasons: outcome.reasons, trustRoot: trust };
    }
  }
}
