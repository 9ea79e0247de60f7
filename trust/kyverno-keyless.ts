/**
 * Kyverno for a Sigstore it does not reach through TUF ("Kyverno and a custom Sigstore"): a
 * ClusterPolicy (kyverno.io/v1) whose `verifyImages` keyless attestor carries the keys itself —
 * `roots` (the Fulcio chains), `rekor.url` and `rekor.pubkey`, `ctlog.pubkey` — from the verified
 * trusted_root.json; and the form older Kyverno reads from its environment, cosign's
 * SIGSTORE_REKOR_PUBLIC_KEY, SIGSTORE_CT_LOG_PUBLIC_KEY_FILE and SIGSTORE_ROOT_FILE (file paths),
 * the files in a ConfigMap mounted by Helm values (chart 3.x: admissionController.container.
 * extraEnvVars, admissionController.extraVolumes and extraVolumeMounts).
 *
 * Each of rekor.pubkey, ctlog.pubkey and the SIGSTORE_* key files holds one key, and cosign-style
 * verification reads Rekor v1 only: the newest log of each kind that fits goes in, the rest is named.
 */
import { checkNamespace, checkObjectName, objectMetadata, renderYaml, sizeWarnings, validityAnnotation, validityComment } from './k8s';
import { TrustRootError } from './errors';
import { describeSubject, identityWarnings, requireIdentity, requireImages, urlPrefixRegexp } from './identity';
import { certificatesPem, classicRekorOnly, embeddedEntries, keylessMaterial, logKeyPem, type KeylessMaterial } from './keyless';
import { describeSource, readTrustedRoot, requireTarget, type TrustMaterial } from './material';
import { DEFAULT_TRUSTED_ROOT_TARGET, type TrustOptions, type TrustOutput } from './options';
import { entriesValidity } from './validity';

const YAML_TYPE = 'application/yaml; charset=utf-8';
export const KYVERNO_NAMESPACE = 'kyverno';
export const KYVERNO_RULE = 'tuf-mirror-keyless';
export const defaultKyvernoClusterPolicyName = (m: Pick<TrustMaterial, 'repository'>): string => `tuf-mirror-${m.repository}`;
export const defaultKyvernoKeysConfigMapName = (m: Pick<TrustMaterial, 'repository'>): string => `tuf-mirror-${m.repository}-kyverno-keys`;
/** ConfigMap keys, named as the legacy targets cosign knows them. */
export const KEY_FILES = { rekor: 'rekor.pub', ctlog: 'ctfe.pub', fulcio: 'fulcio.crt.pem' } as const;
const KEYS_MOUNT = '/var/run/tuf-mirror';
const KEYS_VOLUME = 'tuf-mirror-sigstore-keys';

function keysOf(m: TrustMaterial, options: TrustOptions): KeylessMaterial {
  const target = requireTarget(m, options.trustedRootTarget ?? DEFAULT_TRUSTED_ROOT_TARGET);
  return keylessMaterial(readTrustedRoot(target), options.now ?? Date.now(), classicRekorOnly);
}

/** What falls back to Kyverno's (public-good) defaults when a kind of log is missing. */
function missingWarnings(k: KeylessMaterial): string[] {
  return [
    ...(k.rekor ? [] : ['no Rekor v1 log is valid now: rekor.pubkey is left out and Kyverno falls back to its built-in (public-good) Rekor key']),
    ...(k.ctlog ? [] : ['no CT log is valid now: ctlog.pubkey is left out and Kyverno falls back to its built-in (public-good) CT log key']),
  ];
}

