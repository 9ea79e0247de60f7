/** What every Kubernetes object tuf-mirror hands out shares: names, provenance, YAML, size limits. */
import YAML from 'yaml';
import { TrustRootError } from './errors';
import type { TrustMaterial } from './material';
import type { Validity } from './validity';

export const ANNOTATION = 'tuf-mirror.dev';

/** RFC 1123 subdomain: what TrustRoot and ConfigMap names (and namespaces, more strictly) must be. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function checkObjectName(name: string, what = 'name'): string {
  if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    throw new TrustRootError('INVALID_NAME', `${what} "${name}" is not a Kubernetes object name (lowercase letters, digits, '-' and '.', at most 253)`);
  }
  return name;
}

export function checkNamespace(name: string): string {
  if (name.length > 63 || !DNS_LABEL.test(name)) {
    throw new TrustRootError('INVALID_NAME', `namespace "${name}" is not a Kubernetes namespace name (lowercase letters, digits and '-', at most 63)`);
  }
  return name;
}

/**
 * Labels and annotations naming the generation an object came from, so `kubectl get -o yaml`
 * answers "which mirror state is this?" and a GitOps diff shows when it moved. Nothing here
 * depends on the clock: the same generation gives the same object.
 */
export function objectMetadata(m: TrustMaterial, format: string, name: string, extra: Record<string, string> = {}, namespace?: string) {
  return {
    name,
    ...(namespace ? { namespace } : {}),
    labels: { 'app.kubernetes.io/managed-by': 'tuf-mirror' },
    annotations: {
      [`${ANNOTATION}/repository`]: m.repository,
      [`${ANNOTATION}/generation`]: String(m.generation.id),
      [`${ANNOTATION}/root-version`]: String(m.root.version),
      [`${ANNOTATION}/timestamp-version`]: String(m.timestamp.version),
      [`${ANNOTATION}/format`]: format,
      ...extra,
    },
  };
}

/** YAML with a leading comment; long base64 values stay on one line (no folding). */
export function renderYaml(value: unknown, comment: string[]): string {
  const doc = new YAML.Document(value);
  doc.commentBefore = comment.map((l) => (l ? ` ${l}` : '')).join('\n');
  return doc.toString({ lineWidth: 0, minContentWidth: 0 });
}

export const KiB = 1024;
export const MiB = 1024 * 1024;

/**
 * Warnings for an object of `bytes` bytes as the API server sees it. Two limits bite:
 * a client-side `kubectl apply` copies the whole object into the last-applied-configuration
 * annotation, and all annotations together may hold 256 KiB; a ConfigMap's data (and etcd's
 * request, about 1.5 MiB) stop near 1 MiB.
 */
export function sizeWarnings(bytes: number, what: string): string[] {
  const warnings: string[] = [];
  if (bytes >= MiB) warnings.push(`${what} is ${bytes} bytes, over 1 MiB: the API server refuses it (ConfigMap/Secret data and etcd requests stop near 1 MiB); hand out fewer targets (--targets)`);
  else if (bytes >= 0.8 * MiB) warnings.push(`${what} is ${bytes} bytes, near the 1 MiB limit of a ConfigMap/Secret value and of etcd requests`);
  if (bytes >= 256 * KiB)
    warnings.push(`${what} is ${bytes} bytes: \`kubectl apply\` fails above 256 KiB (it copies the object into an annotation); use \`kubectl apply --server-side\` or \`kubectl create\``);
  else if (bytes >= 0.8 * 256 * KiB) warnings.push(`${what} is ${bytes} bytes, near the 256 KiB at which client-side \`kubectl apply\` fails; prefer \`kubectl apply --server-side\``);
  return warnings;
}

/** The annotation and the header comment line of an output that holds until `v.expires`. */
export const validityAnnotation = (v: Validity | undefined): Record<string, string> => (v ? { [`${ANNOTATION}/expires`]: v.expires } : {});
export const validityComment = (v: Validity | undefined): string[] => (v ? [`Valid until ${v.expires} (${v.what}): re-generate and re-apply before then.`] : []);

/**
 * The Kubernetes object an output is, found without rendering it: what `tuf-mirror
 * refresh-cluster` may touch (and nothing else), and what its RBAC names.
 */
export type ObjectRef = {
  apiVersion: string;
  kind: string;
  /** The API's plural resource name, as RBAC and URLs spell it. */
  resource: string;
  /** Absent for a cluster-scoped kind. */
  namespace?: string;
  name: string;
};

export const apiGroupOf = (apiVersion: string): string => (apiVersion.includes('/') ? apiVersion.split('/')[0] : '');

export const describeObject = (o: Pick<ObjectRef, 'kind' | 'namespace' | 'name'>): string => `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`;
