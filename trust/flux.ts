/**
 * Flux: a Secret holding `trusted_root.json` for an OCIRepository's
 * `spec.verify.trustedRootSecretRef` (source-controller, Flux 2.9 and later), which makes its
 * cosign keyless verification use this trust material instead of Sigstore's TUF repository.
 * The Secret's data is the verified target byte for byte (base64), under the key Flux reads.
 */
import { createHash } from 'node:crypto';
import { ANNOTATION, checkNamespace, checkObjectName, objectMetadata, renderYaml, sizeWarnings, validityAnnotation, validityComment } from './k8s';
import { describeSource, readTrustedRoot, requireTarget, type TrustMaterial } from './material';
import { DEFAULT_TRUSTED_ROOT_TARGET, type TrustOptions, type TrustOutput } from './options';
import { trustedRootValidity } from './validity';

/** The key source-controller reads from the Secret. */
export const FLUX_SECRET_KEY = 'trusted_root.json';
export const FLUX_NAMESPACE = 'flux-system';
export const defaultFluxSecretName = (m: Pick<TrustMaterial, 'repository'>): string => `tuf-mirror-${m.repository}-trusted-root`;

export function fluxSecret(m: TrustMaterial, options: TrustOptions): TrustOutput {
  const target = requireTarget(m, options.trustedRootTarget ?? DEFAULT_TRUSTED_ROOT_TARGET);
  const validity = trustedRootValidity(readTrustedRoot(target), options.now ?? Date.now());
  const name = checkObjectName(options.name ?? defaultFluxSecretName(m));
  const namespace = checkNamespace(options.namespace ?? FLUX_NAMESPACE);
  const sha256 = createHash('sha256').update(target.bytes).digest('hex');
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: objectMetadata(m, 'flux-secret', name, { [`${ANNOTATION}/trusted-root-sha256`]: sha256, ...validityAnnotation(validity) }, namespace),
    type: 'Opaque',
    data: { [FLUX_SECRET_KEY]: target.bytes.toString('base64') },
  };
  const yaml = renderYaml(secret, [
    `Flux: ${target.name} of tuf-mirror ${describeSource(m)}, for OCIRepository spec.verify.trustedRootSecretRef.`,
    'Static: re-generate after the mirror holds a new trusted root (the annotations name the generation).',
    ...validityComment(validity),
    `Apply: kubectl apply -f <this file>, then in an OCIRepository of namespace ${namespace}:`,
    '  verify:',
    '    provider: cosign',
    '    trustedRootSecretRef:',
    `      name: ${name}`,
    '    matchOIDCIdentity:',
    '      - issuer: ^https://token\\.actions\\.githubusercontent\\.com$',
    '        subject: ^https://github\\.com/REPLACE-WITH-YOUR-ORG/.+$',
  ]);
  const body = Buffer.from(yaml, 'utf8');
  return {
    format: 'flux-secret',
    contentType: 'application/yaml; charset=utf-8',
    body,
    notes: [`Secret ${namespace}/${name}: ${target.name}, ${target.bytes.length} bytes, sha256 ${sha256}`],
    warnings: sizeWarnings(body.length, 'the Secret'),
    ...(validity ? { validity } : {}),
  };
}