export function kyvernoClusterPolicy(m: TrustMaterial, options: TrustOptions): TrustOutput {
  const identity = requireIdentity(options.identity ?? {}, 'kyverno-cluster-policy');
  const images = requireImages(options.identity ?? {}, 'kyverno-cluster-policy');
  const action = options.failureAction ?? 'Audit';
  if (action !== 'Audit' && action !== 'Enforce') throw new TrustRootError('INVALID_IDENTITY', `--failure-action must be Audit or Enforce, not "${action}"`);
  // Kyverno reads `subject` with wildcards: an exact subject holding one would admit more than it says.
  for (const s of identity.subjects) {
    if (s.kind === 'equal' && /[*?]/.test(s.value))
      throw new TrustRootError('INVALID_IDENTITY', `--subject "${s.value}": Kyverno reads * and ? in a subject as wildcards; use --subject-regexp to say what you mean`);
  }
  const k = keysOf(m, options);
  const validity = entriesValidity(embeddedEntries(k));
  const keyless = (subject: Record<string, string>) => ({
    issuer: identity.issuer,
    ...subject,
    roots: certificatesPem(k.fulcio),
    ...(k.rekor ? { rekor: { url: k.rekor.baseUrl, pubkey: logKeyPem(k.rekor) } } : {}),
    ...(k.ctlog ? { ctlog: { pubkey: logKeyPem(k.ctlog) } } : {}),
  });
  const entries = identity.subjects.map((s) => ({ keyless: keyless(s.kind === 'equal' ? { subject: s.value } : { subjectRegExp: s.kind === 'regexp' ? s.value : urlPrefixRegexp(s.value) }) }));
  const name = checkObjectName(options.name ?? defaultKyvernoClusterPolicyName(m));
  const policy = {
    apiVersion: 'kyverno.io/v1',
    kind: 'ClusterPolicy',
    metadata: objectMetadata(m, 'kyverno-cluster-policy', name, validityAnnotation(validity)),
    spec: {
      background: false,
      webhookTimeoutSeconds: 30,
      rules: [
        {
          name: KYVERNO_RULE,
          match: { any: [{ resources: { kinds: ['Pod'] } }] },
          verifyImages: [
            {
              imageReferences: images,
              failureAction: action,
              // Several identities: any one of them admits the image.
              attestors: [{ ...(entries.length > 1 ? { count: 1 } : {}), entries }],
            },
          ],
        },
      ],
    },
  };
  const yaml = renderYaml(policy, [
    `Kyverno ClusterPolicy from tuf-mirror: ${describeSource(m)}.`,
    `verifyImages keyless: issuer ${identity.issuer}, subject ${identity.subjects.map(describeSubject).join(' or ')}; roots, rekor and ctlog from the verified trusted_root.json, no TUF.`,
    'Static: re-generate after the mirror holds a new trusted_root.json (tuf-mirror refresh-cluster does).',
    ...validityComment(validity),
    `failureAction ${action}${action === 'Audit' ? ' (--failure-action Enforce once it admits what it should)' : ''}. Apply: kubectl apply -f <this file>`,
  ]);
  const body = Buffer.from(yaml, 'utf8');
  return {
    format: 'kyverno-cluster-policy',
    contentType: YAML_TYPE,
    body,
    notes: [`rule ${KYVERNO_RULE}: ${k.fulcio.length} certificate authorit${k.fulcio.length > 1 ? 'ies' : 'y'}, Rekor ${k.rekor?.baseUrl ?? 'none'}, CT log ${k.ctlog?.baseUrl ?? 'none'}`],
    warnings: [...identityWarnings(identity), ...k.leftOut.map((l) => `left out: ${l}`), ...missingWarnings(k), ...sizeWarnings(body.length, 'the ClusterPolicy')],
    ...(validity ? { validity } : {}),
  };
}

