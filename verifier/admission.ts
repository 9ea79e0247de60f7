import * as fs from 'node:fs';
import * as path from 'node:path';
import type { VerifierConfig } from '../config/verifier';
import { TufMirrorError } from '../lib/errors';
import { VerifyRequestError } from './errors';
import type { ImageVerifier } from './image';
import { ConfigError } from '../config/config';
import { parsePolicy, PolicyError, type Policy } from '../lib/policy';
import { parseReference, pinnedReference } from './reference';

/**
 * A Kubernetes validating admission webhook (admission.k8s.io/v1 AdmissionReview): every image
 * of a Pod or of a pod template is verified against the first configured policy whose image glob
 * matches. `enforce` denies with the image and the reason; `warn` allows with warnings.
 */

export type AdmissionPolicy = { image: string; matcher: RegExp; policy: Policy; mode: 'enforce' | 'warn'; repository?: string };

/** `*` within one path segment, `**` across segments; anchored at both ends. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** The configured admission policies, parsed once (policyFile relative to `baseDir`). */
export function loadAdmissionPolicies(config: VerifierConfig, baseDir: string): AdmissionPolicy[] {
  return config.admission.policies.map((p, i) => {
    const where = `verifier.admission.policies[${i}]`;
    let raw: unknown = p.policy;
    if (p.policyFile) {
      try {
        raw = fs.readFileSync(path.resolve(baseDir, p.policyFile), 'utf8');
      } catch (err) {
        throw new ConfigError(
          'INVALID_CONFIG',
          `invalid configuration:\n  ${where}.policyFile: cannot read ${path.resolve(baseDir, p.policyFile)} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
        );
      }
    }
    try {
      return { image: p.image, matcher: globToRegExp(p.image), policy: parsePolicy(raw, `${where}.policy`), mode: p.mode, ...(p.repository ? { repository: p.repository } : {}) };
    } catch (err) {
      if (err instanceof PolicyError) throw new ConfigError('INVALID_CONFIG', `invalid configuration:\n  ${err.issues.join('\n  ')}`);
      throw err;
    }
  });
}

type PodSpec = { containers?: { image?: string }[]; initContainers?: { image?: string }[]; ephemeralContainers?: { image?: string }[] };

/**
 * Where the pod spec lives in each kind that has one. A Map, not an object literal: the kind is
 * the request's, and `constructor` or `__proto__` must not find an Object.prototype member.
 */
const SPEC_PATH = new Map<string, readonly string[]>([
  ['Pod', ['spec']],
  ['Deployment', ['spec', 'template', 'spec']],
  ['StatefulSet', ['spec', 'template', 'spec']],
  ['DaemonSet', ['spec', 'template', 'spec']],
  ['ReplicaSet', ['spec', 'template', 'spec']],
  ['Job', ['spec', 'template', 'spec']],
  ['ReplicationController', ['spec', 'template', 'spec']],
  ['CronJob', ['spec', 'jobTemplate', 'spec', 'template', 'spec']],
]);
const CONTAINER_LISTS = ['initContainers', 'containers', 'ephemeralContainers'] as const;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The pod spec inside a Pod or a workload's pod template. */
export function podSpecOf(kind: string, object: unknown): PodSpec | undefined {
  const at = SPEC_PATH.get(kind);
  if (!at) return undefined;
  let node: unknown = object;
  for (const key of at) node = isObject(node) ? node[key] : undefined;
  return isObject(node) ? node : undefined;
}

/** One container's image and the JSON pointer of its `image` field in the reviewed object. */
export type ContainerImage = { image: string; pointer: string };

/**
 * Every container image of a Pod or pod template, with where it is; undefined for kinds without
 * one. A spec that is not shaped like one is the request's fault: VerifyRequestError (400).
 */
export function containerImages(kind: string, object: unknown): ContainerImage[] | undefined {
  const at = SPEC_PATH.get(kind);
  if (!at) return undefined;
  const spec = podSpecOf(kind, object);
  if (!spec) return [];
  const out: ContainerImage[] = [];
  for (const list of CONTAINER_LISTS) {
    const items: unknown = spec[list];
    if (items === undefined || items === null) continue;
    const field = `request.object.${at.join('.')}.${list}`;
    if (!Array.isArray(items)) throw new VerifyRequestError(field, 'must be a list');
    items.forEach((c: unknown, i) => {
      if (!isObject(c)) throw new VerifyRequestError(`${field}[${i}]`, 'must be an object');
      if (c.image === undefined) return;
      if (typeof c.image !== 'string') throw new VerifyRequestError(`${field}[${i}].image`, 'must be a string');
      out.push({ image: c.image, pointer: `/${[...at, list, String(i), 'image'].join('/')}` });
    });
  }
  return out;
}

export function imagesOf(spec: PodSpec): string[] {
  return [...new Set((containerImages('Pod', { spec }) ?? []).map((c) => c.image))];
}

export type AdmissionReviewResponse = {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: { uid: string; allowed: boolean; status?: { code: number; message: string }; warnings?: string[]; patchType?: 'JSONPatch'; patch?: string };
};

export type AdmissionOptions = {
  policies: AdmissionPolicy[];
  unmatched: 'allow' | 'deny';
  /** Distinct images one review may name. */
  maxImages: number;
};

/** Images of one review verified at a time: a review cannot turn into a burst at the registry. */
const REVIEW_CONCURRENCY = 4;

/**
 * Answer one AdmissionReview. `validate` denies, in enforce mode, what does not verify and any
 * image not pinned to a digest; `mutate` verifies the same way and pins each verified `image:tag`
 * to the digest that verified (a JSONPatch), so the kubelet pulls what was verified even if the
 * tag moves. Images an UPDATE leaves as they were are verified, never re-pinned or refused for
 * their tag (re-pinning would restart a running container). Throws VerifyRequestError (→ 400)
 * when the body is not an AdmissionReview.
 */
export async function review(body: unknown, options: AdmissionOptions, verifier: ImageVerifier, mode: 'validate' | 'mutate' = 'validate'): Promise<AdmissionReviewResponse> {
  if (!isObject(body) || body.apiVersion !== 'admission.k8s.io/v1' || body.kind !== 'AdmissionReview') throw new VerifyRequestError('apiVersion', 'must be an admission.k8s.io/v1 AdmissionReview');
  const request = body.request;
  if (!isObject(request) || typeof request.uid !== 'string') throw new VerifyRequestError('request.uid', 'missing');
  const uid = request.uid;
  const kind = isObject(request.kind) && typeof request.kind.kind === 'string' ? request.kind.kind : '';
  const answer = (allowed: boolean, message?: string, warnings: string[] = [], patch: object[] = []): AdmissionReviewResponse => reviewResponse(uid, allowed, message, warnings, patch);
  const containers = containerImages(kind, request.object);
  if (!containers) return answer(true); // not a workload: nothing to check
  const images = [...new Set(containers.map((c) => c.image))];
  if (images.length > options.maxImages) {
    return answer(false, `${kind} names ${images.length} images, more than the ${options.maxImages} one review may have (verifier.admission.maxImages)`);
  }
  const unchanged = request.operation === 'UPDATE' ? unchangedImages(kind, request.oldObject) : new Set<string>();

  const outcomes: ImageOutcome[] = [];
  const queue = [...images];
  await Promise.all(
    Array.from({ length: Math.min(REVIEW_CONCURRENCY, queue.length) }, async () => {
      for (let image = queue.shift(); image !== undefined; image = queue.shift()) outcomes.push(await checkImage(image, !unchanged.has(image), options, verifier, mode));
    }),
  );
  const denials = outcomes.flatMap((o) => (o.denial ? [o.denial] : []));
  const warnings = outcomes.flatMap((o) => (o.warning ? [o.warning] : []));
  if (denials.length) return answer(false, denials.sort().join('\n'), warnings);
  const pins = new Map(outcomes.flatMap((o) => (o.pin ? [[o.image, o.pin] as const] : [])));
  const patch =
    mode === 'mutate'
      ? containers.flatMap((c) => {
          const digest = pins.get(c.image);
          return digest ? [{ op: 'replace', path: c.pointer, value: pinnedReference(c.image, digest) }] : [];
        })
      : [];
  return answer(true, undefined, warnings.sort(), patch);
}

function reviewResponse(uid: string, allowed: boolean, message: string | undefined, warnings: string[], patch: object[]): AdmissionReviewResponse {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: {
      uid,
      allowed,
      ...(message ? { status: { code: allowed ? 200 : 403, message } } : {}),
      ...(warnings.length ? { warnings } : {}),
      ...(allowed && patch.length ? { patchType: 'JSONPatch' as const, patch: Buffer.from(JSON.stringify(patch)).toString('base64') } : {}),
    },
  };
}

/** The images an UPDATE leaves as they were (a malformed oldObject pins nothing down: every image counts as new). */
function unchangedImages(kind: string, oldObject: unknown): Set<string> {
  try {
    return new Set((containerImages(kind, oldObject) ?? []).map((c) => c.image));
  } catch {
    return new Set();
  }
}

/** What one image of a review comes to: a denial, a warning (a warn-mode policy), or the digest to pin it to. */
type ImageOutcome = { image: string; denial?: string; warning?: string; pin?: string };

async function checkImage(image: string, isNew: boolean, options: AdmissionOptions, verifier: ImageVerifier, mode: 'validate' | 'mutate'): Promise<ImageOutcome> {
  let ref;
  try {
    ref = parseReference(image);
  } catch (err) {
    return { image, denial: `image ${image}: ${(err as Error).message}` };
  }
  const name = `${ref.registry}/${ref.repository}`;
  const p = options.policies.find((x) => x.matcher.test(name));
  if (!p) return options.unmatched === 'deny' ? { image, denial: `image ${image}: no verification policy covers ${name}` } : { image };
  if (mode === 'validate' && p.mode === 'enforce' && !ref.digest && isNew) {
    return { image, denial: `image ${image}: not pinned to a digest: the mutating webhook (POST /api/v1/admission/mutate) pins each verified image, or give image@sha256:…` };
  }
  let reason: string | undefined;
  try {
    const result = await verifier.verify(image, p.policy, p.repository);
    if (!result.verified) reason = `not verified (${result.digest}): ${result.reasons.join('; ')}`;
    else if (!ref.digest && isNew) return { image, pin: result.digest };
  } catch (err) {
    // A failure the verifier can name denies this image with its reason; anything else is a bug.
    if (!(err instanceof TufMirrorError)) throw err;
    const e = err.toJSON();
    reason = `${e.code}: ${e.message}${e.registryStatus ? ` (registry status ${e.registryStatus})` : ''}`;
  }
  if (!reason) return { image };
  return p.mode === 'enforce' ? { image, denial: `image ${image}: ${reason}` } : { image, warning: `image ${image}: ${reason}` };
}
