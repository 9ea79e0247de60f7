/**
 * Kyverno: Helm values for its Sigstore TUF settings. The chart turns `features.tuf` into the
 * admission controller's flags --enableTuf, --tufMirror and --tufRootRaw (base64 of root.json).
 */
import { renderYaml } from './k8s';
import { describeSource, type TrustMaterial } from './material';
import type { TrustOptions, TrustOutput } from './options';

export function kyvernoValues(m: TrustMaterial, options: TrustOptions): TrustOutput {
  if (!options.mirrorUrl) throw new Error('kyvernoValues needs a resolved mirrorUrl');
  const values = { features: { tuf: { enabled: true, mirror: options.mirrorUrl, rootRaw: m.root.bytes.toString('base64') } } };
  const yaml = renderYaml(values, [
    `Kyverno Helm values from tuf-mirror: ${describeSource(m)}.`,
    'Apply: helm upgrade --install kyverno kyverno/kyverno -n kyverno --create-namespace -f <this file>',
    `Flag form: --enableTuf=true --tufMirror=${options.mirrorUrl} --tufRootRaw=<features.tuf.rootRaw below>`,
  ]);
  return { format: 'kyverno-values', contentType: 'application/yaml; charset=utf-8', body: Buffer.from(yaml, 'utf8'), notes: [], warnings: [] };
}