/** The same keys as files, for SIGSTORE_REKOR_PUBLIC_KEY, SIGSTORE_CT_LOG_PUBLIC_KEY_FILE and SIGSTORE_ROOT_FILE. */
export function kyvernoKeysConfigMap(m: TrustMaterial, options: TrustOptions): TrustOutput {
  const k = keysOf(m, options);
  const validity = entriesValidity(embeddedEntries(k));
  const name = checkObjectName(options.name ?? defaultKyvernoKeysConfigMapName(m));
  const namespace = checkNamespace(options.namespace ?? KYVERNO_NAMESPACE);
  const data: Record<string, string> = {
    ...(k.rekor ? { [KEY_FILES.rekor]: logKeyPem(k.rekor) } : {}),
    ...(k.ctlog ? { [KEY_FILES.ctlog]: logKeyPem(k.ctlog) } : {}),
    [KEY_FILES.fulcio]: certificatesPem(k.fulcio),
  };
  const doc = { apiVersion: 'v1', kind: 'ConfigMap', metadata: objectMetadata(m, 'kyverno-keys-configmap', name, validityAnnotation(validity), namespace), data };
  const yaml = renderYaml(doc, [
    `Sigstore keys for Kyverno's environment from tuf-mirror: ${describeSource(m)}.`,
    `${Object.keys(data).join(', ')}; --format kyverno-env-values mounts them and points SIGSTORE_* at them.`,
    'Static: re-generate after the mirror holds a new trusted_root.json (tuf-mirror refresh-cluster does).',
    ...validityComment(validity),
    'Apply: kubectl apply -f <this file>',
  ]);
  const body = Buffer.from(yaml, 'utf8');
  return {
    format: 'kyverno-keys-configmap',
    contentType: YAML_TYPE,
    body,
    notes: [`ConfigMap ${namespace}/${name}: ${Object.keys(data).join(', ')}`],
    warnings: [...k.leftOut.map((l) => `left out: ${l}`), ...missingWarnings(k), ...sizeWarnings(body.length, 'the ConfigMap')],
    ...(validity ? { validity } : {}),
  };
}

export function kyvernoEnvValues(m: TrustMaterial, options: TrustOptions): TrustOutput {
  const k = keysOf(m, options);
  const configMap = checkObjectName(options.name ?? defaultKyvernoKeysConfigMapName(m));
  const env = [
    ...(k.rekor ? [{ name: 'SIGSTORE_REKOR_PUBLIC_KEY', value: `${KEYS_MOUNT}/${KEY_FILES.rekor}` }] : []),
    ...(k.ctlog ? [{ name: 'SIGSTORE_CT_LOG_PUBLIC_KEY_FILE', value: `${KEYS_MOUNT}/${KEY_FILES.ctlog}` }] : []),
    { name: 'SIGSTORE_ROOT_FILE', value: `${KEYS_MOUNT}/${KEY_FILES.fulcio}` },
  ];
  const values = {
    admissionController: {
      container: { extraEnvVars: env },
      extraVolumes: [{ name: KEYS_VOLUME, configMap: { name: configMap } }],
      extraVolumeMounts: [{ name: KEYS_VOLUME, mountPath: KEYS_MOUNT, readOnly: true }],
    },
  };
  const yaml = renderYaml(values, [
    `Kyverno Helm values (chart 3.x) from tuf-mirror: ${describeSource(m)}: cosign's SIGSTORE_* key files, for Kyverno that verifies without TUF.`,
    `First: tuf-mirror trustroot ${m.repository} --format kyverno-keys-configmap | kubectl apply -f -   (ConfigMap ${configMap})`,
    'Then: helm upgrade --install kyverno kyverno/kyverno -n kyverno -f <this file>',
    `Without the chart: ${env.map((e) => `${e.name}=${e.value}`).join(' ')}, with the ConfigMap mounted at ${KEYS_MOUNT}.`,
    'Helm replaces lists: merge these entries into extraEnvVars, extraVolumes and extraVolumeMounts you already set.',
  ]);
  return {
    format: 'kyverno-env-values',
    contentType: YAML_TYPE,
    body: Buffer.from(yaml, 'utf8'),
    notes: [`${env.map((e) => e.name).join(', ')} from ConfigMap ${configMap}`],
    warnings: [...k.leftOut.map((l) => `left out: ${l}`), ...missingWarnings(k)],
  };
}
