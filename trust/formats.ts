/**
 * Every trust-root output by name: what the CLI's --format and the API's ?format= accept. Each is
 * a pure function of one generation's TrustMaterial and the caller's options.
 */
import { createHash } from 'node:crypto';
import { cosignScript } from './cosign';
import { TrustRootError } from './errors';
import { clientTrustConfig, DEFAULT_NAMESPACE as KUBEWARDEN_NAMESPACE, defaultConfigMapName, kubewardenConfigMap } from './kubewarden';
import { DEFAULT_POLICY_SERVER, defaultVerificationConfigName, kubewardenPolicyServer, kubewardenVerificationConfig } from './kubewarden-verification';
import { FLUX_NAMESPACE, defaultFluxSecretName, fluxSecret } from './flux';
import { checkNamespace, checkObjectName, type ObjectRef } from './k8s';
import { defaultKyvernoPolicyName, kyvernoPolicy, kyvernoPolicyTrustedRoot, kyvernoValues } from './kyverno';
import { defaultKyvernoClusterPolicyName, defaultKyvernoKeysConfigMapName, KYVERNO_NAMESPACE, kyvernoClusterPolicy, kyvernoEnvValues, kyvernoKeysConfigMap } from './kyverno-keyless';
import { hasIdentityFlags } from './identity';
import { describeSource, requireTarget, type TrustMaterial } from './material';
import { DEFAULT_TRUSTED_ROOT_TARGET, type TrustOptions, type TrustOutput } from './options';
import { defaultTrustRootName, remoteTrustRoot, repositoryTrustRoot, sigstoreKeysTrustRoot } from './policy-controller';
import {
  clusterImagePolicy,
  defaultClusterImagePolicyName,
  defaultRootConfigMapName,
  POLICY_CONTROLLER_NAMESPACE,
  policyControllerRootConfigMap,
  policyControllerValues,
  policyControllerValuesNoTuf,
} from './policy-controller-install';
import { describeValidity, trustedRootValidity } from './validity';
import { readTrustedRoot } from './material';

type Format = {
  description: string;
  /** Whether it embeds the URL clients reach the mirror at. */
  needsMirrorUrl: boolean;
  render: (m: TrustMaterial, options: TrustOptions) => TrustOutput;
  /**
   * The Kubernetes object it is, known before rendering: what `tuf-mirror refresh-cluster` may
   * apply (nothing else) and what its RBAC names. Absent: not an object (Helm values, JSON, a script).
   */
  object?: (repository: string, options: TrustOptions) => ObjectRef;
  /** A patch of an object the consumer's installation creates: applied only where it exists. */
  patchOnly?: boolean;
  /** Which identity flags it reads (trust/identity.ts). */
  reads?: { identity: boolean; images: boolean };
};

/** A verified file handed over exactly as the mirror serves it. */
function raw(format: string, m: TrustMaterial, name: string, bytes: Buffer): TrustOutput {
  return { format, contentType: 'application/json', body: bytes, notes: [`${name} of ${describeSource(m)}, ${bytes.length} bytes`], warnings: [] };
}

const cluster =
  (apiVersion: string, kind: string, resource: string) =>
  (name: string): ObjectRef => ({ apiVersion, kind, resource, name: checkObjectName(name) });
const namespaced =
  (kind: 'ConfigMap' | 'Secret', resource: string) =>
  (name: string, namespace: string): ObjectRef => ({
    apiVersion: 'v1',
    kind,
    resource,
    namespace: checkNamespace(namespace),
    name: checkObjectName(name),
  });
const trustRoot = cluster('policy.sigstore.dev/v1alpha1', 'TrustRoot', 'trustroots');
const configMap = namespaced('ConfigMap', 'configmaps');
const r = (repository: string) => ({ repository });

