import * as fs from 'node:fs';
import * as path from 'node:path';
import type { VerifierConfig } from './config-schema';
import { errorAnswer, VerifyRequestError } from './errors';
import type { ImageVerifier } from './image';
import { ConfigError } from '../config/config';
import { parsePolicy, PolicyError, type Policy } from './policy';
import { parseReference } from './reference';

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
        throw new ConfigError(`invalid configuration:\n  ${where}.policyFile: cannot read ${path.resolve(baseDir, p.policyFile)} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
      }
    }
    try {
      return { image: p.image, matcher: globToRegExp(p.image), policy: parsePolicy(raw, `${where}.policy`), mode: p.mode, ...(p.repository ? { repository: p.repository } : {}) };
    } catch (err) {
      if (err instanceof PolicyError) throw new ConfigError(`invalid configuration:\n  ${err.issues.join('\n  ')}`);
      throw err;
    }
  });
}

type PodSpec = { containers?: { image?: string }[]; initContainers?: { image?: string }[]; ephemeralContainers?: { image?: string }[] };

/** The pod spec inside a Pod or a workload's pod template. */
export function podSpecOf(kind: string, object: Record<string, any>): PodSpec | undefined {
  switch (kind) {
    case 'Pod':
      return object?.spec;
    case 'Deployment':
    case 'StatefulSet':
    case 'DaemonSet':
    case 'ReplicaSet':
    case 'Job':
    case 'ReplicationController':
      return object?.spec?.template?.spec;
    case 'CronJob':
      return object?.spec?.jobTemplate?.spec?.template?.spec;
    default:
      return undefined;
  }
}

export function imagesOf(spec: PodSpec): string[] {
  const all = [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...(spec.ephemeralContainers ?? [])].map((c) => c?.image).filter((i): i is string => typeof i === 'string');
  return [...new Set(all)];
}

export type AdmissionReviewResponse = {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: { uid: string; allowed: boolean; status?: { code: number; message: string }; warnings?: string[] };
};

/** Answer one AdmissionReview. Throws VerifyRequestError (→ 400) when it is not one. */
export async function review(body: unknown, policies: AdmissionPolicy[], unmatched: 'allow' | 'deny', verifier: ImageVerifier): Promise<AdmissionReviewResponse> {
  const b = body as { apiVersion?: unknown; kind?: unknown; request?: { uid?: unknown; kind?: { kind?: unknown }; object?: unknown } };
  if (b?.apiVersion !== 'admission.k8s.io/v1' || b?.kind !== 'AdmissionReview') throw new VerifyRequestError('apiVersion', 'must be an admission.k8s.io/v1 AdmissionReview');
  const request = b.request;
  if (!request || typeof request.uid !== 'string') throw new VerifyRequestError('request.uid', 'missing');
  const uid = request.uid;
  const kind = typeof request.kind?.kind === 'string' ? request.kind.kind : '';
  const answer = (allowed: boolean, message?: string, warnings: string[] = []): AdmissionReviewResponse => ({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: { uid, allowed, ...(message ? { status: { code: allowed ? 200 : 403, message } } : {}), ...(warnings.length ? { warnings } : {}) },
  });
  const spec = podSpecOf(kind, (request.object ?? {}) as Record<string, unknown>);
  if (!spec) return answer(true); // not a workload: nothing to check

  const denials: string[] = [];
  const warnings: string[] = [];
  await Promise.all(
    imagesOf(spec).map(async (image) => {
      let name: string;
      try {
        const ref = parseReference(image);
        name = `${ref.registry}/${ref.repository}`;
      } catch (err) {
        denials.push(`image ${image}: ${(err as Error).message}`);
        return;
      }
      const p = policies.find((x) => x.matcher.test(name));
      if (!p) {
        if (unmatched === 'deny') denials.push(`image ${image}: no verification policy covers ${name}`);
        return;
      }
      let reason: string | undefined;
      try {
        const result = await verifier.verify(image, p.policy, p.repository);
        if (!result.verified) reason = `not verified (${result.digest}): ${result.reasons.join('; ')}`;
      } catch (err) {
        const e = errorAnswer(err);
        if (!e) throw err;
        reason = `${e.body.error.code}: ${e.body.error.message}${e.body.error.registryStatus ? ` (registry status ${e.body.error.registryStatus})` : ''}`;
      }
      if (!reason) return;
      if (p.mode === 'enforce') denials.push(`image ${image}: ${reason}`);
      else warnings.push(`image ${image}: ${reason}`);
    }),
  );
  return denials.length ? answer(false, denials.join('\n'), warnings) : answer(true, undefined, warnings);
}
