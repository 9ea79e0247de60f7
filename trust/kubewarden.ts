/**
 * Kubewarden: a Sigstore ClientTrustConfig (trusted root + signing config in one JSON document),
 * bare or in the ConfigMap a PolicyServer's `spec.sigstoreTrustConfig` names. The controller
 * reads the key `sigstore-trust-config` from a ConfigMap in its own namespace.
 */
import { checkNamespace, checkObjectName, objectMetadata, renderYaml, sizeWarnings, validityAnnotation, validityComment } from './k8s';
import { describeSource, readTrustedRoot, requireTarget, type TrustMaterial } from './material';
import { DEFAULT_TRUSTED_ROOT_TARGET, type TrustOptions, type TrustOutput } from './options';
import { trustedRootValidity } from './validity';

export const CLIENT_TRUST_CONFIG_MEDIA_TYPE = 'application/vnd.dev.sigstore.clienttrustconfig.v0.1+json';
export const SIGNING_CONFIG_TARGET = 'signing_config.v0.2.json';
export const CONFIGMAP_KEY = 'sigstore-trust-config';
export const DEFAULT_NAMESPACE = 'kubewarden';

/**
 * The ClientTrustConfig JSON. The two targets are embedded verbatim (less a trailing newline),
 * not parsed and re-serialized: what Kubewarden trusts is exactly the text the TUF metadata signed.
 */
export function clientTrustConfig(m: TrustMaterial, options: TrustOptions): TrustOutput {
  const trusted = requireTarget(m, options.trustedRootTarget ?? DEFAULT_TRUSTED_ROOT_TARGET);
  // Refuse a target that is not a trusted root before embedding it.
  const validity = trustedRootValidity(readTrustedRoot(trusted), options.now ?? Date.now());
  const signing = m.targetFiles.find((t) => t.name === SIGNING_CONFIG_TARGET);
  const warnings: string[] = [];
  const fields = [`  "mediaType": ${JSON.stringify(CLIENT_TRUST_CONFIG_MEDIA_TYPE)}`, `  "trustedRoot": ${trusted.bytes.toString('utf8').trimEnd()}`];
  if (signing) {
    JSON.parse(signing.bytes.toString('utf8'));
    fields.push(`  "signingConfig": ${signing.bytes.toString('utf8').trimEnd()}`);
  } else {
    warnings.push(`repository has no ${SIGNING_CONFIG_TARGET} target: signingConfig left out (verification works; signing with this config does not)`);
  }
  const body = Buffer.from(`{\n${fields.join(',\n')}\n}\n`, 'utf8');
  return {
    format: 'client-trust-config',
    contentType: 'application/json',
    body,
    notes: [`ClientTrustConfig from ${describeSource(m)}: ${trusted.name}${signing ? ` + ${signing.name}` : ''}`],
    warnings,
    ...(validity ? { validity } : {}),
  };
}

export const defaultConfigMapName = (m: Pick<TrustMaterial, 'repository'>): string => `tuf-mirror-${m.repository}-trust-config`;

export function kubewardenConfigMap(m: TrustMaterial, options: TrustOptions): TrustOutput {
  const inner = clientTrustConfig(m, options);
  const name = checkObjectName(options.name ?? defaultConfigMapName(m));
  const namespace = checkNamespace(options.namespace ?? DEFAULT_NAMESPACE);
  const doc = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: objectMetadata(m, 'kubewarden-configmap', name, validityAnnotation(inner.validity), namespace),
    data: { [CONFIGMAP_KEY]: inner.body.toString('utf8') },
  };
  const yaml = renderYaml(doc, [
    `Kubewarden ClientTrustConfig from tuf-mirror: ${describeSource(m)}.`,
    'Apply: kubectl apply -f <this file>, then point the PolicyServer at it:',
    `  kubectl patch policyserver default --type merge -p '{"spec":{"sigstoreTrustConfig":"${name}"}}'`,
    `  (kubewarden-defaults chart: --set policyServer.sigstoreTrustConfig=${name})`,
    ...validityComment(inner.validity),
  ]);
  const body = Buffer.from(yaml, 'utf8');
  return {
    format: 'kubewarden-configmap',
    contentType: 'application/yaml; charset=utf-8',
    body,
    notes: inner.notes,
    warnings: [...inner.warnings, ...sizeWarnings(body.length, 'the ConfigMap')],
    ...(inner.validity ? { validity: inner.validity } : {}),
  };
}
