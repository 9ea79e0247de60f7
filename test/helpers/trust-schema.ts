/**
 * A structural validator for the subset of OpenAPI v3 that the CRDs we validate against use
 * (policy-controller's and Kyverno's: type, properties, additionalProperties, items, required,
 * enum, oneOf of required sets, format int64, x-kubernetes-preserve-unknown-fields), strict about
 * unknown fields the way `kubectl apply --validate=strict` is. Returns every problem with its path.
 */
import * as fs from 'node:fs';
import YAML from 'yaml';

export type Schema = {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  properties?: Record<string, Schema>;
  items?: Schema;
  required?: string[];
  format?: string;
  enum?: unknown[];
  /** Exactly one alternative must hold (in these CRDs: alternative `required` sets). */
  oneOf?: Schema[];
  additionalProperties?: Schema | boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
};

/** The openAPIV3Schema of a CRD file's version, and its kind and apiVersion. */
export function crdSchema(file: string, version: string): { schema: Schema; kind: string; apiVersion: string; scope: string } {
  const crd = YAML.parse(fs.readFileSync(file, 'utf8')) as {
    spec: { group: string; scope: string; names: { kind: string }; versions: { name: string; schema: { openAPIV3Schema: Schema } }[] };
  };
  const v = crd.spec.versions.find((x) => x.name === version);
  if (!v) throw new Error(`${file} has no version ${version}`);
  return { schema: v.schema.openAPIV3Schema, kind: crd.spec.names.kind, apiVersion: `${crd.spec.group}/${version}`, scope: crd.spec.scope };
}

export function validate(value: unknown, schema: Schema, path = ''): string[] {
  const problems: string[] = [];
  const at = path || '<root>';
  if (schema.enum && !schema.enum.includes(value)) problems.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if (schema.oneOf) {
    // Structural CRDs may only say which fields must be set in each alternative.
    const set = value && typeof value === 'object' ? Object.keys(value) : [];
    const holding = schema.oneOf.filter((alternative) => (alternative.required ?? []).every((r) => set.includes(r))).length;
    if (holding !== 1) problems.push(`${at}: ${holding} of the oneOf alternatives hold, exactly one must`);
  }
  switch (schema.type) {
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${at}: expected an object`];
      const obj = value as Record<string, unknown>;
      for (const r of schema.required ?? []) if (!(r in obj)) problems.push(`${at}: missing required field ${r}`);
      if (schema['x-kubernetes-preserve-unknown-fields']) return problems;
      for (const [k, v] of Object.entries(obj)) {
        const extra = schema.additionalProperties;
        const sub = schema.properties?.[k] ?? (typeof extra === 'object' ? extra : extra === true ? {} : undefined);
        if (!sub) problems.push(`${path ? `${path}.` : ''}${k}: unknown field`);
        else problems.push(...validate(v, sub, `${path ? `${path}.` : ''}${k}`));
      }
      return problems;
    }
    case 'array':
      if (!Array.isArray(value)) return [`${at}: expected an array`];
      value.forEach((v, i) => problems.push(...validate(v, schema.items ?? {}, `${path}[${i}]`)));
      return problems;
    // An enum problem found above is kept: a scalar of the right type can still be a wrong value.
    case 'string':
      return typeof value === 'string' ? problems : [...problems, `${at}: expected a string, got ${JSON.stringify(value)}`];
    case 'integer':
      return Number.isInteger(value) ? problems : [...problems, `${at}: expected an integer`];
    case 'number':
      return typeof value === 'number' ? problems : [...problems, `${at}: expected a number`];
    case 'boolean':
      return typeof value === 'boolean' ? problems : [...problems, `${at}: expected a boolean`];
    default:
      return problems;
  }
}

/**
 * A whole custom resource: apiVersion, kind and metadata are the API server's (not in the CRD's
 * schema); everything else goes through the schema. A cluster-scoped kind has no namespace.
 */
export function validateResource(resource: unknown, crd: ReturnType<typeof crdSchema>): string[] {
  const problems: string[] = [];
  const r = resource as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  if (r.apiVersion !== crd.apiVersion) problems.push(`apiVersion: ${String(r.apiVersion)}, expected ${crd.apiVersion}`);
  if (r.kind !== crd.kind) problems.push(`kind: ${String(r.kind)}, expected ${crd.kind}`);
  if (typeof r.metadata?.name !== 'string' || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(r.metadata.name)) problems.push('metadata.name: not a valid name');
  if (crd.scope === 'Cluster' && r.metadata?.namespace !== undefined) problems.push('metadata.namespace: set on a cluster-scoped kind');
  const { apiVersion: _a, kind: _k, metadata: _m, ...rest } = resource as Record<string, unknown>;
  problems.push(...validate(rest, crd.schema));
  return problems;
}
