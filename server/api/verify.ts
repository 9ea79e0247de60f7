import { BoundedJsonError, parseBoundedJson } from '../../lib/bounded-json';
import { review } from '../../verifier/admission';
import { verifyBlobBundle, type Requirement } from '../../verifier/blob';
import { VerifyRequestError } from '../../verifier/errors';
import { parsePolicyObject } from '../../lib/policy';
import type { VerifierService } from '../../verifier/service';
import { parseDigest, parsePublicKey } from '../../lib/signature';
import { errorAnswer, refusal } from '../http-errors';

/**
 * `POST /api/v1/verify` (an image), `/verify/bundle` (a blob's Sigstore bundle), `/admission`
 * (a validating AdmissionReview) and `/admission/mutate` (the mutating one, pinning digests), all
 * against the trusted_root.json of the generation the server is serving. No transport here: the
 * body arrives as bytes (server/verification.ts reads it, bounded, and hands it to the worker
 * thread that runs this), and the answer leaves as a status and a JSON value.
 * See README "Verify images and bundles".
 */

export type VerifyEndpoint = 'verify' | 'bundle' | 'admission' | 'mutate';

export const VERIFY_ROUTES: ReadonlyMap<string, VerifyEndpoint> = new Map([
  ['/api/v1/verify', 'verify'],
  ['/api/v1/verify/bundle', 'bundle'],
  ['/api/v1/admission', 'admission'],
  ['/api/v1/admission/mutate', 'mutate'],
]);

/**
 * Body caps, checked before a byte is parsed. A policy is a few keys or certificates; a bundle
 * carries a DSSE payload; an AdmissionReview carries the object (and on UPDATE the old one).
 */
export const BODY_LIMITS: Record<VerifyEndpoint, number> = { verify: 64 * 1024, bundle: 1024 * 1024, admission: 1024 * 1024, mutate: 1024 * 1024 };
/** JSON nesting allowed in a body: a pod spec is ~10 levels deep, a policy 5. */
export const MAX_JSON_DEPTH = 64;

export type VerifyReply = { status: number; body: unknown; log?: { level: 'info' | 'warn' | 'error'; data: Record<string, unknown>; msg: string }[] };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function requestBody(bytes: Buffer, contentType: string | undefined, limit: number): Record<string, unknown> {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json' && !/^application\/[\w.+-]+\+json$/.test(type)) throw new VerifyRequestError('body', 'must be a JSON object (Content-Type: application/json)');
  const b = parseBoundedJson(bytes, { maxBytes: limit, maxDepth: MAX_JSON_DEPTH });
  if (!isObject(b)) throw new VerifyRequestError('body', 'must be a JSON object (Content-Type: application/json)');
  return b;
}

const optionalString = (b: Record<string, unknown>, field: string): string | undefined => {
  const v = b[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !v) throw new VerifyRequestError(field, 'must be a non-empty string');
  return v;
};

async function answer(service: VerifierService, endpoint: VerifyEndpoint, b: Record<string, unknown>): Promise<VerifyReply> {
  switch (endpoint) {
    case 'verify': {
      const image = optionalString(b, 'image');
      if (!image) throw new VerifyRequestError('image', 'required, e.g. "registry.local:5000/acme/app:1.0"');
      if (b.policy === undefined) throw new VerifyRequestError('policy', 'required: a Kubewarden v1 verification config (a JSON object)');
      const policy = parsePolicyObject(b.policy);
      const result = await service.images.verify(image, policy, optionalString(b, 'repository'));
      return { status: 200, body: result, log: [{ level: 'info', data: { image, digest: result.digest, verified: result.verified }, msg: 'verify image' }] };
    }
    case 'bundle': {
      let bundle = b.bundle;
      if (bundle === undefined) throw new VerifyRequestError('bundle', 'required: a Sigstore bundle (object or JSON string)');
      if (typeof bundle === 'string') {
        try {
          bundle = parseBoundedJson(bundle, { maxBytes: BODY_LIMITS.bundle, maxDepth: MAX_JSON_DEPTH }, 'bundle');
        } catch (err) {
          if (err instanceof BoundedJsonError && err.code !== 'NOT_JSON') throw err;
          throw new VerifyRequestError('bundle', 'is a string but not JSON');
        }
      }
      const digestText = optionalString(b, 'artifactDigest');
      const digest = digestText && parseDigest(digestText);
      if (!digest) throw new VerifyRequestError('artifactDigest', 'required: "sha256:" and 64 lowercase hex digits');
      const given = ['policy', 'key', 'identity'].filter((f) => b[f] !== undefined);
      if (given.length !== 1) throw new VerifyRequestError('policy', 'give exactly one of policy, key (PEM) and identity ({subject, issuer})');
      let requirement: Requirement;
      const pem = optionalString(b, 'key');
      if (b.policy !== undefined) requirement = { kind: 'policy', policy: parsePolicyObject(b.policy) };
      else if (pem !== undefined) {
        try {
          requirement = { kind: 'key', keys: [parsePublicKey(pem)] };
        } catch (err) {
          throw new VerifyRequestError('key', (err as Error).message);
        }
      } else {
        const id = b.identity;
        if (!isObject(id) || typeof id.subject !== 'string' || typeof id.issuer !== 'string') {
          throw new VerifyRequestError('identity', 'must be {"subject": exact SAN, "issuer": exact OIDC issuer}');
        }
        requirement = { kind: 'identity', subject: { equal: id.subject }, issuer: id.issuer };
      }
      const trustRoot = service.trustRoots(optionalString(b, 'repository'));
      return { status: 200, body: verifyBlobBundle(bundle, { kind: 'digest', algorithm: 'sha256', digest }, trustRoot, requirement) };
    }
    case 'admission':
    case 'mutate': {
      const result = await review(b, service.admission, service.images, endpoint === 'mutate' ? 'mutate' : 'validate');
      const log: VerifyReply['log'] = result.response.allowed ? [] : [{ level: 'warn', data: { uid: result.response.uid, message: result.response.status?.message }, msg: 'admission denied' }];
      return { status: 200, body: result, log };
    }
  }
}

/** One request, start to finish: every failure is an answer with a status and a code. */
export async function answerVerifyRequest(service: VerifierService, endpoint: VerifyEndpoint, bytes: Buffer, contentType: string | undefined): Promise<VerifyReply> {
  try {
    return await answer(service, endpoint, requestBody(bytes, contentType, BODY_LIMITS[endpoint]));
  } catch (err) {
    const known = errorAnswer(err);
    if (known) return known;
    return {
      ...refusal('INTERNAL', 'internal error'),
      log: [{ level: 'error', data: { endpoint, err: err instanceof Error ? err.stack : String(err) }, msg: 'verification request failed' }],
    };
  }
}
