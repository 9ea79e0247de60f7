/**
 * policy-controller beyond its TrustRoots: Helm values for the sigstore/policy-controller chart,
 * so the webhook does not reach the public CDN at start-up (the air-gap guides' two ways), the
 * ConfigMap holding the root those values mount, and a keyless ClusterImagePolicy bound to the
 * TrustRoot tuf-mirror hands out, its URLs taken from the mirrored trusted_root.json.
 *
 * Chart facts (sigstore/helm-charts charts/policy-controller): `webhook.extraArgs` is a map the
 * Deployment turns into `-key=value` arguments; `webhook.volumes` and `webhook.volumeMounts` are
 * appended to the webhook pod's. The webhook's flags (cmd/webhook/main.go): `-tuf-mirror URL`,
 * `-tuf-root FILE` (a root.json to start from), `-disable-tuf` (no TUF client at start-up: only
 * TrustRoots then).
 */
import { ANNOTATION, checkNamespace, checkObjectName, objectMetadata, renderYaml, sizeWarnings } from './k8s';
import { describeSubject, identityWarnings, requireIdentity, requireImages, urlPrefixRegexp, type SubjectMatch } from './identity';
import { keylessMaterial, policyControllerRekor } from './keyless';
import { describeSource, readTrustedRoot, requireTarget, type TrustMaterial } from './material';
import { DEFAULT_TRUSTED_ROOT_TARGET, type TrustOptions, type TrustOutput } from './options';
import { defaultTrustRootName } from './policy-controller';

const YAML_TYPE = 'application/yaml; charset=utf-8';
/** The chart's default release namespace in Sigstore's docs. */
export const POLICY_CONTROLLER_NAMESPACE = 'cosign-system';
export const ROOT_CONFIGMAP_KEY = 'root.json';
export const defaultRootConfigMapName = (m: Pick<TrustMaterial, 'repository'>): string => `tuf-mirror-${m.repository}-root`;
const ROOT_VOLUME = 'tuf-mirror-root';
const ROOT_MOUNT = '/var/run/tuf-mirror';

const yamlOutput = (format: string, yaml: string, notes: string[], warnings: string[]): TrustOutput => ({
  format,
  contentType: YAML_TYPE,
  body: Buffer.from(yaml, 'utf8'),
  notes,
  warnings,
});

/** The newest root, for the webhook's `-tuf-root`: where its TUF client starts (it follows rotations from the mirror). */
export function policyControllerRootConfigMap(m: TrustMaterial, options: TrustOptions): TrustOutput {
  const name = checkObjectName(options.name ?? defaultRootConfigMapName(m));
  const namespace = checkNamespace(options.namespace ?? POLICY_CONTROLLER_NAMESPACE);
  const doc = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: objectMetadata(m, 'policy-controller-root-configmap', name, {}, namespace),
    data: { [ROOT_CONFIGMAP_KEY]: m.root.bytes.toString('utf8') },
  };
  const yaml = renderYaml(doc, [
    `policy-controller start-up root from tuf-mirror: ${describeSource(m)}.`,
    `Root v${m.root.version} under ${ROOT_CONFIGMAP_KEY}, in the namespace policy-controller is installed in; --format policy-controller-values mounts it.`,
    'Apply: kubectl apply -f <this file>',
  ]);
  const out = yamlOutput('policy-controller-root-configmap', yaml, [`ConfigMap ${namespace}/${name}: root v${m.root.version}, ${m.root.bytes.length} bytes`], []);
  return { ...out, warnings: sizeWarnings(out.body.length, 'the ConfigMap') };
}

/** `-tuf-mirror` and `-tuf-root` from the ConfigMap above: the webhook's own TUF client reads this mirror. */
export function policyControllerValues(m: TrustMaterial, options: TrustOptions): TrustOutput {
  if (!options.mirrorUrl) throw new Error('policyControllerValues needs a resolved mirrorUrl');
  const configMap = checkObjectName(options.name ?? defaultRootConfigMapName(m));
  const values = {
    webhook: {
      extraArgs: { 'tuf-mirror': options.mirrorUrl, 'tuf-root': `${ROOT_MOUNT}/${ROOT_CONFIGMAP_KEY}` },
      volumes: [{ name: ROOT_VOLUME, configMap: { name: configMap, items: [{ key: ROOT_CONFIGMAP_KEY, path: ROOT_CONFIGMAP_KEY }] } }],
      volumeMounts: [{ name: ROOT_VOLUME, mountPath: ROOT_MOUNT, readOnly: true }],
    },
  };
  const yaml = renderYaml(values, [
    `policy-controller Helm values from tuf-mirror: ${describeSource(m)}.`,
    `The webhook starts its TUF client from root v${m.root.version} in the ConfigMap ${configMap} and reads ${options.mirrorUrl}, never the public CDN.`,
    `First: tuf-mirror trustroot ${m.repository} --format policy-controller-root-configmap --namespace <release namespace> | kubectl apply -f -`,
    'Then: helm upgrade --install policy-controller sigstore/policy-controller -n cosign-system -f <this file>',
    'Helm replaces lists: if your values already set webhook.volumes or webhook.volumeMounts, merge these entries into them.',
  ]);
  return yamlOutput('policy-controller-values', yaml, [`webhook: -tuf-mirror=${options.mirrorUrl} -tuf-root=${ROOT_MOUNT}/${ROOT_CONFIGMAP_KEY} (ConfigMap ${configMap})`], []);
}

