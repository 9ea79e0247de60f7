/**
 * Kyverno: Helm values for its Sigstore TUF settings, and an ImageValidatingPolicy
 * (policies.kyverno.io/v1) whose cosign attestor reads the trust root either through TUF from
 * this mirror (`cosign.tuf`: mirror and root data, follows rotations) or inline (`cosign.trustedRoot`:
 * the verified trusted_root.json itself, for clusters that reach nothing).
 */
import { checkObjectName, objectMetadata, renderYaml, sizeWarnings, validityAnnotation, validityComment } from './k8s';
import { describeSource, readTrustedRoot, requireTarget, type TrustMaterial } from './material';
import { DEFAULT_TRUSTED_ROOT_TARGET, type TrustOptions, type TrustOutput } from './options';
import { trustedRootValidity, type Validity } from './validity';

const YAML_TYPE = 'application/yaml; charset=utf-8';

export function kyvernoValues(m: TrustMaterial, options: TrustOptions): TrustOutput {
  if (!options.mirrorUrl) throw new Error('kyvernoValues needs a resolved mirrorUrl');
  const values = { features: { tuf: { enabled: true, mirror: options.mirrorUrl, rootRaw: m.root.bytes.toString('base64') } } };
  const yaml = renderYaml(values, [
    `Kyverno Helm values from tuf-mirror: ${describeSource(m)}.`,
    'Apply: helm upgrade --install kyverno kyverno/kyverno -n kyverno --create-namespace -f <this file>',
    `Flag form: --enableTuf=true --tufMirror=${options.mirrorUrl} --tufRootRaw=<features.tuf.rootRaw below>`,
  ]);
  return { format: 'kyverno-values', contentType: YAML_TYPE, body: Buffer.from(yaml, 'utf8'), notes: [], warnings: [] };
}

/** The attestor's name, as the validation's CEL expression refers to it. */
export const KYVERNO_ATTESTOR = 'tufMirror';
const PLACEHOLDER_IMAGES = 'registry.example.com/*';
const PLACEHOLDER_SUBJECT = '^https://github\\.com/REPLACE-WITH-YOUR-ORG/.+$';

export const defaultKyvernoPolicyName = (m: Pick<TrustMaterial, 'repository'>): string => `tuf-mirror-${m.repository}`;

function imageValidatingPolicy(m: TrustMaterial, options: TrustOptions, form: 'tuf' | 'trusted-root'): TrustOutput {
  const format = form === 'tuf' ? 'kyverno-policy' : 'kyverno-policy-trusted-root';
  let trust: Record<string, unknown>;
  let how: string;
  let validity: Validity | undefined;
  if (form === 'tuf') {
    if (!options.mirrorUrl) throw new Error('the kyverno-policy format needs a resolved mirrorUrl');
    trust = { tuf: { mirror: options.mirrorUrl, root: { data: m.root.bytes.toString('base64') } } };
    how = `cosign.tuf: Kyverno fetches trusted_root.json from ${options.mirrorUrl} through TUF, starting from root v${m.root.version} below, and follows rotations.`;
  } else {
    const target = requireTarget(m, options.trustedRootTarget ?? DEFAULT_TRUSTED_ROOT_TARGET);
    validity = trustedRootValidity(readTrustedRoot(target), options.now ?? Date.now());
    trust = { trustedRoot: { value: target.bytes.toString('utf8') } };
    how = `cosign.trustedRoot: ${target.name} inline, as verified. Static: re-generate after the mirror holds a new one.`;
  }
  const name = checkObjectName(options.name ?? defaultKyvernoPolicyName(m));
  const policy = {
    apiVersion: 'policies.kyverno.io/v1',
    kind: 'ImageValidatingPolicy',
    metadata: objectMetadata(m, format, name, validityAnnotation(validity)),
    spec: {
      validationActions: ['Audit'],
      matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['pods'] }] },
      matchImageReferences: [{ glob: PLACEHOLDER_IMAGES }],
      attestors: [
        {
          name: KYVERNO_ATTESTOR,
          cosign: { keyless: { identities: [{ issuer: 'https://token.actions.githubusercontent.com', subjectRegExp: PLACEHOLDER_SUBJECT }] }, ...trust },
        },
      ],
      validations: [
        {
          expression: `images.containers.map(image, verifyImageSignatures(image, [attestors.${KYVERNO_ATTESTOR}])).all(e, e > 0)`,
          message: 'image signature verification failed',
        },
      ],
    },
  };
  const yaml = renderYaml(policy, [
    `Kyverno ImageValidatingPolicy from tuf-mirror: ${describeSource(m)}.`,
    how,
    `Edit matchImageReferences (${PLACEHOLDER_IMAGES}) and the keyless identities (a placeholder that matches no one), then`,
    'switch validationActions from Audit to Deny once it admits what it should. Apply: kubectl apply -f <this file>',
    ...validityComment(validity),
  ]);
  const body = Buffer.from(yaml, 'utf8');
  return {
    format,
    contentType: YAML_TYPE,
    body,
    notes: [`attestor ${KYVERNO_ATTESTOR}: ${how}`],
    warnings: [`edit spec.matchImageReferences and the keyless identities before enforcing: they are placeholders`, ...sizeWarnings(body.length, 'the ImageValidatingPolicy')],
    ...(validity ? { validity } : {}),
  };
}

export const kyvernoPolicy = (m: TrustMaterial, options: TrustOptions): TrustOutput => imageValidatingPolicy(m, options, 'tuf');
export const kyvernoPolicyTrustedRoot = (m: TrustMaterial, options: TrustOptions): TrustOutput => imageValidatingPolicy(m, options, 'trusted-root');