export const FORMATS = {
  remote: {
    description: 'policy-controller TrustRoot, spec.remote: the newest root and the mirror URL',
    needsMirrorUrl: true,
    render: remoteTrustRoot,
    object: (repo, o) => trustRoot(o.name ?? defaultTrustRootName(r(repo))),
  },
  repository: {
    description: 'policy-controller TrustRoot, spec.repository: the newest root and the repository as mirrorFS (air gap)',
    needsMirrorUrl: false,
    render: repositoryTrustRoot,
    object: (repo, o) => trustRoot(o.name ?? defaultTrustRootName(r(repo))),
  },
  'sigstore-keys': {
    description: 'policy-controller TrustRoot, spec.sigstoreKeys from trusted_root.json (entries valid now; --all for every one)',
    needsMirrorUrl: false,
    render: sigstoreKeysTrustRoot,
    object: (repo, o) => trustRoot(o.name ?? defaultTrustRootName(r(repo))),
  },
  'cluster-image-policy': {
    description: 'policy-controller ClusterImagePolicy: keyless (--issuer, --subject…, --image) bound to the TrustRoot by trustRootRef',
    needsMirrorUrl: false,
    render: clusterImagePolicy,
    object: (repo, o) => cluster('policy.sigstore.dev/v1beta1', 'ClusterImagePolicy', 'clusterimagepolicies')(o.name ?? defaultClusterImagePolicyName(r(repo))),
    reads: { identity: true, images: true },
  },
  'policy-controller-values': {
    description: 'policy-controller Helm values: webhook -tuf-mirror and -tuf-root from a mounted ConfigMap (no public CDN at start-up)',
    needsMirrorUrl: true,
    render: policyControllerValues,
  },
  'policy-controller-values-no-tuf': {
    description: 'policy-controller Helm values: webhook -disable-tuf, to trust only the TrustRoot tuf-mirror hands out',
    needsMirrorUrl: false,
    render: policyControllerValuesNoTuf,
  },
  'policy-controller-root-configmap': {
    description: 'the newest root.json in a ConfigMap (namespace cosign-system) for policy-controller-values',
    needsMirrorUrl: false,
    render: policyControllerRootConfigMap,
    object: (repo, o) => configMap(o.name ?? defaultRootConfigMapName(r(repo)), o.namespace ?? POLICY_CONTROLLER_NAMESPACE),
  },
  'client-trust-config': { description: 'Sigstore ClientTrustConfig JSON (trusted root + signing config), as Kubewarden reads it', needsMirrorUrl: false, render: clientTrustConfig },
  'kubewarden-configmap': {
    description: 'the ClientTrustConfig in a ConfigMap for a Kubewarden PolicyServer (spec.sigstoreTrustConfig)',
    needsMirrorUrl: false,
    render: kubewardenConfigMap,
    object: (repo, o) => configMap(o.name ?? defaultConfigMapName(r(repo)), o.namespace ?? KUBEWARDEN_NAMESPACE),
  },
  'kubewarden-verification-config': {
    description: 'Kubewarden verification-config ConfigMap (allOf/anyOf of genericIssuer, githubAction) from --issuer and --subject…',
    needsMirrorUrl: false,
    render: kubewardenVerificationConfig,
    object: (repo, o) => configMap(o.name ?? defaultVerificationConfigName(r(repo)), o.namespace ?? KUBEWARDEN_NAMESPACE),
    reads: { identity: true, images: false },
  },
  'kubewarden-policy-server': {
    description: 'a patch of the PolicyServer (default) naming both ConfigMaps; rolls its pods when either changes',
    needsMirrorUrl: false,
    render: kubewardenPolicyServer,
    object: (_repo, o) => cluster('policies.kubewarden.io/v1', 'PolicyServer', 'policyservers')(o.name ?? DEFAULT_POLICY_SERVER),
    patchOnly: true,
    reads: { identity: true, images: false },
  },
  'kyverno-values': { description: 'Kyverno Helm values features.tuf (mirror and rootRaw)', needsMirrorUrl: true, render: kyvernoValues },
  'kyverno-policy': {
    description: 'Kyverno ImageValidatingPolicy, attestor cosign.tuf (mirror and root data)',
    needsMirrorUrl: true,
    render: kyvernoPolicy,
    object: (repo, o) => cluster('policies.kyverno.io/v1', 'ImageValidatingPolicy', 'imagevalidatingpolicies')(o.name ?? defaultKyvernoPolicyName(r(repo))),
  },
  'kyverno-policy-trusted-root': {
    description: 'Kyverno ImageValidatingPolicy, attestor cosign.trustedRoot (trusted_root.json inline)',
    needsMirrorUrl: false,
    render: kyvernoPolicyTrustedRoot,
    object: (repo, o) => cluster('policies.kyverno.io/v1', 'ImageValidatingPolicy', 'imagevalidatingpolicies')(o.name ?? defaultKyvernoPolicyName(r(repo))),
  },
  'kyverno-cluster-policy': {
    description: 'Kyverno ClusterPolicy verifyImages keyless: roots, rekor and ctlog keys from trusted_root.json (no TUF)',
    needsMirrorUrl: false,
    render: kyvernoClusterPolicy,
    object: (repo, o) => cluster('kyverno.io/v1', 'ClusterPolicy', 'clusterpolicies')(o.name ?? defaultKyvernoClusterPolicyName(r(repo))),
    reads: { identity: true, images: true },
  },
  'kyverno-keys-configmap': {
    description: "rekor.pub, ctfe.pub and fulcio.crt.pem in a ConfigMap (namespace kyverno), for older Kyverno's SIGSTORE_* environment",
    needsMirrorUrl: false,
    render: kyvernoKeysConfigMap,
    object: (repo, o) => configMap(o.name ?? defaultKyvernoKeysConfigMapName(r(repo)), o.namespace ?? KYVERNO_NAMESPACE),
  },
  'kyverno-env-values': {
    description: 'Kyverno Helm values: SIGSTORE_REKOR_PUBLIC_KEY, SIGSTORE_CT_LOG_PUBLIC_KEY_FILE, SIGSTORE_ROOT_FILE from that ConfigMap',
    needsMirrorUrl: false,
    render: kyvernoEnvValues,
  },
  'flux-secret': {
    description: 'Flux Secret with trusted_root.json for OCIRepository verify.trustedRootSecretRef',
    needsMirrorUrl: false,
    render: fluxSecret,
    object: (repo, o) => namespaced('Secret', 'secrets')(o.name ?? defaultFluxSecretName(r(repo)), o.namespace ?? FLUX_NAMESPACE),
  },
  cosign: { description: 'shell script: write the newest root and run cosign initialize --mirror (--root-checksum)', needsMirrorUrl: true, render: cosignScript },
  'trusted-root': {
    description: 'the trusted_root.json target, as served',
    needsMirrorUrl: false,
    render: (m, o) => {
      const t = requireTarget(m, o.trustedRootTarget ?? DEFAULT_TRUSTED_ROOT_TARGET);
      const validity = trustedRootValidity(readTrustedRoot(t), o.now ?? Date.now());
      return { ...raw('trusted-root', m, t.name, t.bytes), ...(validity ? { validity } : {}) };
    },
  },
  root: { description: 'the newest root.json, as served', needsMirrorUrl: false, render: (m) => raw('root', m, `root v${m.root.version}`, m.root.bytes) },
} satisfies Record<string, Format>;