/** `-disable-tuf`: no TUF at start-up; the webhook trusts only TrustRoots (tuf-mirror's, by trustRootRef). */
export function policyControllerValuesNoTuf(m: TrustMaterial, options: TrustOptions): TrustOutput {
  const trustRoot = checkObjectName(options.trustRootName ?? defaultTrustRootName(m));
  const values = { webhook: { extraArgs: { 'disable-tuf': true } } };
  const yaml = renderYaml(values, [
    `policy-controller Helm values from tuf-mirror: ${describeSource(m)}.`,
    'The webhook initializes no TUF client at start-up (it reaches no CDN); it verifies only against TrustRoots.',
    `Apply the TrustRoot ${trustRoot}: tuf-mirror trustroot ${m.repository} --format repository (reaches nothing), remote or sigstore-keys | kubectl apply --server-side -f -`,
    `and bind policies to it: tuf-mirror trustroot ${m.repository} --format cluster-image-policy --issuer … --subject … --image …`,
    'Then: helm upgrade --install policy-controller sigstore/policy-controller -n cosign-system -f <this file>',
  ]);
  return yamlOutput('policy-controller-values-no-tuf', yaml, [`webhook: -disable-tuf=true; ClusterImagePolicies name trustRootRef ${trustRoot}`], []);
}

export const defaultClusterImagePolicyName = (m: Pick<TrustMaterial, 'repository'>): string => `tuf-mirror-${m.repository}`;
export const CLUSTER_IMAGE_POLICY_AUTHORITY = 'tuf-mirror-keyless';

/** policy-controller's identities: exact strings or RE2 patterns (a URL prefix becomes one). */
const cipIdentity = (issuer: string, s: SubjectMatch) => (s.kind === 'equal' ? { issuer, subject: s.value } : { issuer, subjectRegExp: s.kind === 'regexp' ? s.value : urlPrefixRegexp(s.value) });

/**
 * A keyless ClusterImagePolicy (policy.sigstore.dev/v1beta1) whose Fulcio and Rekor come from the
 * TrustRoot tuf-mirror hands out (`trustRootRef`), their `url`s from the same trusted_root.json.
 */
export function clusterImagePolicy(m: TrustMaterial, options: TrustOptions): TrustOutput {
  const identity = requireIdentity(options.identity ?? {}, 'cluster-image-policy');
  const images = requireImages(options.identity ?? {}, 'cluster-image-policy');
  const target = requireTarget(m, options.trustedRootTarget ?? DEFAULT_TRUSTED_ROOT_TARGET);
  const keys = keylessMaterial(readTrustedRoot(target), options.now ?? Date.now(), policyControllerRekor);
  const trustRootRef = checkObjectName(options.trustRootName ?? defaultTrustRootName(m), 'the TrustRoot name');
  const name = checkObjectName(options.name ?? defaultClusterImagePolicyName(m));
  const warnings = [...identityWarnings(identity), ...keys.leftOut.map((l) => `left out: ${l}`)];
  const authority: Record<string, unknown> = {
    name: CLUSTER_IMAGE_POLICY_AUTHORITY,
    keyless: { url: keys.fulcio[0].uri, trustRootRef, identities: identity.subjects.map((s) => cipIdentity(identity.issuer, s)) },
  };
  if (keys.rekor) authority.ctlog = { url: keys.rekor.baseUrl, trustRootRef };
  else warnings.push(`no Rekor log policy-controller can take is valid now: the policy names none, and policy-controller's default (public-good Rekor) applies`);
  const doc = {
    apiVersion: 'policy.sigstore.dev/v1beta1',
    kind: 'ClusterImagePolicy',
    metadata: objectMetadata(m, 'cluster-image-policy', name, { [`${ANNOTATION}/trust-root`]: trustRootRef }),
    spec: { images: images.map((glob) => ({ glob })), authorities: [authority] },
  };
  const yaml = renderYaml(doc, [
    `policy-controller ClusterImagePolicy from tuf-mirror: ${describeSource(m)}.`,
    `Keyless: certificates from ${keys.fulcio[0].uri}, Rekor ${keys.rekor?.baseUrl ?? '(none)'}, both as the TrustRoot ${trustRootRef} holds them; issuer ${identity.issuer}, subject ${identity.subjects.map(describeSubject).join(' or ')}.`,
    `Apply the TrustRoot first (tuf-mirror trustroot ${m.repository} --format remote, repository or sigstore-keys --name ${trustRootRef}), then: kubectl apply -f <this file>`,
    'Only namespaces labelled policy.sigstore.dev/include=true are checked (the chart default).',
  ]);
  const out = yamlOutput(
    'cluster-image-policy',
    yaml,
    [`authority ${CLUSTER_IMAGE_POLICY_AUTHORITY}: ${identity.subjects.length} identit${identity.subjects.length > 1 ? 'ies' : 'y'}, images ${images.join(', ')}`],
    warnings,
  );
  return { ...out, warnings: [...out.warnings, ...sizeWarnings(out.body.length, 'the ClusterImagePolicy')] };
}
