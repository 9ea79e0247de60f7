/**
 * The refresh-cluster job file: which mirror, which repository, which outputs this cluster keeps
 * fresh, each exactly as `tuf-mirror trustroot` takes it. Checked whole before anything runs: each
 * output must be a Kubernetes object, and no two may be the same object, so the objects the job
 * may touch (and its RBAC) are known from this file alone.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { ConfigError, formatPath } from '../config/config';
import { describeObject, type ObjectRef } from '../trust/k8s';
import { TrustRootError } from '../trust/errors';
import { checkFormat, objectOf, OBJECT_FORMATS, type FormatName } from '../trust/formats';
import type { TrustOptions } from '../trust/options';
import { systemCode } from '../lib/errors';

// The message is for a malformed URL only; a value that is not a string keeps zod's own.
const url = z
  .url({ error: (issue) => (issue.code === 'invalid_format' ? 'must be an absolute http(s) URL' : undefined) })
  .refine((u) => /^https?:\/\//.test(u), { error: 'must be an http:// or https:// URL' })
  .transform((u) => u.replace(/\/+$/, ''));
const list = z.array(z.string().min(1)).optional();

const outputSchema = z.strictObject({
  format: z.string(),
  name: z.string().optional(),
  namespace: z.string().optional(),
  mirrorUrl: z.string().optional(),
  trustedRootTarget: z.string().optional(),
  targets: list,
  all: z.boolean().optional(),
  issuer: z.string().optional(),
  subjects: list,
  subjectRegexps: list,
  subjectUrlPrefixes: list,
  images: list,
  trustRootName: z.string().optional(),
  failureAction: z.enum(['Audit', 'Enforce']).optional(),
});

const jobSchema = z.strictObject({
  /** Where outputs are fetched from: the mirror's Service, e.g. http://tuf-mirror.tuf-mirror.svc:8080. */
  mirror: url,
  repository: z.string().min(1),
  /** Names this cluster in the reports a mirror receives from many clusters. */
  cluster: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a lowercase name (letters, digits, - and .)')
    .max(63),
  /**
   * The mirror's replicas, when it has several that share nothing (deploy/kubernetes): every output
   * is fetched from each and applied only when they agree, and reports go to each. `dns`: a headless
   * Service whose addresses are the ready replicas (port and scheme of `mirror`); `urls`: a list.
   */
  replicas: z
    .strictObject({ dns: z.string().min(1).optional(), urls: z.array(url).min(1).optional() })
    .refine((r) => !!r.dns !== !!r.urls, { error: 'give either dns or urls' })
    .optional(),
  /** Report what the cluster holds back to the mirror (with TUF_MIRROR_REPORT_TOKEN). */
  report: z.boolean().default(true),
  /** The server-side apply field manager: the job owns exactly the fields it applies. */
  fieldManager: z
    .string()
    .regex(/^[a-z0-9][-a-z0-9.]*$/)
    .max(128)
    .default('tuf-mirror'),
  /** Where the Kubernetes API is; in a pod: the in-cluster service and the mounted service account. */
  kubernetes: z.strictObject({ server: url, tokenFile: z.string().min(1), caFile: z.string().min(1).optional() }).optional(),
  outputs: z.array(outputSchema).min(1, 'needs at least one output').max(64),
});

export type OutputSpec = z.output<typeof outputSchema>;
export type JobOutput = { spec: OutputSpec; format: FormatName; options: TrustOptions; object: ObjectRef; query: string };
export type Job = Omit<z.output<typeof jobSchema>, 'outputs'> & { outputs: JobOutput[]; origin: string };

/** The trustroot options an output spec means (the same as the CLI flags and query parameters). */
function optionsOf(o: OutputSpec): TrustOptions {
  return {
    name: o.name,
    namespace: o.namespace,
    mirrorUrl: o.mirrorUrl,
    trustedRootTarget: o.trustedRootTarget,
    targets: o.targets,
    all: o.all,
    identity: { issuer: o.issuer, subjects: o.subjects, subjectRegexps: o.subjectRegexps, subjectUrlPrefixes: o.subjectUrlPrefixes, images: o.images },
    trustRootName: o.trustRootName,
    failureAction: o.failureAction,
  };
}

/** `format=…&name=…`: how `GET /api/v1/repositories/<name>/trustroot` takes the same output. */
export function outputQuery(o: OutputSpec): string {
  const q = new URLSearchParams({ format: o.format });
  const one = (key: string, v: string | boolean | undefined) => v !== undefined && q.append(key, String(v));
  const each = (key: string, vs: string[] | undefined) => vs?.forEach((v) => q.append(key, v));
  one('name', o.name);
  one('namespace', o.namespace);
  one('mirrorUrl', o.mirrorUrl);
  one('trustedRootTarget', o.trustedRootTarget);
  one('targets', o.targets?.join(','));
  one('all', o.all);
  one('issuer', o.issuer);
  each('subject', o.subjects);
  each('subjectRegexp', o.subjectRegexps);
  each('subjectUrlPrefix', o.subjectUrlPrefixes);
  each('image', o.images);
  one('trustRootName', o.trustRootName);
  one('failureAction', o.failureAction);
  return q.toString();
}

export function parseJob(raw: unknown, origin: string): Job {
  const parsed = jobSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `  ${formatPath(i.path) || '<file>'}: ${i.message}`);
    throw new ConfigError('INVALID_CONFIG', `invalid refresh-cluster job in ${origin}:\n${issues.join('\n')}`);
  }
  const seen = new Map<string, number>();
  const outputs = parsed.data.outputs.map((spec, i): JobOutput => {
    const at = `outputs[${i}]`;
    let format: FormatName;
    let object: ObjectRef | undefined;
    const options = optionsOf(spec);
    try {
      format = checkFormat(spec.format);
      object = objectOf(format, parsed.data.repository, options);
    } catch (err) {
      if (err instanceof TrustRootError) throw new ConfigError('INVALID_CONFIG', `invalid refresh-cluster job in ${origin}:\n  ${at}: ${err.message}`);
      throw err;
    }
    if (!object)
      throw new ConfigError(
        'INVALID_CONFIG',
        `invalid refresh-cluster job in ${origin}:\n  ${at}: --format ${format} is not a Kubernetes object; the job keeps these fresh: ${OBJECT_FORMATS.join(', ')}`,
      );
    const key = describeObject(object);
    const twice = seen.get(key);
    if (twice !== undefined) throw new ConfigError('INVALID_CONFIG', `invalid refresh-cluster job in ${origin}:\n  ${at}: ${key} is outputs[${twice}] already (give one of them another name)`);
    seen.set(key, i);
    return { spec, format, options, object, query: outputQuery(spec) };
  });
  return { ...parsed.data, outputs, origin };
}

export function loadJob(file: string): Job {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = fs.readFileSync(abs, 'utf8');
  } catch (err) {
    throw new ConfigError('CONFIG_UNREADABLE', `cannot read refresh-cluster job ${abs} (${systemCode(err) ?? String(err)}): give an existing file with --job`);
  }
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (err) {
    throw new ConfigError('CONFIG_UNREADABLE', `refresh-cluster job ${abs} is not valid YAML: ${(err as Error).message}`);
  }
  return parseJob(raw, abs);
}
