/**
 * Every trust-root output by name: what the CLI's --format and the API's ?format= accept. Each is
 * a pure function of one generation's TrustMaterial and the caller's options.
 */
import { cosignScript } from './cosign';
import { TrustRootError } from './errors';
import { clientTrustConfig, kubewardenConfigMap } from './kubewarden';
import { fluxSecret } from './flux';
import { kyvernoPolicy, kyvernoPolicyTrustedRoot, kyvernoValues } from './kyverno';
import { describeSource, requireTarget, type TrustMaterial } from './material';
import { DEFAULT_TRUSTED_ROOT_TARGET, type TrustOptions, type TrustOutput } from './options';
import { remoteTrustRoot, repositoryTrustRoot, sigstoreKeysTrustRoot } from './policy-controller';

type Format = {
  description: string;
  /** Whether it embeds the URL clients reach the mirror at. */
  needsMirrorUrl: boolean;
  render: (m: TrustMaterial, options: TrustOptions) => TrustOutput;
};

/** A verified file handed over exactly as the mirror serves it. */
function raw(format: string, m: TrustMaterial, name: string, bytes: Buffer): TrustOutput {
  return { format, contentType: 'application/json', body: bytes, notes: [`${name} of ${describeSource(m)}, ${bytes.length} bytes`], warnings: [] };
}

export const FORMATS = {
  remote: { description: 'policy-controller TrustRoot, spec.remote: the newest root and the mirror URL', needsMirrorUrl: true, render: remoteTrustRoot },
  repository: { description: 'policy-controller TrustRoot, spec.repository: the newest root and the repository as mirrorFS (air gap)', needsMirrorUrl: false, render: repositoryTrustRoot },
  'sigstore-keys': { description: 'policy-controller TrustRoot, spec.sigstoreKeys from trusted_root.json (entries valid now; --all for every one)', needsMirrorUrl: false, render: sigstoreKeysTrustRoot },
  'client-trust-config': { description: 'Sigstore ClientTrustConfig JSON (trusted root + signing config), as Kubewarden reads it', needsMirrorUrl: false, render: clientTrustConfig },
  'kubewarden-configmap': { description: 'the ClientTrustConfig in a ConfigMap for a Kubewarden PolicyServer (spec.sigstoreTrustConfig)', needsMirrorUrl: false, render: kubewardenConfigMap },
  'kyverno-values': { description: 'Kyverno Helm values features.tuf (mirror and rootRaw)', needsMirrorUrl: true, render: kyvernoValues },
  'kyverno-policy': { description: 'Kyverno ImageValidatingPolicy, attestor cosign.tuf (mirror and root data)', needsMirrorUrl: true, render: kyvernoPolicy },
  'kyverno-policy-trusted-root': { description: 'Kyverno ImageValidatingPolicy, attestor cosign.trustedRoot (trusted_root.json inline)', needsMirrorUrl: false, render: kyvernoPolicyTrustedRoot },
  'flux-secret': { description: 'Flux Secret with trusted_root.json for OCIRepository verify.trustedRootSecretRef', needsMirrorUrl: false, render: fluxSecret },
  cosign: { description: 'shell script: write the newest root and run cosign initialize --mirror (--root-checksum)', needsMirrorUrl: true, render: cosignScript },
  'trusted-root': {
    description: 'the trusted_root.json target, as served',
    needsMirrorUrl: false,
    render: (m, o) => {
      const t = requireTarget(m, o.trustedRootTarget ?? DEFAULT_TRUSTED_ROOT_TARGET);
      return raw('trusted-root', m, t.name, t.bytes);
    },
  },
  root: { description: 'the newest root.json, as served', needsMirrorUrl: false, render: (m) => raw('root', m, `root v${m.root.version}`, m.root.bytes) },
} satisfies Record<string, Format>;

export type FormatName = keyof typeof FORMATS;
export const FORMAT_NAMES = Object.keys(FORMATS) as FormatName[];

export function checkFormat(format: string | undefined): FormatName {
  if (format && Object.prototype.hasOwnProperty.call(FORMATS, format)) return format as FormatName;
  throw new TrustRootError('UNKNOWN_FORMAT', `${format ? `unknown format "${format}"` : 'a format is required'}; formats: ${FORMAT_NAMES.join(', ')}`);
}

export const needsMirrorUrl = (format: FormatName): boolean => FORMATS[format].needsMirrorUrl;

export function renderTrustRoot(material: TrustMaterial, format: FormatName, options: TrustOptions): TrustOutput {
  const output = FORMATS[format].render(material, options);
  // A filter that silently did nothing would hand out more than the operator meant to.
  if (options.targets && format !== 'repository') output.warnings.push(`--targets applies to --format repository only; ${format} ignores it`);
  return output;
}
