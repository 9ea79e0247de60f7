/**
 * Kubewarden's side of a private Sigstore (its guide, steps 3 and 4): the `verification-config`
 * ConfigMap (which signatures a policy module must carry: `allOf`, or `anyOf` with
 * `minimumMatches`, of `genericIssuer` and `githubAction` entries) from the identity flags, and a
 * PolicyServer patch naming it and the ClientTrustConfig ConfigMap (`spec.verificationConfig`,
 * `spec.sigstoreTrustConfig`).
 *
 * The policy server reads both files when it starts, and its controller rolls the pods when the
 * PolicyServer's `spec.annotations` change (they become the pod template's): the patch carries the
 * sha256 of each ConfigMap's content there, so re-applying it after either changed restarts the
 * servers, and nothing else does.
 */
import { createHash } from 'node:crypto';
import YAML from 'yaml';
import { ANNOTATION, checkNamespace, checkObjectName, objectMetadata, renderYaml, sizeWarnings } from './k8s';
import { TrustRootError } from './errors';
import { describeSubject, hasIdentityFlags, requireIdentity, urlPrefixWithSlash, type Identity, type SubjectMatch } from './identity';
import { clientTrustConfig, DEFAULT_NAMESPACE, defaultConfigMapName } from './kubewarden';
import { describeSource, type TrustMaterial } from './material';
import type { TrustOptions, TrustOutput } from './options';

const YAML_TYPE = 'application/yaml; charset=utf-8';
/** The key the policy server's controller mounts (constants.PolicyServerVerificationConfigEntry). */
export const VERIFICATION_CONFIG_KEY = 'verification-config';
export const GITHUB_ACTIONS_ISSUER = 'https://token.actions.githubusercontent.com';
export const defaultVerificationConfigName = (m: Pick<TrustMaterial, 'repository'>): string => `tuf-mirror-${m.repository}-verification-config`;
export const DEFAULT_POLICY_SERVER = 'default';

const sha256 = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

/**
 * One signature entry. Kubewarden compares subjects exactly or by a `/`-terminated URL prefix,
 * never by regular expression; a GitHub Actions issuer with a `https://github.com/OWNER[/REPO]`
 * prefix is its `githubAction` kind.
 */
function entry(issuer: string, s: SubjectMatch): Record<string, unknown> {
  if (s.kind === 'regexp') {
    throw new TrustRootError(
      'INVALID_IDENTITY',
      `Kubewarden matches subjects exactly or by URL prefix, never by regular expression: use --subject or --subject-url-prefix instead of --subject-regexp "${s.value}"`,
    );
  }
  if (s.kind === 'equal') return { kind: 'genericIssuer', issuer, subject: { equal: s.value } };
  const github = /^https:\/\/github\.com\/([A-Za-z0-9_.-]+)(?:\/([A-Za-z0-9_.-]+))?\/?$/.exec(s.value);
  if (issuer === GITHUB_ACTIONS_ISSUER && github) return { kind: 'githubAction', owner: github[1], ...(github[2] ? { repo: github[2] } : {}) };
  return { kind: 'genericIssuer', issuer, subject: { urlPrefix: urlPrefixWithSlash(s.value) } };
}

/** The verification config document (apiVersion v1): one identity in allOf, several in anyOf. */
export function verificationConfigText(identity: Identity): string {
  const entries = identity.subjects.map((s) => entry(identity.issuer, s));
  const doc = entries.length === 1 ? { apiVersion: 'v1', allOf: entries } : { apiVersion: 'v1', anyOf: { minimumMatches: 1, signatures: entries } };
  return YAML.stringify(doc, { lineWidth: 0 });
}

export function kubewardenVerificationConfig(m: TrustMaterial, options: TrustOptions): TrustOutput {
  const identity = requireIdentity(options.identity ?? {}, 'kubewarden-verification-config');
  const text = verificationConfigText(identity);
  const name = checkObjectName(options.name ?? defaultVerificationConfigName(m));
  const namespace = checkNamespace(options.namespace ?? DEFAULT_NAMESPACE);
  const doc = { apiVersion: 'v1', kind: 'ConfigMap', metadata: objectMetadata(m, 'kubewarden-verification-config', name, {}, namespace), data: { [VERIFICATION_CONFIG_KEY]: text } };
  const yaml = renderYaml(doc, [
    `Kubewarden verification config from tuf-mirror (${describeSource(m)}): policy modules must be signed by`,
    `issuer ${identity.issuer}, subject ${identity.subjects.map(describeSubject).join(' or ')}.`,
    `Apply: kubectl apply -f <this file>, then --format kubewarden-policy-server names it in the PolicyServer (spec.verificationConfig).`,
  ]);
  const body = Buffer.from(yaml, 'utf8');
  return {
    format: 'kubewarden-verification-config',
    contentType: YAML_TYPE,
    body,
    notes: [`ConfigMap ${namespace}/${name}: ${identity.subjects.length > 1 ? `anyOf ${identity.subjects.length}` : 'allOf 1'}`],
    warnings: sizeWarnings(body.length, 'the ConfigMap'),
  };
}

/**
 * A merge patch of an existing PolicyServer (`default`, --name): it names the trust config and,
 * with identity flags, the verification config, in the controller's namespace (kubewarden).
 */
export function kubewardenPolicyServer(m: TrustMaterial, options: TrustOptions): TrustOutput {
  const name = checkObjectName(options.name ?? DEFAULT_POLICY_SERVER);
  // What the two ConfigMaps hold, as --format kubewarden-configmap and kubewarden-verification-config write it.
  const trustConfig = clientTrustConfig(m, { ...options, name: undefined, namespace: undefined });
  const verification = hasIdentityFlags(options.identity ?? {}) ? verificationConfigText(requireIdentity(options.identity ?? {}, 'kubewarden-policy-server')) : undefined;
  const spec: Record<string, unknown> = {
    sigstoreTrustConfig: defaultConfigMapName(m),
    ...(verification ? { verificationConfig: defaultVerificationConfigName(m) } : {}),
    annotations: {
      [`${ANNOTATION}/sigstore-trust-config-sha256`]: sha256(trustConfig.body),
      ...(verification ? { [`${ANNOTATION}/verification-config-sha256`]: sha256(verification) } : {}),
    },
  };
  const doc = { apiVersion: 'policies.kubewarden.io/v1', kind: 'PolicyServer', metadata: objectMetadata(m, 'kubewarden-policy-server', name), spec };
  const yaml = renderYaml(doc, [
    `Kubewarden PolicyServer patch from tuf-mirror: ${describeSource(m)}.`,
    `Names the ConfigMaps ${defaultConfigMapName(m)}${verification ? ` and ${defaultVerificationConfigName(m)}` : ''} (namespace ${DEFAULT_NAMESPACE}); the sha256 annotations roll the policy servers when either changes.`,
    `A patch of the existing PolicyServer ${name}: kubectl patch policyserver ${name} --type merge --patch-file <this file>, or kubectl apply --server-side --field-manager tuf-mirror -f <this file>`,
  ]);
  const warnings = verification ? [] : ['no identity flags: spec.verificationConfig is left unset (policy modules are not required to be signed)'];
  return {
    format: 'kubewarden-policy-server',
    contentType: YAML_TYPE,
    body: Buffer.from(yaml, 'utf8'),
    notes: [`PolicyServer ${name}: sigstoreTrustConfig ${defaultConfigMapName(m)}${verification ? `, verificationConfig ${defaultVerificationConfigName(m)}` : ''}`],
    warnings: [...trustConfig.warnings, ...warnings],
  };
}
