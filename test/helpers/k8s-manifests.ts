/**
 * Kubernetes manifests in tests: the subset of kustomize deploy/kubernetes uses, and validation of
 * built-in objects against the Kubernetes OpenAPI schemas (kubernetes-models) with no field those
 * schemas lack. Shared by test/deploy/deploy.test.ts and the refresh-cluster tests.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration';
import { ValidatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { packageRoot } from '../../lib/paths';

const ROOT = packageRoot();

// `any`: rendered manifests are checked field by field below, after schema validation.
export type Obj = Record<string, any>;

/** `apiVersion/kind`, what MODELS is keyed by. */
export const apiType = (o: Obj): string => `${String(o.apiVersion)}/${String(o.kind)}`;
/** `apiVersion/kind/namespace/name`: one object in a rendered set. */
export const objectKey = (o: Obj): string => `${apiType(o)}/${String(o.metadata?.namespace ?? '')}/${String(o.metadata?.name)}`;

export const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': MutatingWebhookConfiguration,
  'admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration': ValidatingWebhookConfiguration,
  'v1/ServiceAccount': ServiceAccount,
  'batch/v1/CronJob': CronJob,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
};
/** The built-in schema for `o`; undefined for a kind MODELS has no class for. */
export const modelFor = (o: Obj): (typeof MODELS)[string] | undefined => MODELS[apiType(o)];
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);

/** The subset of kustomize the manifests use; anything else is refused, so this cannot silently diverge from kubectl. */
export function renderKustomization(dir: string): Obj[] {
  const k = YAML.parse(fs.readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as Obj;
  const unsupported = Object.keys(k).filter((key) => !['apiVersion', 'kind', 'namespace', 'resources', 'images'].includes(key));
  assert.deepEqual(unsupported, [], `${dir}: kustomization fields this renderer does not know`);
  const out: Obj[] = [];
  for (const r of k.resources as string[]) {
    const abs = path.resolve(dir, r);
    if (fs.statSync(abs).isDirectory()) out.push(...renderKustomization(abs));
    else for (const doc of YAML.parseAllDocuments(fs.readFileSync(abs, 'utf8'))) if (doc.contents) out.push(doc.toJS() as Obj);
  }
  for (const o of out) {
    if (k.namespace && !CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
    for (const img of (k.images ?? []) as Obj[]) {
      for (const c of o.spec?.template?.spec?.containers ?? []) {
        const [name, tag] = String(c.image).split(':');
        if (name === img.name) c.image = `${String(img.newName ?? name)}:${String(img.newTag ?? tag)}`;
      }
    }
  }
  return out;
}

const MODEL_FILES: Record<string, string> = {
  'v1/Namespace': 'kubernetes-models/v1/Namespace',
  'v1/ConfigMap': 'kubernetes-models/v1/ConfigMap',
  'v1/Secret': 'kubernetes-models/v1/Secret',
  'v1/Service': 'kubernetes-models/v1/Service',
  'apps/v1/Deployment': 'kubernetes-models/apps/v1/Deployment',
  'policy/v1/PodDisruptionBudget': 'kubernetes-models/policy/v1/PodDisruptionBudget',
  'networking.k8s.io/v1/NetworkPolicy': 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy',
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': 'kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration',
  'admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration': 'kubernetes-models/admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration',
  'v1/ServiceAccount': 'kubernetes-models/v1/ServiceAccount',
  'batch/v1/CronJob': 'kubernetes-models/batch/v1/CronJob',
  'rbac.authorization.k8s.io/v1/Role': 'kubernetes-models/rbac.authorization.k8s.io/v1/Role',
  'rbac.authorization.k8s.io/v1/RoleBinding': 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding',
  'rbac.authorization.k8s.io/v1/ClusterRole': 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole',
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding',
};

type Shape = Map<string, { ref?: string; array: boolean }>;
const shapes = new Map<string, Shape | null>();

/**
 * The fields of the first interface declared in a kubernetes-models .d.ts, and for each the .d.ts
 * of its object type (if any). The schema validator does not reject unknown fields; this does, so
 * a typo such as `readOnlyRootFileSystem` (silently ignored by the API server) fails the test.
 */
function shapeOf(dts: string): Shape | null {
  if (shapes.has(dts)) return shapes.get(dts)!;
  const text = fs.readFileSync(dts, 'utf8');
  const imports = new Map<string, string>();
  for (const m of text.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm)) {
    const target = m[2].startsWith('.') ? path.resolve(path.dirname(dts), m[2]) : path.join(ROOT, 'node_modules', m[2]);
    imports.set(m[1], `${target}.d.ts`);
  }
  const block = /^export interface \w+[^{]*\{\n([\s\S]*?)^\}/m.exec(text);
  let shape: Shape | null = null;
  if (block) {
    shape = new Map();
    for (const m of block[1].matchAll(/^ {4}"(\w+)"\??: (.+)$/gm)) {
      const array = /^Array<(\w+)>/.exec(m[2]);
      const ref = imports.get(array ? array[1] : m[2].replace(/;$/, ''));
      shape.set(m[1], { ref: ref && fs.existsSync(ref) ? ref : undefined, array: Boolean(array) });
    }
  }
  shapes.set(dts, shape);
  return shape;
}

export function unknownFields(value: unknown, dts: string, at: string): string[] {
  const shape = shapeOf(dts);
  if (!shape || !value || typeof value !== 'object' || Array.isArray(value)) return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(value as Obj)) {
    const field = shape.get(k);
    if (!field) {
      out.push(`${at}.${k}`);
      continue;
    }
    if (!field.ref) continue;
    if (field.array && Array.isArray(v)) v.forEach((item, i) => out.push(...unknownFields(item, field.ref!, `${at}.${k}[${i}]`)));
    else out.push(...unknownFields(v, field.ref, `${at}.${k}`));
  }
  return out;
}

export const modelDts = (o: Obj): string | undefined => {
  const m = MODEL_FILES[apiType(o)];
  return m && path.join(ROOT, 'node_modules', `${m}.d.ts`);
};