export type FormatName = keyof typeof FORMATS;
export const FORMAT_NAMES = Object.keys(FORMATS) as FormatName[];
const formatOf = (name: FormatName): Format => FORMATS[name];

export function checkFormat(format: string | undefined): FormatName {
  if (format && Object.prototype.hasOwnProperty.call(FORMATS, format)) return format as FormatName;
  throw new TrustRootError('UNKNOWN_FORMAT', `${format ? `unknown format "${format}"` : 'a format is required'}; formats: ${FORMAT_NAMES.join(', ')}`);
}

export const needsMirrorUrl = (format: FormatName): boolean => formatOf(format).needsMirrorUrl;

/** The object an output is; undefined for one that is not a Kubernetes object. */
export const objectOf = (format: FormatName, repository: string, options: TrustOptions): ObjectRef | undefined => formatOf(format).object?.(repository, options);
export const isPatchOnly = (format: FormatName): boolean => formatOf(format).patchOnly === true;
/** Whether it reads the identity flags, and --image. */
export const identityUse = (format: FormatName): { identity: boolean; images: boolean } => formatOf(format).reads ?? { identity: false, images: false };
/** Formats that are Kubernetes objects: what refresh-cluster can keep fresh. */
export const OBJECT_FORMATS = FORMAT_NAMES.filter((f) => formatOf(f).object);

/**
 * The generation's own provenance (its id, the timestamp version) left out: two generations that
 * hand out the same content give the same material here, so the digest below moves only when the
 * content does (a new trusted_root.json, a new root, a new timestamp in a mirrorFS archive).
 */
const withoutProvenance = (m: TrustMaterial): TrustMaterial => ({ ...m, generation: { id: 0, createdAt: '' }, timestamp: { ...m.timestamp, version: 0 } });

export function renderTrustRoot(material: TrustMaterial, format: FormatName, options: TrustOptions): TrustOutput {
  const f = formatOf(format);
  // One clock for both renderings: what is valid "now" (sigstore-keys, validity) must not differ.
  const at = { ...options, now: options.now ?? Date.now() };
  const output = f.render(material, at);
  output.contentSha256 = createHash('sha256')
    .update(f.render(withoutProvenance(material), at).body)
    .digest('hex');
  // repository says when its archive stops working in its own words.
  if (output.validity && format !== 'repository') output.notes.push(describeValidity(output.validity));
  // A filter that silently did nothing would hand out more than the operator meant to.
  if (options.targets && format !== 'repository') output.warnings.push(`--targets applies to --format repository only; ${format} ignores it`);
  const identity = options.identity ?? {};
  if (hasIdentityFlags(identity) && !f.reads) output.warnings.push(`--issuer, --subject… and --image apply to the policy formats only; ${format} ignores them`);
  else if (identity.images?.length && f.reads && !f.reads.images) output.warnings.push(`--image does not apply to ${format}: it ignores it`);
  return output;
}
