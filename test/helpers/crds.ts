/**
 * The consumers' own CRDs (test/fixtures, from ../shared/schemas) and one check of a Kubernetes
 * object as the API server would take it: its CRD's structural schema, or the built-in schema
 * (kubernetes-models) with no unknown field.
 */
import * as path from 'node:path';
import { packageRoot } from '../../lib/paths';
import { crdSchema, validateResource } from './trust-schema';
import { apiType, modelDts, modelFor, unknownFields, type Obj } from './k8s-manifests';

const FIXTURES = path.join(packageRoot(), 'test', 'fixtures');

export const CRDS: Record<string, ReturnType<typeof crdSchema>> = {
  TrustRoot: crdSchema(path.join(FIXTURES, 'policy-controller', '300-trustroot.yaml'), 'v1alpha1'),
  ClusterImagePolicy: crdSchema(path.join(FIXTURES, 'policy-controller', '300-clusterimagepolicy.yaml'), 'v1beta1'),
  ClusterPolicy: crdSchema(path.join(FIXTURES, 'kyverno', 'clusterpolicies-v1.yaml'), 'v1'),
  ImageValidatingPolicy: crdSchema(path.join(FIXTURES, 'kyverno', 'imagevalidatingpolicies-v1.yaml'), 'v1'),
  PolicyServer: crdSchema(path.join(FIXTURES, 'kubewarden', 'policyservers-v1.yaml'), 'v1'),
};

const CRD_BY_KIND = new Map(Object.entries(CRDS));

/** The PolicyServer the kubewarden-defaults chart creates: what a PolicyServer patch is applied to. */
export const DEFAULT_POLICY_SERVER = {
  apiVersion: 'policies.kubewarden.io/v1',
  kind: 'PolicyServer',
  metadata: { name: 'default' },
  spec: { image: 'ghcr.io/kubewarden/policy-server:v1.26.0', replicas: 1 },
};

/** Every problem the API server would find with `doc` (none: it would take it). */
export function objectProblems(doc: Obj): string[] {
  if (doc.kind === 'PolicyServer' && !(doc.spec?.image && doc.spec?.replicas)) {
    // A patch: what the API server validates is the existing object with the patch merged in.
    return validateResource({ ...DEFAULT_POLICY_SERVER, metadata: doc.metadata, spec: { ...DEFAULT_POLICY_SERVER.spec, ...doc.spec } }, CRDS.PolicyServer);
  }
  const crd = CRD_BY_KIND.get(doc.kind);
  if (crd) return validateResource(doc, crd);
  const Model = modelFor(doc);
  if (!Model) return [`no schema for ${apiType(doc)}`];
  try {
    new Model(doc).validate();
  } catch (err) {
    return [(err as Error).message];
  }
  return unknownFields(doc, modelDts(doc) ?? '', doc.kind);
}
